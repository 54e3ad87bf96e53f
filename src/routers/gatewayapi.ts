/**
 * The `gatewayapi` provider: traffic splits on a gateway.networking.k8s.io/v1 HTTPRoute, with
 * Flagger's `gatewayapi:v1` field names. Two modes:
 *
 * - generated route (spec.service.gatewayRefs): kanaria owns an HTTPRoute named after the apex
 *   Service, built from service.hosts, match, timeout, headers and service.apex metadata.
 * - spec.routeRef: an HTTPRoute the user owns (e.g. from Git). kanaria rewrites only the rules whose
 *   backendRefs name the apex Service; everything else is copied back exactly as read.
 *
 * Why routeRef mode writes the whole rules list: `spec.rules` is an atomic list in the HTTPRoute
 * CRD (x-kubernetes-list-type: atomic), so server-side apply cannot own "some rules" or "the weights
 * of some backendRefs": an apply of spec.rules owns the entire list. kanaria therefore reads the
 * route, copies every rule it does not manage verbatim, and applies spec.rules alone (no metadata,
 * hostnames or parentRefs) with its field manager, guarded by the resourceVersion it read, so a
 * concurrent change by someone else fails the write (409) and is re-read on the next tick instead of
 * being overwritten. A GitOps tool that re-applies the route from Git takes spec.rules back; the
 * HTTPRoute watch wakes the Canary and kanaria splits the apex rules of the new version again,
 * keeping whatever the new version changed.
 */
import {
  type Canary,
  ROUTER_SERVICE_FIELDS,
  type RouterServiceField,
  routerServiceFields,
} from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import { KubeApiError } from "../kube/errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, ObjectRef } from "../kube/types.ts";
import { canaryKey, canaryNamespace, canaryOwnerReference, controllingCanary } from "../workloads/meta.ts";
import { serviceNames } from "../workloads/services.ts";
import type { RouterCapabilities } from "./capabilities.ts";
import { RouterConfigError } from "./errors.ts";
import { CORS_DEFAULT_MAX_AGE, checkServiceFilters } from "./gatewayapi/filters.ts";
import {
  baseRules,
  generatedBaseRule,
  hasApexRule,
  mergeMatches,
  mixedApexRule,
  parseSplit,
  routeMatches,
  splitContext,
  splitRules,
} from "./gatewayapi/rules.ts";
import { refusal } from "./gatewayapi/status.ts";
import {
  GATEWAY_GROUP,
  HTTPROUTE_API_VERSION,
  type HTTPRoute,
  type ParentRef,
  type RouteRule,
} from "./gatewayapi/types.ts";
import type { Router, RouterTarget, Routes } from "./router.ts";

/** Core conformance (weights, header and query matches) plus the extended mirror and header filters. */
export const GATEWAYAPI_CAPABILITIES: RouterCapabilities = {
  weights: true,
  match: {
    headers: true,
    cookies: true,
    queryParams: true,
    uri: true,
    method: true,
    sourceLabels: false,
    operators: ["exact", "regex"],
  },
  mirroring: true,
  sessionAffinity: true,
  serviceFields: routerServiceFields("gatewayapi"),
};

const PRIMARY_ONLY: Routes = { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false };

function routeRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: HTTPROUTE_API_VERSION, kind: "HTTPRoute", namespace, name };
}

function mode(canary: Canary): "routeRef" | "generated" {
  return canary.spec.routeRef ? "routeRef" : "generated";
}

/** The HTTPRoute this Canary routes with: spec.routeRef, or the generated one named after the apex Service. */
export function httpRouteName(canary: Canary): string {
  return canary.spec.routeRef?.name ?? serviceNames(canary).apex;
}

/** Service parents (GAMMA) may name the core group "" or, as Linkerd's documentation writes it, "core". */
const CORE_GROUPS = ["", "core"];

/**
 * A gatewayRef as written (Flagger copies them as they are, so `group: core` stays `core` for Linkerd);
 * an omitted group of a Service parent is the core group, where the CRD would default it to
 * gateway.networking.k8s.io.
 */
