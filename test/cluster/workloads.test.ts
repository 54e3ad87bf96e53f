// Deployments behave as on a real cluster: pods get scheduled onto the KWOK nodes and become Ready,
// rolling updates complete, and deleting the Deployment garbage-collects ReplicaSets and Pods.
import * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { kubeConfig, useNamespace, waitFor } from "../support/k8s.ts";

const ns = useNamespace("cluster-workloads");
const name = "web";
const labels = { app: name };

function deployment(image: string): k8s.V1Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns, labels },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels },
        // Nothing pulls or runs this image: KWOK only fakes the pod status.
        spec: { containers: [{ name: "app", image, ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

function rolledOut(d: k8s.V1Deployment, replicas: number): boolean {
  const s = d.status;
  return (
    (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    s?.replicas === replicas &&
    s?.updatedReplicas === replicas &&
    s?.readyReplicas === replicas &&
    s?.availableReplicas === replicas &&
    (s?.conditions ?? []).some((c) => c.type === "Available" && c.status === "True") &&
    (s?.conditions ?? []).some((c) => c.type === "Progressing" && c.reason === "NewReplicaSetAvailable")
  );
}

describe("workloads on the fake nodes", () => {
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;
  beforeAll(() => {
    apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  });
  const readDeployment = () => apps.readNamespacedDeployment({ name, namespace: ns });

  it("a Deployment of 3 replicas becomes Available with Ready pods", async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("kanaria.test/web:1.0.0") });
    await waitFor(readDeployment, {
      description: `deployment ${ns}/${name} to be Available with 3 ready replicas`,
      until: (d) => rolledOut(d, 3),
    });
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
    expect(pods.items).toHaveLength(3);
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toBeTruthy();
      expect(pod.status?.phase).toBe("Running");
      // KWOK's pod IPs: loopback addresses, or with the data plane its pod range, which exists only
      // inside the data plane's network namespace (test/cluster/README.md).
      if (inject("clusterMode") === "local")
        expect(pod.status?.podIP).toMatch(inject("dataplane") ? /^10\.24[45]\./ : /^127\./);
    }
  });

  it("changing the image completes a rolling update", async () => {
    await apps.patchNamespacedDeployment(
      {
        name,
        namespace: ns,
        body: [
          { op: "replace", path: "/spec/template/spec/containers/0/image", value: "kanaria.test/web:2.0.0" },
        ],
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
    const d = await waitFor(readDeployment, {
      description: `rolling update of ${ns}/${name} to web:2.0.0`,
      until: (d) =>
        d.spec?.template.spec?.containers[0]?.image === "kanaria.test/web:2.0.0" && rolledOut(d, 3),
    });
    expect(d.status?.updatedReplicas).toBe(3);
    const rs = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: "app=web" });
    expect(rs.items).toHaveLength(2);
    const byImage = new Map(rs.items.map((r) => [r.spec?.template?.spec?.containers[0]?.image, r]));
    expect(byImage.get("kanaria.test/web:2.0.0")?.status?.readyReplicas).toBe(3);
    expect(byImage.get("kanaria.test/web:1.0.0")?.spec?.replicas).toBe(0);
    const pods = await waitFor(() => core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" }), {
      description: "old pods to be gone",
      until: (p) => p.items.length === 3,
    });
    expect(pods.items.map((p) => p.spec?.containers[0]?.image)).toEqual(
      Array(3).fill("kanaria.test/web:2.0.0"),
    );
  });

  it("deleting the Deployment garbage-collects its ReplicaSets and Pods", async () => {
    await apps.deleteNamespacedDeployment({ name, namespace: ns, propagationPolicy: "Background" });
    await waitFor(
      async () => {
        const rs = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: "app=web" });
        const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
        return { replicaSets: rs.items.length, pods: pods.items.length };
      },
      {
        description: "ReplicaSets and Pods of the deleted Deployment to be garbage-collected",
        until: (v) => v.replicaSets === 0 && v.pods === 0,
      },
    );
  });
});
