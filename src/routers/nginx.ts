import type { V1Ingress } from "@kubernetes/client-node";
import { type Canary, type HttpMatch, routerServiceFields } from "../api/canary.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import { canaryKey, canaryNamespace, canaryOwnerReference, controllingCanary } from "../workloads/meta.ts";
import { serviceNames } from "../workloads/services.ts";
import type { RouterCapabilities } from "./capabilities.ts";
import { RouterConfigError } from "./errors.ts";
import { ALL_PRIMARY, type Router, type RouterTarget, type Routes } from "./router.ts";

export type Ingress = V1Ingress & KubeObject;

export const DEFAULT_NGINX_ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io";

export interface NginxRouterOptions {
  /** Prefix of the ingress-nginx annotations (its --annotations-prefix); default nginx.ingress.kubernetes.io. */
  annotationPrefix?: string;
}

/**
 * Weights, and A/B by one header (exact or regex) and/or one cookie; the finer limits (one header, a
 * cookie by name) are checked by check() below.
 */
export const NGINX_CAPABILITIES: RouterCapabilities = {
  weights: true,
  match: {
    headers: true,
    cookies: true,
    queryParams: false,
    uri: false,
    method: false,
    sourceLabels: false,
    operators: ["exact", "regex"],
  },
  mirroring: false,
  sessionAffinity: false,
  serviceFields: routerServiceFields("nginx"),
};

function ingressRefName(canary: Canary): string {
  const name = canary.spec.ingressRef?.name;
  if (!name) {
    throw new RouterConfigError(
      `Canary ${canaryKey(canary)}: provider nginx needs spec.ingressRef: set it to the Ingress that routes to the apex Service`,
    );
  }
  return name;
}

export function canaryIngressName(canary: Canary): string {
  return `${ingressRefName(canary)}-canary`;
}

function ingressRef(canary: Canary, name: string): ObjectRef {
  return { apiVersion: "networking.k8s.io/v1", kind: "Ingress", namespace: canaryNamespace(canary), name };
}

function abError(canary: Canary, field: string, problem: string): RouterConfigError {
  return new RouterConfigError(
    `Canary ${canaryKey(canary)}: ${field} ${problem}; ingress-nginx routes A/B traffic by one header ` +
      `(exact or regex value) and/or one cookie ({cookie: {exact: NAME}}): change the match or use provider gatewayapi`,
  );
}

interface AbRule {
  header?: { name: string; exact?: string; regex?: string };
  cookie?: string;
}

type StringMatch = NonNullable<HttpMatch["headers"]>[string];

/** Adds one header match of analysis.match to rule; the header "cookie" names a cookie (as in Flagger). */
function addHeaderMatch(canary: Canary, rule: AbRule, field: string, name: string, match: StringMatch): void {
  if (match.prefix !== undefined || match.suffix !== undefined) {
    throw abError(
      canary,
      field,
      "uses prefix/suffix, which ingress-nginx cannot match (write it as a regex, e.g. ^value.*)",
    );
  }
  if (name.toLowerCase() === "cookie") {
    if (match.exact === undefined) throw abError(canary, field, "needs exact: the name of the cookie");
    if (rule.cookie !== undefined && rule.cookie !== match.exact) {
      throw abError(canary, field, "adds a second cookie");
    }
    rule.cookie = match.exact;
    return;
  }
  const header = {
    name,
    ...(match.exact !== undefined && { exact: match.exact }),
    ...(match.regex !== undefined && { regex: match.regex }),
  };
  if (rule.header && JSON.stringify(rule.header) !== JSON.stringify(header)) {
    throw abError(canary, field, "adds a second header match (combine the values into one regex, e.g. a|b)");
  }
  rule.header = header;
}

