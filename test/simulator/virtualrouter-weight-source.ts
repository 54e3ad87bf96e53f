// WeightSource for App Mesh: the VirtualRouter <apex> the appmesh router manages, read the way Envoy
// gets it from App Mesh: routes in priority order, the weighted targets <apex>-primary and
// <apex>-canary of the route without header matches, and routes with header matches in front of it
// that send matching requests to the canary alone (A/B).
import * as k8s from "@kubernetes/client-node";
import { isNotFound, type RouteState, type WeightSource } from "./cluster-state.ts";

export interface VirtualRouterSourceOptions {
  namespace: string;
  /** The apex Service name: the router is named after it, the virtual nodes are <apex>-primary and -canary. */
  service: string;
}

interface Target {
  virtualNodeRef?: { name: string };
  weight: number;
}
interface RouteBody {
  match?: { headers?: unknown[]; metadata?: unknown[] };
  action?: { weightedTargets?: Target[] };
}
interface Route {
  name: string;
  priority?: number;
  httpRoute?: RouteBody;
  http2Route?: RouteBody;
  grpcRoute?: RouteBody;
  tcpRoute?: RouteBody;
}
export interface VirtualRouter {
  spec?: { routes?: Route[] };
}

const bodyOf = (r: Route): RouteBody => r.httpRoute ?? r.http2Route ?? r.grpcRoute ?? r.tcpRoute ?? {};
const matches = (r: Route) =>
  (bodyOf(r).match?.headers?.length ?? 0) + (bodyOf(r).match?.metadata?.length ?? 0) > 0;
const weightOf = (r: Route, node: string) =>
  bodyOf(r).action?.weightedTargets?.find((t) => t.virtualNodeRef?.name === node)?.weight ?? 0;

/** The routing of a VirtualRouter for one apex; no router or no catch-all route: everything to the primary. */
export function virtualRouterState(
  router: VirtualRouter | undefined,
  service: string,
): Omit<RouteState, "nginx"> {
  const primary = `${service}-primary`;
  const canary = `${service}-canary`;
  // App Mesh evaluates routes by priority (0 first); routes without one come after those with one.
  const routes = [...(router?.spec?.routes ?? [])].sort(
    (a, b) => (a.priority ?? 1001) - (b.priority ?? 1001),
  );
  const restAt = routes.findIndex((r) => !matches(r));
  const rest = routes[restAt];
  if (!rest) return { canaryWeight: 0, matchRouting: false };
  const total = weightOf(rest, primary) + weightOf(rest, canary);
  const canaryWeight = total > 0 ? (100 * weightOf(rest, canary)) / total : 0;
  const matchRouting = routes
    .slice(0, restAt)
    .some((r) => weightOf(r, canary) > 0 && weightOf(r, primary) === 0);
  return { canaryWeight, matchRouting };
}

export function virtualRouterWeightSource(
  kc: k8s.KubeConfig,
  options: VirtualRouterSourceOptions,
): WeightSource {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    async read() {
      let router: VirtualRouter | undefined;
      try {
        router = (await api.getNamespacedCustomObject({
          group: "appmesh.k8s.aws",
          version: "v1beta2",
          namespace: options.namespace,
          plural: "virtualrouters",
          name: options.service,
        })) as VirtualRouter;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return virtualRouterState(router, options.service);
    },
  };
}
