// --include-label-prefix (Flagger's -include-label-prefix) through the real controller process: the
// primary Deployment and the -primary ConfigMap copy carry the target's labels under the prefixes
// given, never Flux's, and a promotion carries the labels the target has then.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import type { ConfigMap, Deployment } from "../../src/workloads/meta.ts";
import { testClient, waitForPhase } from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, configMap, deployment } from "../support/manifests.ts";

const ns = useNamespace("label-prefix");
const client = testClient();
useController(ns, () => ["--include-label-prefix", "team.example.com/,app.kubernetes.io/name"]);

const LABELS = {
  "app.kubernetes.io/name": "podinfo",
  "app.kubernetes.io/managed-by": "Helm",
  "kustomize.toolkit.fluxcd.io/name": "apps",
};

function labelled(object: KubeObject, labels: Record<string, string>): KubeObject {
  return { ...object, metadata: { ...object.metadata, labels } };
}

const get = <T extends KubeObject>(kind: string, name: string) =>
  client.get<T>({ apiVersion: kind === "Deployment" ? "apps/v1" : "v1", kind, namespace: ns, name });

describe("--include-label-prefix on a real cluster", () => {
  it("copies the labels under the prefixes to the primary and its config copy, and again at promotion", async () => {
    await client.apply(
      labelled(configMap(ns, "podinfo-config", { color: "blue" }), {
        ...LABELS,
        "team.example.com/owner": "shop",
      }),
    );
    const target = (tag: string, owner: string) =>
      labelled(deployment(ns, "podinfo", tag, { configMap: "podinfo-config" }), {
        ...LABELS,
        "team.example.com/owner": owner,
      });
    await client.apply(target("6.0.0", "shop"));
    await client.apply(
      canary(ns, "podinfo", { provider: "kubernetes", analysis: { interval: "5s", iterations: 1 } }),
    );
    await waitForPhase(client, ns, "podinfo", "Initialized", 60_000);

    const primary = await get<Deployment>("Deployment", "podinfo-primary");
    expect(primary?.metadata.labels).toEqual({
      app: "podinfo-primary",
      "app.kubernetes.io/name": "podinfo",
      "team.example.com/owner": "shop",
    });
    const copy = await get<ConfigMap>("ConfigMap", "podinfo-config-primary");
    expect(copy?.metadata.labels).toEqual({
      "app.kubernetes.io/name": "podinfo",
      "team.example.com/owner": "shop",
    });

    // A release whose target has another owner now: the promotion copies the label as it is then.
    await client.apply(target("6.0.1", "payments"));
    await waitForPhase(client, ns, "podinfo", "Succeeded", 120_000);
    const promoted = await waitFor(() => get<Deployment>("Deployment", "podinfo-primary"), {
      description: "the primary with the promoted target's labels",
      until: (d) => d?.metadata.labels?.["team.example.com/owner"] === "payments",
      timeoutMs: 10_000,
    });
    expect(promoted?.metadata.labels).toEqual({
      app: "podinfo-primary",
      "app.kubernetes.io/name": "podinfo",
      "team.example.com/owner": "payments",
    });
  }, 180_000);
});
