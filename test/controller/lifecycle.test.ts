// The canary lifecycle end to end: a real API server, real Deployments on KWOK nodes, the real
// controller process; no metrics (a canary without metrics passes its checks).
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import type { Deployment } from "../../src/workloads/meta.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  imageOf,
  kanariaWriteTime,
  recordChanges,
  setImage as releaseImage,
  testClient,
  waitForPhase,
  watchDeploymentWrites,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, configMap, deployment, IMAGE, nginxApp } from "../support/manifests.ts";

const ns = useNamespace("lifecycle");
const client = testClient();
useController(ns);

const setImage = (name: string, tag: string) => releaseImage(client, ns, name, `${IMAGE}:${tag}`);

const canaryIngress = (name: string) =>
  client.get<KubeObject>({ apiVersion: "networking.k8s.io/v1", kind: "Ingress", namespace: ns, name });

async function ingressWeight(name: string): Promise<string> {
  const ing = await canaryIngress(name);
  const annotations = ing?.metadata.annotations ?? {};
  const weight = annotations["nginx.ingress.kubernetes.io/canary-weight"] ?? "-";
  const header = annotations["nginx.ingress.kubernetes.io/canary-by-header"];
  return header
    ? `${weight} header=${header}:${annotations["nginx.ingress.kubernetes.io/canary-by-header-value"]}`
    : weight;
}

/**
 * The target, scaled to zero at initialization, was scaled up again only once that scale-down had
 * landed. Before, the Deployment controller counts the old pods on their way out as the new spec's: the
 * target reads ready at once, and then serves nothing until new pods are up.
 */
function expectScaledUpOnceDrained(writes: Deployment[], replicas: number): void {
  const down = writes.findIndex((d) => d.spec?.replicas === 0);
  const up = writes.findIndex((d, i) => i > down && d.spec?.replicas === replicas);
  expect(down, "the target was scaled to zero at initialization").toBeGreaterThanOrEqual(0);
  expect(up, "the target was scaled back up").toBeGreaterThan(down);
  expect(writes[up]?.status?.replicas ?? 0, "pods left when the target was scaled back up").toBe(0);
}

/** Polled closely, so what comes next happens while the target's scale-down to zero may be landing. */
const justInitialized = (name: string) =>
  waitFor(() => getCanary(client, ns, name), {
    description: `Canary ${ns}/${name} to be Initialized`,
    until: (c) => c.status?.phase === "Initialized",
    intervalMs: 10,
  });