function parentRef(ref: NonNullable<Canary["spec"]["service"]["gatewayRefs"]>[number]): ParentRef {
  const group = ref.group ?? (ref.kind === "Service" ? "" : GATEWAY_GROUP);
  return { ...ref, group };
}

/** The generated HTTPRoute for a split. */
export function buildGeneratedRoute(canary: Canary, routes: Routes, owned = true): HTTPRoute {
  const { service } = canary.spec;
  const base = [generatedBaseRule(canary)];
  return {
    apiVersion: HTTPROUTE_API_VERSION,
    kind: "HTTPRoute",
    metadata: {
      name: httpRouteName(canary),
      namespace: canaryNamespace(canary),
      ...(service.apex?.labels && { labels: { ...service.apex.labels } }),
      ...(service.apex?.annotations && { annotations: { ...service.apex.annotations } }),
      ...(owned && { ownerReferences: [canaryOwnerReference(canary)] }),
    },
    spec: {
      parentRefs: (service.gatewayRefs ?? []).map(parentRef),
      ...(service.hosts && service.hosts.length > 0 && { hostnames: [...service.hosts] }),
      rules: splitRules(splitContext(canary, routes), base),
    },
  };
}

/**
 * True when every field of `want` is in `have` with the same value (lists: same length, item by item).
 * `have` is what the API server returns, with its defaults (weight 1, kind Service, ...) filled in.
 */
export function appliedIn(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && want.length === have.length && want.every((w, i) => appliedIn(w, have[i]));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object") return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want).every(([k, v]) => v === undefined || appliedIn(v, h[k]));
  }
  return want === have;
}

/**
 * The live rule's filters and timeouts hold nothing kanaria did not write (a CORS setting or a timeout
 * removed from the Canary must go too); the CORS filter's maxAge default is the server's.
 */
function nothingExtra(want: RouteRule, live: RouteRule | undefined): boolean {
  const filters = (live?.filters ?? []).map((f, i) => {
    const wanted = want.filters?.[i]?.cors as Record<string, unknown> | undefined;
    const cors = f.cors as Record<string, unknown> | undefined;
    if (!cors || wanted?.maxAge !== undefined || cors.maxAge !== CORS_DEFAULT_MAX_AGE) return f;
    const { maxAge: _, ...rest } = cors;
    return { ...f, cors: rest };
  });
  return appliedIn(filters, want.filters ?? []) && appliedIn(live?.timeouts ?? {}, want.timeouts ?? {});
}

/** The first field of spec.service that only the generated HTTPRoute carries (unused beside routeRef). */
function generatedRouteField(service: Canary["spec"]["service"]): RouterServiceField | undefined {
  return (Object.keys(ROUTER_SERVICE_FIELDS) as RouterServiceField[]).find(
    (f) => ROUTER_SERVICE_FIELDS[f].generatedRoute && service[f] !== undefined,
  );
}

