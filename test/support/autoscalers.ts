// HorizontalPodAutoscalers and scales for the autoscalerRef integration tests, in one namespace.
import { formatRequest, REQUEST_ANNOTATIONS } from "../../src/controller/requests.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../../src/kube/types.ts";
import { getCanary, getDeployment } from "./canary-observer.ts";
import { waitFor } from "./k8s.ts";

export type Scaler = KubeObject & {
  spec?: Record<string, unknown> & { minReplicas?: number; maxReplicas?: number };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
};

export function autoscalerHelpers(client: KubeClient, namespace: string) {
  const ref = (apiVersion: string, kind: string) => (name: string) => ({ apiVersion, kind, namespace, name });
  const hpaRef: (name: string) => ObjectRef = ref("autoscaling/v2", "HorizontalPodAutoscaler");
  const deploymentRef: (name: string) => ObjectRef = ref("apps/v1", "Deployment");
  return {
    hpaRef,
    soRef: ref("keda.sh/v1alpha1", "ScaledObject") as (name: string) => ObjectRef,
    deploymentRef,

    /** An HPA on Deployment `name` with a CPU target (no metrics API runs: only its bounds act). */
    hpa(name: string, minReplicas: number, maxReplicas: number): KubeObject {
      return {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name, namespace, labels: { team: "web" } },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
          minReplicas,
          maxReplicas,
          metrics: [
            {
              type: "Resource",
              resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
            },
          ],
        },
      } as KubeObject;
    },

    replicasOf: async (name: string) => (await getDeployment(client, namespace, name))?.spec?.replicas,
    minOf: async (name: string) => (await client.get<Scaler>(hpaRef(name)))?.spec?.minReplicas,

    /** Waits for what the HPA controller (its sync period is 15 s) or kanaria does to a Deployment's scale. */
    replicasReach: (name: string, replicas: number, what: string) =>
      waitFor(() => getDeployment(client, namespace, name), {
        description: `${what}: Deployment ${name} at ${replicas} replicas`,
        until: (d) => d?.spec?.replicas === replicas && (d.status?.availableReplicas ?? 0) === replicas,
        timeoutMs: 60_000,
      }),

    /** `kanaria promote --skip-analysis` for the revision under analysis. */
    async requestPromotion(name: string): Promise<void> {
      const revision = (await getCanary(client, namespace, name)).status?.lastAppliedSpec ?? "";
      const value = formatRequest({ revision, skipAnalysis: true, reason: "test" });
      await client.mergePatch(
        { apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", namespace, name },
        { metadata: { annotations: { [REQUEST_ANNOTATIONS.promote]: value } } },
      );
    },
  };
}
