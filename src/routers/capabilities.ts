/**
 * What a router can do with traffic, and the check that a Canary asks only for that. decide() calls
 * unsupportedRouting() with the capabilities of the Canary's router, so a Canary that asks for weights,
 * matches, mirroring or session affinity its router cannot apply is Stalled before any traffic moves,
 * instead of "advancing" a split that never reaches the data plane. Nothing here names a provider.
 */
import {
  type CanarySpec,
  type HttpMatch,
  type ProviderName,
  ROUTER_SERVICE_FIELDS,
  type RouterServiceField,
  routerFieldRefusal,
} from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { Blocker } from "../errors.ts";

/** The parts of spec.analysis.match a router can route A/B traffic on. */
export interface MatchCapabilities {
  headers: boolean;
  /** A `cookie` header match (Flagger's convention for cookie-based A/B tests). */
  cookies: boolean;
  queryParams: boolean;
  uri: boolean;
  method: boolean;
  sourceLabels: boolean;
  /** Which string-match operators it can express for the fields above. */
  operators: ReadonlyArray<"exact" | "prefix" | "suffix" | "regex">;
}

export interface RouterCapabilities {
  /** Splits traffic by percentage: the canary strategy's steps and blue/green's switch before promotion. */
  weights: boolean;
  /** A/B testing; undefined: the router cannot route by request attributes at all. */
  match: MatchCapabilities | undefined;
  /** analysis.mirror: copies requests to the canary. */
  mirroring: boolean;
  /** analysis.sessionAffinity: keeps a user on the version they got. */
  sessionAffinity: boolean;
  /** The spec.service fields of ROUTER_SERVICE_FIELDS (timeouts, filters, hosts, mesh settings) it acts on. */
  serviceFields: readonly RouterServiceField[];
}

interface Ask {
  field: string;
  what: string;
  /** The fix, when fixFor(field) does not know it. */
  fix?: string;
}

/** The first field of a Canary that its router cannot honour, as a blocker naming the field, the router and a fix. */
export function unsupportedRouting(
  spec: CanarySpec,
  resolved: ResolvedCanary,
  provider: ProviderName,
  capabilities: RouterCapabilities,
): Blocker | undefined {
  const ask = firstUnsupported(spec, resolved, capabilities);
  if (!ask) return undefined;
  return {
    reason: "UnsupportedRouting",
    message: `${ask.field} is set, but provider ${provider} cannot ${ask.what}; ${ask.fix ?? fixFor(ask.field)}`,
  };
}

function firstUnsupported(
  spec: CanarySpec,
  resolved: ResolvedCanary,
  capabilities: RouterCapabilities,
): Ask | undefined {
  const a = spec.analysis;
  if (resolved.strategy === "canary" && !capabilities.weights) {
    // Name the field the user wrote: stepWeights, stepWeight, or maxWeight alone.
    const field =
      a.stepWeights !== undefined ? "stepWeights" : a.stepWeight !== undefined ? "stepWeight" : "maxWeight";
    return { field: `spec.analysis.${field}`, what: "split traffic by weight" };
  }
  if (a.mirror === true && !capabilities.mirroring) {
    return { field: "spec.analysis.mirror", what: "mirror requests to the canary" };
  }
  if (a.sessionAffinity !== undefined && !capabilities.sessionAffinity) {
    return { field: "spec.analysis.sessionAffinity", what: "keep users on one version by cookie" };
  }
  const field = (Object.keys(ROUTER_SERVICE_FIELDS) as RouterServiceField[]).find(
    (f) => spec.service[f] !== undefined && !capabilities.serviceFields.includes(f),
  );
  if (field) {
    const { why, fix } = routerFieldRefusal(field);
    return { field: `spec.service.${field}`, what: `use it: it sets ${why}`, fix };
  }
  if (resolved.strategy === "ab-testing") return unsupportedMatch(a.match ?? [], capabilities.match);
  return undefined;
}

function unsupportedMatch(matches: HttpMatch[], caps: MatchCapabilities | undefined): Ask | undefined {
  if (!caps) return { field: "spec.analysis.match", what: "route requests by header, cookie or query" };
  for (const [i, m] of matches.entries()) {
    const at = `spec.analysis.match[${i}]`;
    for (const [name, match] of Object.entries(m.headers ?? {})) {
      const isCookie = name.toLowerCase() === "cookie";
      if (isCookie ? !caps.cookies : !caps.headers) {
        return { field: `${at}.headers.${name}`, what: `route by ${isCookie ? "cookie" : "header"}` };
      }
      const op = operatorOf(match);
      if (op && !caps.operators.includes(op)) {
        return { field: `${at}.headers.${name}.${op}`, what: `match values by ${op}` };
      }
    }
    for (const field of ["queryParams", "uri", "method", "sourceLabels"] as const) {
      if (m[field] !== undefined && !caps[field]) {
        return { field: `${at}.${field}`, what: `route by ${field}` };
      }
    }
  }
  return undefined;
}

function operatorOf(match: Record<string, unknown>): MatchCapabilities["operators"][number] | undefined {
  return (["exact", "prefix", "suffix", "regex"] as const).find((op) => match[op] !== undefined);
}

function fixFor(field: string): string {
  if (/stepWeights?$|maxWeight$/.test(field)) {
    return "use analysis.iterations (blue/green), or a provider that shifts weights (nginx, gatewayapi)";
  }
  if (field.endsWith(".mirror") || field.endsWith(".sessionAffinity")) {
    return "remove it, or use provider gatewayapi";
  }
  return "change the match to what the provider supports, or use provider gatewayapi";
}
