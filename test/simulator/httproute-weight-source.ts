// WeightSource for Gateway API: the HTTPRoute the gatewayapi router manages (generated or spec.routeRef),
// read the way a Gateway implementation would: the weights of the rule whose backendRefs are
// <apex>-primary and <apex>-canary, the rules before it that send matching requests to the canary
// alone (A/B), and a RequestMirror filter to the canary with its percent.
import * as k8s from "@kubernetes/client-node";
import { isNotFound, type RouteState, type WeightSource } from "./cluster-state.ts";

export interface HttpRouteSourceOptions {
  namespace: string;
  /** The HTTPRoute's name. */
  route: string;
  /** The apex Service; the backends are "<service>-primary" and "<service>-canary". */
  service: string;
}

interface Backend {
  name: string;
  weight?: number;
}
interface Mirror {
  backendRef: { name: string };
  percent?: number;
  fraction?: { numerator: number; denominator?: number };
}
interface Rule {
  matches?: { headers?: unknown[]; queryParams?: unknown[] }[];
  filters?: { type: string; requestMirror?: Mirror }[];
  backendRefs?: Backend[];
}
export interface HttpRoute {
  spec?: { rules?: Rule[] };
}

/** Percentage of requests a RequestMirror filter copies: percent, else the fraction, else all of them. */
function mirrorPercent(mirror: Mirror): number {
  if (mirror.percent !== undefined) return mirror.percent;
  if (mirror.fraction) return (100 * mirror.fraction.numerator) / (mirror.fraction.denominator ?? 100);
  return 100;
}

/** The routing of an HTTPRoute for one apex Service; no weighted rule: everything goes to the primary. */
export function httpRouteState(route: HttpRoute | undefined, service: string): Omit<RouteState, "nginx"> {
  const primary = `${service}-primary`;
  const canary = `${service}-canary`;
  const rules = route?.spec?.rules ?? [];
  const names = (r: Rule) => (r.backendRefs ?? []).map((b) => b.name);
  const weightedAt = rules.findIndex((r) => names(r).includes(primary) && names(r).includes(canary));
  const weighted = rules[weightedAt];
  if (!weighted) return { canaryWeight: 0, matchRouting: false };
  // A backendRef without weight has weight 1 (the CRD default).
  const w = (name: string) => weighted.backendRefs?.find((b) => b.name === name)?.weight ?? 1;
  const total = w(primary) + w(canary);
  const matchRouting = rules
    .slice(0, weightedAt)
    .some(
      (r) =>
        names(r).length === 1 &&
        names(r)[0] === canary &&
        (r.matches ?? []).some((m) => (m.headers?.length ?? 0) + (m.queryParams?.length ?? 0) > 0),
    );
  const mirror = weighted.filters?.find(
    (f) => f.type === "RequestMirror" && f.requestMirror?.backendRef.name === canary,
  )?.requestMirror;
  return {
    canaryWeight: total > 0 ? (100 * w(canary)) / total : 0,
    matchRouting,
    ...(mirror && { mirrorPercent: mirrorPercent(mirror) }),
  };
}

export function httpRouteWeightSource(kc: k8s.KubeConfig, options: HttpRouteSourceOptions): WeightSource {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    async read() {
      let route: HttpRoute | undefined;
      try {
        route = (await api.getNamespacedCustomObject({
          group: "gateway.networking.k8s.io",
          version: "v1",
          namespace: options.namespace,
          plural: "httproutes",
          name: options.route,
        })) as HttpRoute;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return httpRouteState(route, options.service);
    },
  };
}
