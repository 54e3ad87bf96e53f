/**
 * The kinds the controller watches besides Canaries, as data (like the routers' factory table): what
 * a change of each wakes, and whether it is watched only where the API server serves it. A kind
 * added here is watched, cached for reads and wakes its Canaries without touching the manager.
 */
import type { Logger } from "pino";
import { API_VERSION } from "../api/common.ts";
import type { ReferencedKind } from "./canary-index.ts";

export interface WatchedKind {
  apiVersion: string;
  kind: string;
  /**
   * Which Canaries a change wakes: those that name the object as this kind (or own it), or with
   * "owner" only the Canary that owns it (objects kanaria generates).
   */
  wakes: ReferencedKind | "owner";
  /**
   * An optional API (App Mesh's CRDs, Gateway API): watched only where the server serves its
   * group/version, because a watch on a kind the server does not serve never finishes its first list.
   */
  requiresApi: boolean;
}

export const WATCHED_KINDS: readonly WatchedKind[] = [
  // The target and its primary, the ConfigMaps and Secrets a release tracks, generated Services.
  { apiVersion: "apps/v1", kind: "Deployment", wakes: "Deployment", requiresApi: false },
  { apiVersion: "apps/v1", kind: "DaemonSet", wakes: "DaemonSet", requiresApi: false },
  { apiVersion: "v1", kind: "ConfigMap", wakes: "ConfigMap", requiresApi: false },
  { apiVersion: "v1", kind: "Secret", wakes: "Secret", requiresApi: false },
  { apiVersion: "v1", kind: "Service", wakes: "owner", requiresApi: false },
  // A template that appears or changes wakes the Canaries using it (e.g. one held because it was missing).
  { apiVersion: API_VERSION, kind: "MetricTemplate", wakes: "MetricTemplate", requiresApi: false },
  { apiVersion: "networking.k8s.io/v1", kind: "Ingress", wakes: "Ingress", requiresApi: false },
  // App Mesh: an edited VirtualRouter wakes the Canary that owns it.
  { apiVersion: "appmesh.k8s.aws/v1beta2", kind: "VirtualRouter", wakes: "owner", requiresApi: true },
  // Gateway API: a changed HTTPRoute (re-applied from Git, or a parent's verdict in its status) wakes
  // the Canary that generated it or names it in spec.routeRef.
  { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", wakes: "HTTPRoute", requiresApi: true },
  // spec.autoscalerRef: an edited autoscaler is copied to <name>-primary; an edited copy is put back.
  {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    wakes: "HorizontalPodAutoscaler",
    requiresApi: false,
  },
  { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", wakes: "ScaledObject", requiresApi: true },
];

/** Asks discovery whether the API server serves group/version (kube/discovery.ts in production). */
export type ServesApi = (group: string, version: string) => Promise<boolean>;

/** The kinds to watch on this cluster: every kind, less the optional ones it does not serve (logged). */
export async function servedKinds(
  kinds: readonly WatchedKind[],
  servesApi: ServesApi,
  logger: Logger,
): Promise<WatchedKind[]> {
  const served: WatchedKind[] = [];
  for (const kind of kinds) {
    if (!kind.requiresApi) {
      served.push(kind);
      continue;
    }
    const [group = "", version = ""] = kind.apiVersion.split("/");
    if (await servesApi(group, version)) served.push(kind);
    else logger.info(`${kind.apiVersion} is not served: not watching ${kind.kind}s`);
  }
  return served;
}