describe.concurrent("the canary lifecycle", () => {
  it("initializes, then promotes a new image through every weight step (nginx)", async () => {
    for (const o of nginxApp(ns, "steps", { interval: "10s", threshold: 1, stepWeight: 20, maxWeight: 60 })) {
      await client.apply(o);
    }
    const initialized = await waitForPhase(client, ns, "steps", "Initialized");
    expect(initialized.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(imageOf(await getDeployment(client, ns, "steps-primary"))).toBe(`${IMAGE}:6.0.0`);
    await waitFor(() => getDeployment(client, ns, "steps"), {
      description: "the target scaled to zero after initialization",
      until: (d) => d?.spec?.replicas === 0,
    });

    const weights = recordChanges(() => ingressWeight("steps-canary"));
    await setImage("steps", "6.0.1");
    await waitForPhase(client, ns, "steps", "Progressing");
    const done = await waitForPhase(client, ns, "steps", "Succeeded", 120_000);
    expect(await weights.stop()).toEqual(["0", "20", "40", "60", "0"]);
    expect(done.status).toMatchObject({ canaryWeight: 0, failedChecks: 0 });
    expect(done.status?.lastPromotedSpec).toBe(done.status?.lastAppliedSpec);
    expect(imageOf(await getDeployment(client, ns, "steps-primary"))).toBe(`${IMAGE}:6.0.1`);
    const target = await getDeployment(client, ns, "steps");
    expect(target?.spec?.replicas).toBe(0);
    // Finalising drained the canary: its scale-down came one interval (10 s) after the weight-0 write.
    // Both stamps are the server's, rounded down to the second: a gap of at least 10 s reads as >= 10 s.
    const routedAway = kanariaWriteTime(await canaryIngress("steps-canary"));
    const scaledDown = kanariaWriteTime(target as KubeObject);
    expect(routedAway, "kanaria's weight-0 write of the canary Ingress").toBeGreaterThan(0);
    expect(
      scaledDown - routedAway,
      "scale-down after the traffic left the canary (ms)",
    ).toBeGreaterThanOrEqual(10_000);
    const messages = (await canaryEvents(client, ns, "steps")).map((e) => e.message);
    expect(messages).toContain("Advance steps.NS canary weight 40".replace("NS", ns));
    expect(messages.filter((m) => m.startsWith("Promotion completed!"))).toHaveLength(1);
  });

  it("rolls back a canary that never becomes ready after progressDeadlineSeconds", async () => {
    await client.apply(deployment(ns, "stuck", "6.0.0"));
    await client.apply(
      canary(ns, "stuck", {
        provider: "kubernetes",
        progressDeadlineSeconds: 15,
        analysis: { interval: "10s", iterations: 2 },
      }),
    );
    await waitForPhase(client, ns, "stuck", "Initialized");
    await client.apply(deployment(ns, "stuck", "6.0.1", { unschedulable: true }));
    const failed = await waitForPhase(client, ns, "stuck", "Failed", 90_000);
    const ready = failed.status?.conditions?.find((c) => c.type === "Stalled");
    expect(ready?.status).toBe("True");
    expect(ready?.message).toMatch(/not ready after \d+s \(progressDeadlineSeconds 15\)/);
    expect(imageOf(await getDeployment(client, ns, "stuck-primary"))).toBe(`${IMAGE}:6.0.0`);
    await waitFor(() => getDeployment(client, ns, "stuck"), {
      description: "the failed canary scaled to zero",
      until: (d) => d?.spec?.replicas === 0,
    });
    const events = await canaryEvents(client, ns, "stuck");
    expect(events.find((e) => e.reason === "RolledBack")?.type).toBe("Warning");
  });

  it("runs blue/green with the kubernetes provider", async () => {
    await client.apply(deployment(ns, "bluegreen", "6.0.0"));
    await client.apply(
      canary(ns, "bluegreen", { provider: "kubernetes", analysis: { interval: "10s", iterations: 2 } }),
    );
    await waitForPhase(client, ns, "bluegreen", "Initialized");
    const apex = await client.get<KubeObject & { spec?: { selector?: Record<string, string> } }>({
      apiVersion: "v1",
      kind: "Service",
      namespace: ns,
      name: "bluegreen",
    });
    expect(apex?.spec?.selector).toEqual({ app: "bluegreen-primary" });
    await setImage("bluegreen", "6.0.1");
    const done = await waitForPhase(client, ns, "bluegreen", "Succeeded", 120_000);
    expect(done.status?.iterations).toBe(2);
    expect(imageOf(await getDeployment(client, ns, "bluegreen-primary"))).toBe(`${IMAGE}:6.0.1`);
    const messages = (await canaryEvents(client, ns, "bluegreen")).map((e) => e.message);
    expect(messages.some((m) => m.includes("canary iteration 2/2"))).toBe(true);
  });

  it("routes by header during an A/B test on nginx", async () => {
    const abTest = {
      interval: "10s",
      iterations: 2,
      match: [{ headers: { "x-canary": { exact: "insider" } } }],
    };
    for (const o of nginxApp(ns, "abtest", abTest)) await client.apply(o);
    await waitForPhase(client, ns, "abtest", "Initialized");
    const routes = recordChanges(() => ingressWeight("abtest-canary"));
    await setImage("abtest", "6.0.1");
    await waitForPhase(client, ns, "abtest", "Succeeded", 120_000);
    expect(await routes.stop()).toEqual(["0", "0 header=x-canary:insider", "0"]);
    expect(imageOf(await getDeployment(client, ns, "abtest-primary"))).toBe(`${IMAGE}:6.0.1`);
  });

  it("starts a canary for a ConfigMap change alone and carries it to the primary", async () => {
    await client.apply(configMap(ns, "settings", { color: "blue" }));
    await client.apply(deployment(ns, "configured", "6.0.0", { configMap: "settings" }));
    const targetWrites = await watchDeploymentWrites(ns, "configured");
    await client.apply(
      canary(ns, "configured", { provider: "kubernetes", analysis: { interval: "10s", iterations: 1 } }),
    );
    const initialized = await justInitialized("configured");
    const copy = () =>
      client.get<KubeObject & { data?: Record<string, string> }>({
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: ns,
        name: "settings-primary",
      });
    expect((await copy())?.data).toEqual({ color: "blue" });
    await client.apply(configMap(ns, "settings", { color: "green" }));
    await waitForPhase(client, ns, "configured", "Progressing");
    const done = await waitForPhase(client, ns, "configured", "Succeeded", 120_000);
    expect(done.status?.lastAppliedSpec).not.toBe(initialized.status?.lastAppliedSpec);
    expect((await copy())?.data).toEqual({ color: "green" });
    expect(imageOf(await getDeployment(client, ns, "configured-primary"))).toBe(`${IMAGE}:6.0.0`);
    targetWrites.stop();
    expectScaledUpOnceDrained(targetWrites.writes, 2);
  });

  it("restores the original Deployment and Service when a Canary with revertOnDeletion is deleted", async () => {
    await client.apply(deployment(ns, "revert", "6.0.0", { replicas: 3 }));
    const targetWrites = await watchDeploymentWrites(ns, "revert");
    await client.apply(
      canary(ns, "revert", {
        provider: "kubernetes",
        revertOnDeletion: true,
        analysis: { interval: "10s", iterations: 1 },
      }),
    );
    await justInitialized("revert");
    await client.delete({
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "Canary",
      namespace: ns,
      name: "revert",
    });
    await waitFor(
      () => client.get({ apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", namespace: ns, name: "revert" }),
      {
        description: "the Canary to be gone after its finalizer ran",
        until: (c) => c === undefined,
        timeoutMs: 60_000,
      },
    );
    const target = await getDeployment(client, ns, "revert");
    expect(target?.spec?.replicas).toBe(3);
    expect(target?.status?.readyReplicas).toBe(3);
    targetWrites.stop();
    expectScaledUpOnceDrained(targetWrites.writes, 3);
    const apex = await client.get<KubeObject & { spec?: { selector?: Record<string, string> } }>({
      apiVersion: "v1",
      kind: "Service",
      namespace: ns,
      name: "revert",
    });
    expect(apex?.spec?.selector).toEqual({ app: "revert" });
    await waitFor(() => getDeployment(client, ns, "revert-primary"), {
      description: "the primary garbage-collected with the Canary",
      until: (d) => d === undefined,
      timeoutMs: 60_000,
    });
    expect(
      await client.get({ apiVersion: "v1", kind: "Service", namespace: ns, name: "revert" }),
      "the apex Service survives the Canary",
    ).toBeDefined();
  });
});
