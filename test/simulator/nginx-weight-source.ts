// WeightSource for ingress-nginx: the canary Ingress "<ingress>-canary" that the nginx router manages.
import * as k8s from "@kubernetes/client-node";
import { isNotFound, type NginxLabels, type RouteState, type WeightSource } from "./cluster-state.ts";

const PREFIX = "nginx.ingress.kubernetes.io/";

export interface NginxSourceOptions {
  namespace: string;
  /** The main Ingress; the canary one is "<ingress>-canary". */
  ingress: string;
  /** Backend service of the main Ingress (the `service` label). */
  service: string;
}

async function readIngress(
  net: k8s.NetworkingV1Api,
  namespace: string,
  name: string,
): Promise<k8s.V1Ingress | undefined> {
  try {
    return await net.readNamespacedIngress({ name, namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function firstPath(ingress: k8s.V1Ingress | undefined): { host?: string; path?: k8s.V1HTTPIngressPath } {
  const rule = ingress?.spec?.rules?.find((r) => r.http?.paths.length);
  return { host: rule?.host, path: rule?.http?.paths[0] };
}

/** ingress-nginx names an upstream "<namespace>-<service>-<port number or name>". */
function upstreamName(namespace: string, backend: k8s.V1IngressServiceBackend | undefined): string {
  if (!backend) return "";
  return `${namespace}-${backend.name}-${backend.port?.number ?? backend.port?.name ?? ""}`;
}

/** canary-weight out of canary-weight-total (default 100), as a percentage; 0 when absent or invalid. */
export function canaryWeightPercent(annotations: Record<string, string>): number {
  const weight = Number.parseInt(annotations[`${PREFIX}canary-weight`] ?? "0", 10);
  const total = Number.parseInt(annotations[`${PREFIX}canary-weight-total`] ?? "100", 10);
  if (!Number.isFinite(weight) || !Number.isFinite(total) || total <= 0) return 0;
  return (100 * Math.min(Math.max(weight, 0), total)) / total;
}

/** Routing of a canary Ingress; one without `canary: "true"` is no canary to ingress-nginx. */
export function canaryRoute(canary: k8s.V1Ingress | undefined): Omit<RouteState, "nginx"> {
  const annotations = canary?.metadata?.annotations ?? {};
  if (annotations[`${PREFIX}canary`] !== "true") return { canaryWeight: 0, matchRouting: false };
  return {
    canaryWeight: canaryWeightPercent(annotations),
    matchRouting: Boolean(
      annotations[`${PREFIX}canary-by-header`] || annotations[`${PREFIX}canary-by-cookie`],
    ),
  };
}

export function nginxWeightSource(kc: k8s.KubeConfig, options: NginxSourceOptions): WeightSource {
  const net = kc.makeApiClient(k8s.NetworkingV1Api);
  const { namespace, ingress, service } = options;
  return {
    async read() {
      const [main, canary] = await Promise.all([
        readIngress(net, namespace, ingress),
        readIngress(net, namespace, `${ingress}-canary`),
      ]);
      const { host, path } = firstPath(main);
      const nginx: NginxLabels = {
        ingress,
        service,
        canaryUpstream: upstreamName(namespace, firstPath(canary).path?.backend.service),
        // "_" is the catch-all server name ingress-nginx uses for rules without a host.
        host: host || "_",
        path: path?.path ?? "/",
      };
      return { ...canaryRoute(canary), nginx };
    },
  };
}