export class GatewayApiRouter implements Router {
  readonly capabilities = GATEWAYAPI_CAPABILITIES;
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** Everything the routes are built from, checked before anything is written. */
  check(target: RouterTarget): void {
    const { canary } = target;
    const { service, analysis } = canary.spec;
    if (!canary.spec.routeRef && !service.gatewayRefs?.length) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: provider gatewayapi needs spec.routeRef (an HTTPRoute you own) or ` +
          "spec.service.gatewayRefs (the Gateways or mesh Service the generated HTTPRoute attaches to)",
      );
    }
    // service.retries (and the App Mesh fields) are refused by unsupportedRouting, from the capabilities.
    const unused = canary.spec.routeRef && generatedRouteField(service);
    if (unused) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: spec.service.${unused} is set, but spec.routeRef's HTTPRoute ${canary.spec.routeRef?.name} ` +
          "is used as it is, so nothing would read it; write it into that HTTPRoute, or remove routeRef",
      );
    }
    (service.gatewayRefs ?? []).forEach((ref, i) => {
      if (ref.kind === "Service" && ref.group !== undefined && !CORE_GROUPS.includes(ref.group)) {
        throw new RouterConfigError(
          `Canary ${canaryKey(canary)}: spec.service.gatewayRefs[${i}] is a Service (GAMMA) in group ${JSON.stringify(ref.group)}; ` +
            'Services are in the core group: set group: "" (or core)',
        );
      }
    });
    routeMatches(canary, service.match, "spec.service.match");
    if (!canary.spec.routeRef) checkServiceFilters(canary, generatedBaseRule(canary).matches);
    if (target.resolved.strategy === "ab-testing") {
      if (!analysis.match?.length) {
        throw new RouterConfigError(`Canary ${canaryKey(canary)}: A/B testing needs spec.analysis.match`);
      }
      const ab = routeMatches(canary, analysis.match, "spec.analysis.match");
      const rule = generatedBaseRule(canary);
      if (!canary.spec.routeRef && mergeMatches(ab, rule.matches).length === 0) {
        throw new RouterConfigError(
          `Canary ${canaryKey(canary)}: no request can meet both spec.analysis.match and spec.service.match ` +
            "(they match one header or query parameter with different values); change one of them",
        );
      }
    }
  }

  /** Brings the route in line with the Canary, keeping the split it carries now. */
  async reconcile(target: RouterTarget): Promise<void> {
    const current = await this.getRoutes(target);
    await this.setRoutes(target, current ?? PRIMARY_ONLY);
  }

  async setRoutes(target: RouterTarget, routes: Routes): Promise<void> {
    const { canary } = target;
    const live = await this.#route(canary);
    if (mode(canary) === "generated") {
      const want = buildGeneratedRoute(canary, routes);
      if (live && appliedIn(want.metadata.labels ?? {}, live.metadata.labels ?? {}) && this.#same(want, live))
        return;
      await this.#applyGenerated(canary, want);
      return;
    }
    const route = this.#requireUserRoute(canary, live);
    const rules = splitRules(splitContext(canary, routes), baseRules(canary, route.spec?.rules ?? []));
    if (appliedIn(rules, route.spec?.rules ?? [])) return;
    await this.#applyRules(route, rules);
  }

  async getRoutes(target: RouterTarget): Promise<Routes | undefined> {
    const { canary } = target;
    const live = await this.#route(canary);
    if (!live) {
      if (mode(canary) === "routeRef") this.#requireUserRoute(canary, live);
      return undefined;
    }
    this.#checkAccepted(canary, live);
    return parseSplit(canary, live.spec?.rules ?? []);
  }

  /** The generated route only: a routeRef route is the user's, and re-splitting a GitOps re-apply is routine. */
  splitField(target: RouterTarget): { ref: ObjectRef; path: string[] } | undefined {
    const { canary } = target;
    if (mode(canary) === "routeRef") return undefined;
    return { ref: routeRef(canaryNamespace(canary), httpRouteName(canary)), path: ["spec", "rules"] };
  }

  /**
   * A route its parent refused cannot carry a split: reading it fails with the parent and the reason,
   * which the reconciler reports (reason RouteNotAccepted) before decide() moves any traffic. A generated route whose parents
   * or hostnames differ from the Canary's is not held: the refusal is about the old spec, and
   * reconcile() is about to write the new one.
   */
  #checkAccepted(canary: Canary, live: HTTPRoute): void {
    const why = refusal(live);
    if (!why) return;
    if (mode(canary) === "generated") {
      const want = buildGeneratedRoute(canary, PRIMARY_ONLY).spec;
      const stale =
        !appliedIn(want?.parentRefs, live.spec?.parentRefs) ||
        JSON.stringify(want?.hostnames ?? []) !== JSON.stringify(live.spec?.hostnames ?? []);
      if (stale) return;
    }
    throw new ConfigBlockerError("RouteNotAccepted", `Canary ${canaryKey(canary)}: ${why}`);
  }

  /**
   * Sends the apex rules back to the apex Service (which the target serves again after a deletion
   * with revertOnDeletion). The generated route loses its owner reference so it outlives the Canary.
   */
  async finalize(target: RouterTarget): Promise<void> {
    const { canary } = target;
    const live = await this.#route(canary);
    if (!live) return;
    if (mode(canary) === "generated") {
      const route = buildGeneratedRoute(canary, PRIMARY_ONLY, false);
      if (route.spec) route.spec.rules = [generatedBaseRule(canary)];
      await this.#client.apply(route);
      return;
    }
    const rules = baseRules(canary, live.spec?.rules ?? []);
    if (!appliedIn(rules, live.spec?.rules ?? [])) await this.#applyRules(live, rules);
  }

  #same(want: HTTPRoute, live: HTTPRoute): boolean {
    const liveRules = live.spec?.rules ?? [];
    return (
      appliedIn(want.metadata.annotations ?? {}, live.metadata.annotations ?? {}) &&
      appliedIn(want.metadata.ownerReferences, live.metadata.ownerReferences) &&
      appliedIn(want.spec, live.spec) &&
      // A field kanaria stopped setting (e.g. hostnames removed from the Canary) must go too.
      (want.spec?.hostnames !== undefined || live.spec?.hostnames === undefined) &&
      (want.spec?.rules ?? []).every((rule, i) => nothingExtra(rule, liveRules[i]))
    );
  }

  async #route(canary: Canary): Promise<HTTPRoute | undefined> {
    const route = await this.#client.get<HTTPRoute>(routeRef(canaryNamespace(canary), httpRouteName(canary)));
    if (route && mode(canary) === "generated" && controllingCanary(route) !== canary.metadata.name) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: HTTPRoute ${objectKey(route)} exists and is not controlled by this Canary; ` +
          `set spec.routeRef.name: ${route.metadata.name} to have kanaria split its rules, or delete it so kanaria generates one`,
      );
    }
    return route;
  }

  #requireUserRoute(canary: Canary, live: HTTPRoute | undefined): HTTPRoute {
    const name = httpRouteName(canary);
    const { apex } = serviceNames(canary);
    if (!live) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: HTTPRoute ${canaryNamespace(canary)}/${name} (spec.routeRef) does not exist; ` +
          `create it with a rule whose backendRef is the apex Service ${apex}, or fix spec.routeRef.name`,
      );
    }
    const mixed = mixedApexRule(canary, live.spec?.rules ?? []);
    if (mixed >= 0) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: HTTPRoute ${objectKey(live)} (spec.routeRef) spec.rules[${mixed}] sends traffic to the ` +
          `apex Service ${apex} and to other backends; kanaria splits only rules whose single backendRef is ${apex}: ` +
          "move the other backends to a rule of their own",
      );
    }
    if (!hasApexRule(canary, live.spec?.rules ?? [])) {
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: HTTPRoute ${objectKey(live)} (spec.routeRef) has no rule whose only backendRef ` +
          `is the apex Service ${apex}; point a rule's backendRefs at ${apex} (port ${canary.spec.service.port}), ` +
          "or set spec.service.name to the Service the route uses",
      );
    }
    return live;
  }

  /**
   * A generated route the HTTPRoute CRD refuses (422) cannot be fixed by trying again: most often a
   * filter the installed Gateway API version lacks (CORS: standard in v1.6.3, experimental in v1.4). The Canary
   * is Stalled with the API server's words instead.
   */
  async #applyGenerated(canary: Canary, route: HTTPRoute): Promise<void> {
    try {
      await this.#client.apply(route);
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.code !== 422) throw err;
      throw new RouterConfigError(
        `Canary ${canaryKey(canary)}: the API server refused HTTPRoute ${objectKey(route)}: ${err.message}; ` +
          "change the spec.service field it names, or install Gateway API CRDs that have it",
      );
    }
  }

  /** spec.rules alone, guarded by the resourceVersion read (see the comment at the top). */
  async #applyRules(route: HTTPRoute, rules: RouteRule[]): Promise<void> {
    await this.#client.apply({
      apiVersion: HTTPROUTE_API_VERSION,
      kind: "HTTPRoute",
      metadata: {
        name: route.metadata.name,
        namespace: route.metadata.namespace,
        resourceVersion: route.metadata.resourceVersion,
      },
      spec: { rules },
    } as HTTPRoute);
  }
}
