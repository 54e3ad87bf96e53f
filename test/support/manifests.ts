// Builders for the objects integration tests apply: a podinfo-like app, its Ingress and its Canary.
import type { CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";

export const IMAGE = "ghcr.io/stefanprodan/podinfo";

export interface AppOptions {
  replicas?: number;
  configMap?: string;
  /** A node selector no fake node matches keeps the pods Pending: a canary that never becomes ready. */
  unschedulable?: boolean;
  /**
   * Required anti-affinity (per node) to the pods labelled app=<value>. With app=<name> it holds one pod
   * per node, and the primary's copy of the template (app=<name>-primary) cannot schedule beside the
   * canary's pods: with as many canary pods as nodes, a promoted primary never becomes ready.
   */
  awayFrom?: string;
  strategy?: "Recreate" | "RollingUpdate";
}

export function deployment(namespace: string, name: string, tag: string, opts: AppOptions = {}): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas: opts.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      ...(opts.strategy ? { strategy: { type: opts.strategy } } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...(opts.unschedulable ? { nodeSelector: { "kanaria.dev/test": "no-such-node" } } : {}),
          ...(opts.awayFrom ? { affinity: awayFrom(opts.awayFrom) } : {}),
          containers: [
            {
              name: "podinfod",
              image: `${IMAGE}:${tag}`,
              ports: [{ name: "http", containerPort: 9898, protocol: "TCP" }],
              ...(opts.configMap ? { volumeMounts: [{ name: "config", mountPath: "/etc/podinfo" }] } : {}),
            },
          ],
          ...(opts.configMap ? { volumes: [{ name: "config", configMap: { name: opts.configMap } }] } : {}),
        },
      },
    },
  } as KubeObject;
}

function awayFrom(app: string) {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { app } }, topologyKey: "kubernetes.io/hostname" },
      ],
    },
  };
}

export function configMap(namespace: string, name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data } as KubeObject;
}

export function ingress(namespace: string, name: string, service = name): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace, annotations: { "kubernetes.io/ingress.class": "nginx" } },
    spec: {
      rules: [
        {
          host: `${name}.example.test`,
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: service, port: { number: 80 } } },
              },
            ],
          },
        },
      ],
    },
  } as KubeObject;
}

export function canary(
  namespace: string,
  name: string,
  spec: Partial<CanarySpec> & Pick<CanarySpec, "analysis">,
): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: "Canary",
    metadata: { name, namespace },
    spec: {
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      service: { port: 80, targetPort: 9898 },
      progressDeadlineSeconds: 60,
      ...spec,
    },
  } as KubeObject;
}

/** A podinfo Deployment at 6.0.0, its Ingress and an nginx Canary on both, in the order to apply them. */
export function nginxApp(namespace: string, name: string, analysis: CanarySpec["analysis"]): KubeObject[] {
  return [
    deployment(namespace, name, "6.0.0"),
    ingress(namespace, name),
    canary(namespace, name, {
      provider: "nginx",
      ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
      analysis,
    }),
  ];
}
