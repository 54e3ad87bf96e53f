import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import type { ConfigMap, Deployment, Secret } from "../../src/workloads/meta.ts";

export const NS = "shop";

/** A Canary as read from the API server (uid set), for target "podinfo" with service port 9898. */
export function canaryFixture(spec: Partial<CanarySpec> = {}): Canary {
  return {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "Canary",
    metadata: { name: "podinfo", namespace: NS, uid: "canary-uid-1", generation: 1 },
    spec: {
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      service: { port: 9898 },
      analysis: { interval: "30s", iterations: 5 },
      ...spec,
    },
  };
}

/** Deployment "podinfo" (selector app: podinfo) that reads ConfigMap podinfo-config and Secret podinfo-secret. */
export function deploymentFixture(): Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "podinfo",
      namespace: NS,
      labels: { app: "podinfo", "app.kubernetes.io/managed-by": "Helm" },
      annotations: { team: "web", "deployment.kubernetes.io/revision": "3" },
      generation: 1,
    },
    spec: {
      replicas: 3,
      minReadySeconds: 5,
      selector: { matchLabels: { app: "podinfo" } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { app: "podinfo", tier: "web" },
          annotations: { "prometheus.io/scrape": "true" },
        },
        spec: {
          containers: [
            {
              name: "podinfod",
              image: "ghcr.io/stefanprodan/podinfo:6.0.0",
              ports: [
                { name: "http", containerPort: 9898, protocol: "TCP" },
                { name: "http-metrics", containerPort: 9797, protocol: "TCP" },
              ],
              envFrom: [{ secretRef: { name: "podinfo-secret" } }],
              volumeMounts: [{ name: "config", mountPath: "/etc/podinfo" }],
            },
          ],
          volumes: [{ name: "config", configMap: { name: "podinfo-config" } }],
        },
      },
    },
  };
}

export function configMapFixture(
  name = "podinfo-config",
  data: Record<string, string> = { color: "blue" },
): ConfigMap {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: NS }, data };
}

export function secretFixture(
  name = "podinfo-secret",
  data: Record<string, string> = { token: "czNjcjN0" },
): Secret {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: NS }, type: "Opaque", data };
}
