// The same N apps for both controllers: a podinfo Deployment, its Ingress and a Canary, in kanaria's
// and Flagger's API group. nginx provider, no metrics (both then pass every check), one replica.
import type { KubeObject } from "../../src/kube/types.ts";

export const NAMESPACE = "bench";
export const INTERVAL_S = 10;
/** Two steps (25, 50) before the promotion: enough to measure the gaps between steps. */
const ANALYSIS = { interval: `${INTERVAL_S}s`, threshold: 1, stepWeight: 25, maxWeight: 50 };

export type Flavour = "kanaria" | "flagger";

export const CANARY_API: Record<Flavour, string> = {
  kanaria: "kanaria.dev/v1alpha1",
  flagger: "flagger.app/v1beta1",
};

export const appName = (i: number) => `app-${String(i).padStart(4, "0")}`;

function deployment(name: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NAMESPACE, labels: { app: name } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "podinfo",
              image: "ghcr.io/stefanprodan/podinfo:6.0.0",
              ports: [{ name: "http", containerPort: 9898 }],
            },
          ],
        },
      },
    },
  } as KubeObject;
}

function ingress(name: string): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: NAMESPACE, annotations: { "kubernetes.io/ingress.class": "nginx" } },
    spec: {
      rules: [
        {
          host: `${name}.bench.local`,
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }],
          },
        },
      ],
    },
  } as KubeObject;
}

function canary(flavour: Flavour, name: string): KubeObject {
  return {
    apiVersion: CANARY_API[flavour],
    kind: "Canary",
    metadata: { name, namespace: NAMESPACE },
    spec: {
      provider: "nginx",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
      progressDeadlineSeconds: 600,
      service: { port: 80, targetPort: 9898 },
      analysis: ANALYSIS,
    },
  } as KubeObject;
}

/** Everything to apply before a controller runs, in order. */
export function fleet(flavour: Flavour, n: number): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < n; i++) {
    const name = appName(i);
    out.push(deployment(name), ingress(name), canary(flavour, name));
  }
  return out;
}

/** A release: a new pod template (an annotation), so both controllers see a new revision. */
export function releasePatch(release: string): Record<string, unknown> {
  return { spec: { template: { metadata: { annotations: { "bench.kanaria.dev/release": release } } } } };
}

/**
 * The rollback phase: a rollout webhook on the Canary (in both APIs, Flagger's field names) whose
 * every answer is a failure; with threshold 1 the first failed check is the one that rolls back.
 */
export function failingGatePatch(url: string): Record<string, unknown> {
  return {
    spec: {
      analysis: { ...ANALYSIS, webhooks: [{ name: "bench-gate", type: "rollout", url, timeout: "5s" }] },
    },
  };
}
