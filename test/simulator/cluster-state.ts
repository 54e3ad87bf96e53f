// What the simulator reads from the cluster: how the router splits traffic (a WeightSource, one per
// router kind) and which ready pods of the canary (<target>) and primary (<target>-primary)
// Deployments (or DaemonSets) can take it.
import * as k8s from "@kubernetes/client-node";

/** Labels that ingress-nginx puts on the series of requests through one Ingress. */
export interface NginxLabels {
  /** The main Ingress: ingress-nginx merges the canary Ingress into its locations. */
  ingress: string;
  /** Backend service of the main Ingress. */
  service: string;
  /** Upstream of the canary backend, "<namespace>-<service>-<port>"; "" when there is no canary Ingress. */
  canaryUpstream: string;
  host: string;
  path: string;
}

/** How the router in front of the Deployments currently routes requests. */
export interface RouteState {
  /** Percentage (0..100) of requests that the router sends to the canary by weight. */
  canaryWeight: number;
  /** True when requests that carry a header or cookie go to the canary (A/B testing). */
  matchRouting: boolean;
  /** Percentage (0..100) of the primary's requests that the router also copies to the canary (mirroring). */
  mirrorPercent?: number;
  /** Present when the router is ingress-nginx: the simulator then also exposes its series. */
  nginx?: NginxLabels;
}

/** Reads the live routing from one kind of router (nginx Ingress, HTTPRoute, ...). */
export interface WeightSource {
  read(): Promise<RouteState>;
}

/** A ready pod that can serve requests. */
export interface Pod {
  name: string;
  /** The Deployment or DaemonSet the pod belongs to. */
  deployment: string;
  /** Value of the pod's `app` label (Envoy series carry it), else the workload's name. */
  app: string;
  /** Container images, in spec order. */
  images: string[];
  /** First container port, used in the Envoy cluster name. */
  port: number;
}

export interface ClusterState {
  route: RouteState;
  primary: Pod[];
  canary: Pod[];
}

export interface StateReader {
  read(): Promise<ClusterState>;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

function isReady(pod: k8s.V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

function toPod(pod: k8s.V1Pod, deployment: string): Pod {
  const containers = pod.spec?.containers ?? [];
  return {
    name: pod.metadata?.name ?? "",
    deployment,
    app: pod.metadata?.labels?.app ?? deployment,
    images: containers.map((c) => c.image ?? ""),
    port: containers.find((c) => c.ports?.length)?.ports?.[0]?.containerPort ?? 80,
  };
}

/** The selector of Deployment `name`, else of DaemonSet `name`; undefined when neither exists. */
async function workloadSelector(
  apps: k8s.AppsV1Api,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  for (const read of [
    () => apps.readNamespacedDeployment({ name, namespace }),
    () => apps.readNamespacedDaemonSet({ name, namespace }),
  ]) {
    try {
      return (await read()).spec?.selector.matchLabels ?? {};
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return undefined;
}

/**
 * Ready pods of a Deployment (or, when there is none of that name, a DaemonSet), found through its
 * selector; none when the workload does not exist or has no ready pods, so it gets no traffic (a
 * canary scaled to zero, or a DaemonSet parked off every node, gets nothing).
 */
export async function readReadyPods(
  apps: k8s.AppsV1Api,
  core: k8s.CoreV1Api,
  namespace: string,
  workload: string,
): Promise<Pod[]> {
  const matchLabels = await workloadSelector(apps, namespace, workload);
  const labelSelector = Object.entries(matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  if (!labelSelector) return [];
  const pods = await core.listNamespacedPod({ namespace, labelSelector });
  return pods.items
    .filter(isReady)
    .map((p) => toPod(p, workload))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Combines a WeightSource with the pods of <target> (canary) and <target>-primary. */
export function kubeStateReader(
  kc: k8s.KubeConfig,
  namespace: string,
  target: string,
  weights: WeightSource,
): StateReader {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async read() {
      const [route, canary, primary] = await Promise.all([
        weights.read(),
        readReadyPods(apps, core, namespace, target),
        readReadyPods(apps, core, namespace, `${target}-primary`),
      ]);
      return { route, canary, primary };
    },
  };
}