/** The single header and cookie of spec.analysis.match, validated for what ingress-nginx can do. */
function abRule(canary: Canary): AbRule {
  const matches = canary.spec.analysis.match ?? [];
  if (matches.length === 0) {
    throw new RouterConfigError(
      `Canary ${canaryKey(canary)}: A/B routing was requested but spec.analysis.match is empty; add a header or cookie match`,
    );
  }
  const rule: AbRule = {};
  matches.forEach((m, i) => {
    for (const unsupported of ["uri", "method", "queryParams", "sourceLabels"] as const) {
      if (m[unsupported] !== undefined) {
        throw abError(canary, `spec.analysis.match[${i}].${unsupported}`, "is set");
      }
    }
    for (const [name, match] of Object.entries(m.headers ?? {})) {
      addHeaderMatch(canary, rule, `spec.analysis.match[${i}].headers.${name}`, name, match);
    }
  });
  if (!rule.header && !rule.cookie) throw abError(canary, "spec.analysis.match", "has no header or cookie");
  return rule;
}

/**
 * The ingress-nginx canary annotations for a traffic split (Flagger's mapping). A/B (matched): the weight
 * plus canary-by-header[-value|-pattern] and/or canary-by-cookie, so only matching requests reach the
 * canary (for the cookie: requests whose cookie NAME is "always"); otherwise canary-weight. Mirroring
 * and session affinity are not done by this router.
 */
export function routingAnnotations(canary: Canary, routes: Routes, prefix: string): Record<string, string> {
  const a = (suffix: string) => `${prefix}/${suffix}`;
  const w = routes.canaryWeight;
  if (!Number.isInteger(w) || w < 0 || w > 100) {
    throw new RangeError(
      `Canary ${canaryKey(canary)}: canary weight ${w} is not a whole number from 0 to 100`,
    );
  }
  const out: Record<string, string> = {
    [a("canary")]: "true",
    // With a match, the weight applies to the requests that do not match (0 in an A/B test).
    [a("canary-weight")]: String(w),
  };
  if (!routes.matched) return out;
  const rule = abRule(canary);
  if (rule.header) {
    out[a("canary-by-header")] = rule.header.name;
    if (rule.header.exact !== undefined) out[a("canary-by-header-value")] = rule.header.exact;
    if (rule.header.regex !== undefined) out[a("canary-by-header-pattern")] = rule.header.regex;
  }
  if (rule.cookie !== undefined) out[a("canary-by-cookie")] = rule.cookie;
  return out;
}

/** The original's annotations minus routing state and kubectl's copy of the manifest. */
function inheritedAnnotations(original: Ingress, prefix: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(original.metadata.annotations ?? {}).filter(
      ([k]) => !k.startsWith(`${prefix}/canary`) && k !== "kubectl.kubernetes.io/last-applied-configuration",
    ),
  );
}

/**
 * `<ingress>-canary`: the Ingress of spec.ingressRef with every backend of the apex Service re-pointed
 * at `<apex>-canary`, owned by the Canary, carrying the annotations of routes.
 */
export function buildCanaryIngress(
  canary: Canary,
  original: Ingress,
  routes: Routes,
  prefix: string,
): Ingress {
  const { apex, canary: canaryService } = serviceNames(canary);
  const spec = structuredClone(original.spec ?? {});
  let found = false;
  for (const path of (spec.rules ?? []).flatMap((r) => r.http?.paths ?? [])) {
    if (path.backend.service?.name === apex) {
      path.backend.service.name = canaryService;
      found = true;
    }
  }
  if (!found) {
    throw new RouterConfigError(
      `Canary ${canaryKey(canary)}: Ingress ${objectKey(original)} (spec.ingressRef) has no rule whose backend is the apex ` +
        `Service ${apex}; point its backend at ${apex}, or set spec.service.name to the Service it uses`,
    );
  }
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name: canaryIngressName(canary),
      namespace: canaryNamespace(canary),
      labels: { ...original.metadata.labels },
      annotations: {
        ...inheritedAnnotations(original, prefix),
        ...routingAnnotations(canary, routes, prefix),
      },
      ownerReferences: [canaryOwnerReference(canary)],
    },
    spec,
  };
}

