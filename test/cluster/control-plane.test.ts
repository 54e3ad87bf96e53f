// The control plane answers and the KWOK fake nodes are Ready.
import * as k8s from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import { kubeConfig, waitFor } from "../support/k8s.ts";

describe("control plane", () => {
  it("answers /version with the pinned Kubernetes version", async () => {
    const info = await kubeConfig().makeApiClient(k8s.VersionApi).getCode();
    const pinned = inject("kubernetesVersion");
    if (pinned) {
      expect(info.gitVersion).toBe(pinned);
      expect(`v${info.major}.${info.minor}`).toBe(pinned.split(".").slice(0, 2).join("."));
    } else {
      // existing cluster, k3s or KUBEBUILDER_ASSETS binaries: only a sane version is expected
      expect(info.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    }
  });

  it("has at least one Ready node", async () => {
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const ready = await waitFor(
      async () =>
        (await core.listNode()).items.filter((n) =>
          n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        ),
      { description: "a Ready node", until: (nodes) => nodes.length > 0, timeoutMs: 30_000 },
    );
    expect(ready.length).toBeGreaterThan(0);
    if (inject("clusterMode") === "local") {
      // KWOK fake nodes with loopback InternalIPs (nothing ever dials them)
      for (const node of ready) {
        const ip = node.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "";
        expect(ip).toMatch(/^127\./);
        expect(node.metadata?.annotations?.["kwok.x-k8s.io/node"]).toBe("fake");
      }
    }
  });
});
