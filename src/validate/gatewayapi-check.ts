/**
 * `kanaria validate` for provider gatewayapi: what the Gateway API router refuses at run time (matches
 * HTTPRoute cannot express, Service parents outside the core group, CORS, mirror, timeout and
 * URLRewrite settings an HTTPRoute cannot take), and, when the HTTPRoute of spec.routeRef is among
 * the inputs, that it has a rule kanaria can split (analysis.mirror outside blue/green, which it
 * ignores as Flagger does, is a warning of flagger-notes.ts). The spec.service fields it does not act on at all (service.retries, the App Mesh fields,
 * the generated route's fields beside routeRef) are the schema's rules (ROUTER_SERVICE_FIELDS).
 */
import {
  canary as canarySchema,
  PROVIDER_SPELLINGS,
  type ProviderSpelling,
  routerOf,
} from "../api/canary.ts";
import { checkServiceFilters, ServiceFilterError } from "../routers/gatewayapi/filters.ts";
import { generatedBaseRule } from "../routers/gatewayapi/rules.ts";
import type { Manifest } from "./load.ts";
import { problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";

type Path = (string | number)[];
type Json = Record<string, unknown>;

const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** One HTTPMatchRequest: header and query matches need exact or regex, uri no suffix, method exact. */
function matchProblems(canary: Manifest, at: Path, match: Json): Problem[] {
  const problems: Problem[] = [];
  const error = (path: Path, message: string) =>
    problems.push(problemAt(canary, path, "error", message, "key"));
  for (const field of ["headers", "queryParams"] as const) {
    for (const [name, m] of Object.entries(obj(match[field]))) {
      const sm = obj(m);
      if (sm.prefix !== undefined || sm.suffix !== undefined) {
        error(
          [...at, field, name],
          "provider gatewayapi: HTTPRoute header and query matches are exact or regex, not prefix/suffix: write it as regex (e.g. ^value.*)",
        );
      }
    }
  }
  if (obj(match.uri).suffix !== undefined) {
    error([...at, "uri"], "provider gatewayapi: HTTPRoute path matches have no suffix: use regex");
  }
  if (match.method !== undefined && obj(match.method).exact === undefined) {
    error([...at, "method"], "provider gatewayapi: an HTTPRoute method match is exact (e.g. GET)");
  }
  if (match.sourceLabels !== undefined) {
    error(
      [...at, "sourceLabels"],
      "provider gatewayapi: HTTPRoute cannot match on the caller's labels: remove it",
    );
  }
  return problems;
}

function specProblems(canary: Manifest, spec: Json): Problem[] {
  const service = obj(spec.service);
  const analysis = obj(spec.analysis);
  const problems: Problem[] = [];
  const at = (path: Path, severity: "error" | "warning", message: string) =>
    problems.push(problemAt(canary, ["spec", ...path], severity, message, "key"));
  arr(service.gatewayRefs).forEach((ref, i) => {
    const r = obj(ref);
    if (r.kind === "Service" && r.group !== undefined && r.group !== "" && r.group !== "core") {
      at(
        ["service", "gatewayRefs", i, "group"],
        "error",
        'a Service parent (GAMMA) is in the core group: set group: "" (or core)',
      );
    }
  });
  for (const [path, matches] of [
    [["spec", "service", "match"], service.match],
    [["spec", "analysis", "match"], analysis.match],
  ] as const) {
    arr(matches).forEach((m, i) => {
      problems.push(...matchProblems(canary, [...path, i], obj(m)));
    });
  }
  return problems;
}

function backendName(ref: unknown): string | undefined {
  const r = obj(ref);
  const core = (r.group ?? "") === "" && (r.kind ?? "Service") === "Service" && r.namespace === undefined;
  return core && typeof r.name === "string" ? r.name : undefined;
}

/** The HTTPRoute of spec.routeRef, when it is among the inputs, needs a rule whose single backendRef is the apex Service. */
function routeProblems(canary: Manifest, spec: Json, manifests: Manifest[]): Problem[] {
  const name = obj(spec.routeRef).name;
  if (typeof name !== "string") return [];
  const route = manifests.find(
    (m) =>
      m.kind === "HTTPRoute" &&
      (m.apiVersion ?? "").startsWith("gateway.networking.k8s.io/") &&
      m.name === name &&
      (m.namespace ?? canary.namespace) === canary.namespace,
  );
  if (!route) return [];
  const apex = obj(spec.service).name ?? obj(spec.targetRef).name;
  const rules = arr(obj(obj(route.value).spec).rules);
  const names = rules.map((r) => arr(obj(r).backendRefs).map(backendName));
  const mixed = names.findIndex((n) => n.length > 1 && n.includes(apex as string));
  const at = (message: string) => [problemAt(canary, ["spec", "routeRef", "name"], "error", message)];
  if (mixed >= 0) {
    return at(
      `HTTPRoute "${name}" (${route.file}) spec.rules[${mixed}] sends traffic to the apex Service "${apex}" and to other backends: move the other backends to a rule of their own`,
    );
  }
  if (!names.some((n) => n.length === 1 && n[0] === apex)) {
    return at(
      `HTTPRoute "${name}" (${route.file}) has no rule whose only backendRef is the apex Service "${apex}": point a rule's backendRefs at it, or set spec.service.name to the Service the route uses`,
    );
  }
  return [];
}

/**
 * The router's own checks of what spec.service adds to the generated HTTPRoute (CORS lists, mirrors,
 * timeouts, URLRewrite), on a Canary the schema accepts; match problems are reported above.
 */
function filterProblems(manifest: Manifest): Problem[] {
  const parsed = canarySchema.safeParse(manifest.value);
  if (!parsed.success || parsed.data.spec.routeRef) return [];
  try {
    checkServiceFilters(parsed.data, generatedBaseRule(parsed.data).matches);
  } catch (err) {
    if (err instanceof ServiceFilterError)
      return [problemAt(manifest, err.path, "error", err.problem, "key")];
  }
  return [];
}

/** provider gatewayapi, or one of Flagger's spellings of it (gatewayapi:v1, gatewayapi:v1beta1). */
function runsGatewayApi(provider: unknown): boolean {
  const spellings: readonly string[] = PROVIDER_SPELLINGS;
  return (
    typeof provider === "string" &&
    spellings.includes(provider) &&
    routerOf(provider as ProviderSpelling) === "gatewayapi"
  );
}

export function gatewayApiCheck(canary: Manifest, manifests: Manifest[]): Problem[] {
  const spec = obj(obj(canary.value).spec);
  if (!runsGatewayApi(spec.provider)) return [];
  return [
    ...specProblems(canary, spec),
    ...filterProblems(canary),
    ...routeProblems(canary, spec, manifests),
  ];
}