/** Reads a split back from the canary Ingress' annotations; header/cookie routing counts as A/B. */
export function parseRoutes(ingress: Ingress, prefix: string): Routes {
  const annotations = ingress.metadata.annotations ?? {};
  const matched = `${prefix}/canary-by-header` in annotations || `${prefix}/canary-by-cookie` in annotations;
  const raw = annotations[`${prefix}/canary-weight`] ?? "0";
  if (!/^\d+$/.test(raw) || Number(raw) > 100) {
    throw new RouterConfigError(
      `Ingress ${objectKey(ingress)}: annotation ${prefix}/canary-weight is ${JSON.stringify(raw)}, not a number from 0 to 100; ` +
        `kanaria manages this Ingress: remove the annotation and it will be rewritten`,
    );
  }
  const enabled = annotations[`${prefix}/canary`] === "true";
  const canaryWeight = enabled ? Number(raw) : 0;
  // A/B: matching requests go to the canary and the weight (0) applies to the rest, as written.
  return { primaryWeight: 100 - canaryWeight, canaryWeight, matched: enabled && matched, mirrored: false };
}

/**
 * The `nginx` provider: clones spec.ingressRef as `<ingress>-canary` and shifts traffic with
 * ingress-nginx's canary annotations. Session affinity and mirroring are out of scope.
 */
export class NginxRouter implements Router {
  readonly capabilities = NGINX_CAPABILITIES;
  readonly #client: KubeClient;
  readonly #prefix: string;

  constructor(client: KubeClient, options: NginxRouterOptions = {}) {
    this.#client = client;
    this.#prefix = options.annotationPrefix ?? DEFAULT_NGINX_ANNOTATION_PREFIX;
  }

  check(target: RouterTarget): void {
    ingressRefName(target.canary);
    if (target.resolved.strategy === "ab-testing") abRule(target.canary);
  }

  /** Syncs the clone with the original Ingress, keeping the split it currently carries. */
  async reconcile(target: RouterTarget): Promise<void> {
    const current = await this.getRoutes(target);
    await this.#apply(target.canary, current ?? ALL_PRIMARY);
  }

  async setRoutes(target: RouterTarget, routes: Routes): Promise<void> {
    await this.#canaryIngress(target.canary);
    await this.#apply(target.canary, routes);
  }

  async getRoutes(target: RouterTarget): Promise<Routes | undefined> {
    const ingress = await this.#canaryIngress(target.canary);
    return ingress ? parseRoutes(ingress, this.#prefix) : undefined;
  }

  splitField(target: RouterTarget): { ref: ObjectRef; path: string[] } {
    const ref = ingressRef(target.canary, canaryIngressName(target.canary));
    return { ref, path: ["metadata", "annotations", `${this.#prefix}/canary-weight`] };
  }

  /** The clone is the only thing this router creates; the original Ingress is never changed. */
  async finalize(target: RouterTarget): Promise<void> {
    await this.#client.delete(ingressRef(target.canary, canaryIngressName(target.canary)));
  }

  /** The clone, after checking it is ours: applying over someone else's Ingress would take it over. */
  async #canaryIngress(canary: Canary): Promise<Ingress | undefined> {
    const ingress = await this.#client.get<Ingress>(ingressRef(canary, canaryIngressName(canary)));
    if (ingress && controllingCanary(ingress) !== canary.metadata.name) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: Ingress ${objectKey(ingress)} exists and is not controlled by this Canary; ` +
          `delete or rename it (kanaria creates ${canaryIngressName(canary)} from spec.ingressRef)`,
      );
    }
    return ingress;
  }

  /** Rebuilds the clone from the original every time, so edits to the original carry over. */
  async #apply(canary: Canary, routes: Routes): Promise<void> {
    const name = ingressRefName(canary);
    const original = await this.#client.get<Ingress>(ingressRef(canary, name));
    if (!original) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: Ingress ${canaryNamespace(canary)}/${name} (spec.ingressRef) does not exist; ` +
          `create it with a backend pointing at the apex Service, or fix spec.ingressRef.name`,
      );
    }
    await this.#client.apply(buildCanaryIngress(canary, original, routes, this.#prefix));
  }
}
