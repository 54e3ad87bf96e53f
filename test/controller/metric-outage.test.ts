// A Prometheus outage during healthy releases holds their steps; it never counts as a failed check.
// One real outage (the local cluster's Prometheus stopped for three intervals) for two releases at
// once: one whose outage budget outlasts it (promoted once Prometheus is back) and one whose budget
// is shorter (rolled back, naming the outage).
import { afterAll, describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  longestUnreadyTrafficMs,
  recordTraffic,
  setImage,
  testClient,
  waitForPhase,
  weightsOf,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useGateServer } from "../support/gate-server.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";
import { prometheusControl } from "../support/traffic.ts";

const ns = useNamespace("metric-outage");
const client = testClient();
useController(ns);
/**
 * A confirm-traffic-increase gate per release, closed once it is at its first step until the outage
 * has begun: a release that got there first must not pass its step on a healthy Prometheus while
 * the other is still starting.
 */
const gates = useGateServer();

const INTERVAL_SECONDS = 10;
const OUTAGE_MS = 3 * INTERVAL_SECONDS * 1000;

function analysis(name: string, inconclusiveTimeout?: string) {
  return {
    interval: `${INTERVAL_SECONDS}s`,
    webhooks: [{ name: "more", type: "confirm-traffic-increase" as const, url: gates.url(`/more-${name}`) }],
    // One failed check would roll the release back: the outage must not count as one.
    threshold: 1,
    stepWeight: 20,
    maxWeight: 60,
    ...(inconclusiveTimeout ? { inconclusiveTimeout } : {}),
    metrics: [
      {
        name: "always-one",
        templateRef: { name: "always-one" },
        thresholdRange: { min: 1 },
        interval: "10s",
      },
    ],
  };
}

const template = (): KubeObject =>
  ({
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "MetricTemplate",
    metadata: { name: "always-one", namespace: ns },
    spec: { provider: { type: "prometheus", address: inject("prometheusUrl") }, query: "vector(1)" },
  }) as KubeObject;

/** The outage, shared by both releases: started once both run their first step, ended after OUTAGE_MS and once "outage" has rolled back. */
let outage: Promise<void> | undefined;
let atFirstStep = 0;
async function outageOnceBothStepped(): Promise<void> {
  atFirstStep++;
  if (atFirstStep === 2) {
    outage = (async () => {
      await prometheusControl("stop");
      for (const name of ["held", "outage"]) gates.set(`/more-${name}`, "yes");
      try {
        await new Promise((r) => setTimeout(r, OUTAGE_MS));
        // "outage" must see the outage outlast its inconclusiveTimeout counted from its own first
        // inconclusive round, which can come an interval after the other Canary's (its step's interval
        // starts when its split is seen in the route): keep Prometheus down until it has rolled back.
        // Its test asserts the rollback; this only bounds the wait.
        await waitForPhase(client, ns, "outage", "Failed", 60_000).catch(() => undefined);
      } finally {
        await prometheusControl("start");
      }
    })();
  }
  await waitFor(() => atFirstStep, {
    description: "both releases at their first step",
    until: (n) => n >= 2,
    timeoutMs: 60_000,
  });
}

afterAll(async () => {
  await outage?.catch(() => undefined);
  await prometheusControl("start");
});

async function release(name: string, inconclusiveTimeout?: string) {
  for (const o of nginxApp(ns, name, analysis(name, inconclusiveTimeout))) await client.apply(o);
  await waitForPhase(client, ns, name, "Initialized");
  await initializationConverged(client, ns, name);
  const traffic = recordTraffic(client, ns, name);
  await setImage(client, ns, name, `${IMAGE}:6.0.1`);
  await waitFor(() => getCanary(client, ns, name), {
    description: `${name} at its first step`,
    until: (c) => (c.status?.canaryWeight ?? 0) > 0,
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  // Its step is judged an interval after the split is seen: long after this.
  gates.set(`/more-${name}`, "no");
  await outageOnceBothStepped();
  return traffic;
}

describe.concurrent("a Prometheus outage during a healthy release", () => {
  it("holds the step for three intervals and promotes once Prometheus is back, with no failed check", {
    timeout: 240_000,
  }, async () => {
    await client.apply(template());
    const traffic = await release("held");
    const held = await waitFor(() => getCanary(client, ns, "held"), {
      description: "held to report inconclusive checks",
      until: (c) => c.status?.inconclusiveSince !== undefined,
      timeoutMs: 30_000,
    });
    expect(held.status?.phase).toBe("Progressing");
    const done = await waitForPhase(client, ns, "held", "Succeeded", 150_000);
    expect(done.status).toMatchObject({ failedChecks: 0, canaryWeight: 0 });
    expect(done.status?.inconclusiveSince).toBeUndefined();
    expect(imageOf(await getDeployment(client, ns, "held-primary"))).toBe(`${IMAGE}:6.0.1`);
    const events = await canaryEvents(client, ns, "held");
    expect(events.filter((e) => e.reason === "CheckFailed")).toEqual([]);
    expect(events.filter((e) => e.reason === "ChecksInconclusive").length).toBeGreaterThanOrEqual(1);
    const samples = await traffic.stop();
    expect(weightsOf(samples)).toEqual([0, 20, 40, 60, 0]);
    expect(longestUnreadyTrafficMs(samples), "ms of traffic on a Deployment with no ready pod").toBe(0);
  });

  it("rolls back naming the outage once it outlasts analysis.inconclusiveTimeout", {
    timeout: 240_000,
  }, async () => {
    await client.apply(template());
    const traffic = await release("outage", "15s");
    const failed = await waitForPhase(client, ns, "outage", "Failed", 90_000);
    expect(failed.status).toMatchObject({ failedChecks: 0, canaryWeight: 0 });
    const stalled = failed.status?.conditions?.find((c) => c.type === "Stalled");
    expect(stalled?.message).toMatch(
      /^rolled back: metric checks inconclusive for \d+s \(analysis\.inconclusiveTimeout 15s\), not failed: /,
    );
    expect(stalled?.message).not.toContain("failed checks threshold");
    expect(imageOf(await getDeployment(client, ns, "outage-primary"))).toBe(`${IMAGE}:6.0.0`);
    const rolledBack = (await canaryEvents(client, ns, "outage")).filter((e) => e.reason === "RolledBack");
    expect(rolledBack).toHaveLength(1);
    expect(rolledBack[0]?.message).toContain("metric checks inconclusive for");
    await waitFor(() => getDeployment(client, ns, "outage"), {
      description: "outage scaled to zero",
      until: (d) => d?.spec?.replicas === 0,
    });
    const samples = await traffic.stop();
    expect(weightsOf(samples)).toEqual([0, 20, 0]);
    expect(longestUnreadyTrafficMs(samples), "ms of traffic on a Deployment with no ready pod").toBe(0);
  });
});
