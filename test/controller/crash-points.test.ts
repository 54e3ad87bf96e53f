// Restart safety at every point of a tick: the controller kills itself (KANARIA_CRASH_AT) between two
// of its writes, stays down longer than the interval, and a new process must go on from the Canary's
// status: the same weights in the same order, each step judged no sooner than one interval after its
// split reached the route, one primary update per promotion, one rollback per failure.
import { describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  kanariaWriteTime,
  recordChanges,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE, nginxApp } from "../support/manifests.ts";

const client = testClient();
const INTERVAL_MS = 10_000;
/** Longer than the interval: a step that was due while the controller was down must still wait for its traffic. */
const DOWN_MS = 12_000;

interface Seen {
  weight: string;
  at: number;
}

/**
 * The canary Ingress weight, each value with the time the API server stored kanaria's write of it
 * (managedFields; whole seconds, rounded down): a loaded test process may poll late, the server's
 * stamp is not late.
 */
function recordIngress(ns: string): { stop: () => Promise<Seen[]> } {
  const seen: Seen[] = [];
  const recorder = recordChanges(async () => {
    const ingress = await client.get<KubeObject>({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      namespace: ns,
      name: "podinfo-canary",
    });
    const weight = ingress?.metadata.annotations?.["nginx.ingress.kubernetes.io/canary-weight"] ?? "-";
    const at = kanariaWriteTime(ingress);
    if (seen.at(-1)?.weight !== weight) seen.push({ weight, at });
    return weight;
  }, 100);
  return {
    async stop() {
      await recorder.stop();
      return seen;
    },
  };
}

interface Crashing {
  /** The process running now: the one with the crash point, then its replacement. */
  current: () => ControllerProcess;
  /**
   * How the first process ended so far: SIGKILL when it reached the crash point, "still running" when
   * it never did (the scenario then fails on it instead of waiting for an exit that will not come).
   */
  crashed: () => NodeJS.Signals | null | "still running";
}

/** Runs the controller with a crash point; once it has died there, restarts it (without) after DOWN_MS. */
function crashThenRestart(ns: string, crashAt: string): Crashing {
  let controller = startControllerProcess(ns, [], { KANARIA_CRASH_AT: crashAt });
  let crashed: NodeJS.Signals | null | "still running" = "still running";
  void controller.exited.then(async (signal) => {
    crashed = signal;
    if (signal !== "SIGKILL") return;
    await new Promise((r) => setTimeout(r, DOWN_MS));
    controller = startControllerProcess(ns);
  });
  return { current: () => controller, crashed: () => crashed };
}

async function eventCount(ns: string, prefix: string): Promise<number> {
  const events = await canaryEvents(client, ns, "podinfo");
  return events.filter((e) => e.message.startsWith(prefix)).reduce((sum, e) => sum + e.count, 0);
}

async function apply(objects: KubeObject[]): Promise<void> {
  for (const o of objects) await client.apply(o);
}

/** Each step's judgement (the next decision's stamp) came at least one interval after the route showed it. */
async function expectStepsJudgedOnTheirTraffic(
  ns: string,
  ingress: Seen[],
  decided: Decided[],
): Promise<void> {
  for (const weight of [20, 40, 60]) {
    const routed = ingress.find((s) => s.weight === String(weight))?.at;
    const next = decided.find(
      (d) =>
        (d.phase === "Progressing" && d.weight === weight + 20) || (weight === 60 && d.phase === "Promoting"),
    );
    expect(routed, `Ingress at ${weight} (${JSON.stringify(ingress)})`).toBeDefined();
    const judgedAt = Date.parse(next?.lastStepTime ?? "");
    expect(Number.isFinite(judgedAt), `decision after weight ${weight}: ${JSON.stringify(decided)}`).toBe(
      true,
    );
    // The server's stamp is rounded down to the second, which can only make this gap look longer.
    expect(
      judgedAt - (routed as number),
      `step ${weight} judged after its traffic (${ns})`,
    ).toBeGreaterThanOrEqual(INTERVAL_MS);
  }
}

interface Decided {
  phase: string | undefined;
  weight: number | undefined;
  lastStepTime: string | undefined;
}

function recordDecisions(ns: string) {
  return recordChanges(async (): Promise<Decided> => {
    const status = (await getCanary(client, ns, "podinfo")).status;
    return { phase: status?.phase, weight: status?.canaryWeight, lastStepTime: status?.lastStepTime };
  }, 100);
}

const analysis = { interval: "10s", threshold: 1, stepWeight: 20, maxWeight: 60 };
/** A release of three 10 s steps, the time down and the restart, with room for a loaded machine. */
const SCENARIO_TIMEOUT_MS = 240_000;

describe.concurrent("SIGKILL at each point of a tick, restart after the interval", {
  timeout: SCENARIO_TIMEOUT_MS,
}, () => {
  const cases: [string, string][] = [
    ["after the status write, before the route changes", "after-status-write:canary weight 20"],
    ["after the Services, before the route changes", "after-services:Advance podinfo"],
    ["right after the route change", "after-route:canary weight 40"],
    ["after scaling up the canary", "after-scale-up:New revision detected"],
    ["after copying the revision to the primary (promotion)", "after-primary:Copying"],
    ["after scaling the canary down (finalising)", "after-scale-down:Scaling down"],
  ];
  const namespaces = cases.map(([, at]) => useNamespace(`crash-${at.split(":")[0]}`));

  it.each(cases.map((c, i) => [...c, i] as const))("nginx: %s", async (_label, crashAt, i) => {
    const ns = namespaces[i] as string;
    await apply(nginxApp(ns, "podinfo", analysis));
    const controller = crashThenRestart(ns, crashAt);
    try {
      await waitForPhase(client, ns, "podinfo", "Initialized");
      await initializationConverged(client, ns, "podinfo");
      const generation = (await getDeployment(client, ns, "podinfo-primary"))?.metadata?.generation ?? 0;
      const ingress = recordIngress(ns);
      const decided = recordDecisions(ns);
      await setImage(client, ns, "podinfo", `${IMAGE}:6.0.1`);
      const done = await waitForPhase(client, ns, "podinfo", "Succeeded", 180_000);
      await waitFor(() => getDeployment(client, ns, "podinfo"), {
        description: "canary scaled to zero",
        until: (d) => d?.spec?.replicas === 0,
      });
      const seen = await ingress.stop();
      const history = await decided.stop();

      expect(controller.crashed(), "the first process died at the crash point").toBe("SIGKILL");
      expect(seen.map((s) => s.weight)).toEqual(["0", "20", "40", "60", "0"]);
      await expectStepsJudgedOnTheirTraffic(ns, seen, history);
      const primary = await getDeployment(client, ns, "podinfo-primary");
      expect(imageOf(primary)).toBe(`${IMAGE}:6.0.1`);
      expect(primary?.metadata?.generation, "the primary's template changed once").toBe(generation + 1);
      expect(done.status?.lastPromotedSpec).toBe(done.status?.lastAppliedSpec);
      expect(await eventCount(ns, "Copying podinfo.")).toBe(1);
      expect(await eventCount(ns, "Promotion completed!")).toBe(1);
      for (const w of [20, 40, 60])
        expect(await eventCount(ns, `Advance podinfo.${ns} canary weight ${w}`)).toBe(1);
    } finally {
      await controller.current().stop();
    }
  });

  const rollbackNs = useNamespace("crash-rollback");
  it("nginx: after the rollback's status write, before the route goes back", async () => {
    const ns = rollbackNs;
    await client.apply({
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "MetricTemplate",
      metadata: { name: "always-zero", namespace: ns },
      spec: { provider: { type: "prometheus", address: inject("prometheusUrl") }, query: "vector(0)" },
    } as KubeObject);
    const [app, ing, cd] = nginxApp(ns, "podinfo", {
      ...analysis,
      metrics: [
        { name: "zero", templateRef: { name: "always-zero" }, thresholdRange: { min: 1 }, interval: "10s" },
      ],
    });
    await apply([app as KubeObject, ing as KubeObject, cd as KubeObject]);
    const controller = crashThenRestart(ns, "after-status-write:Rolling back");
    try {
      await waitForPhase(client, ns, "podinfo", "Initialized");
      await initializationConverged(client, ns, "podinfo");
      const generation = (await getDeployment(client, ns, "podinfo-primary"))?.metadata?.generation ?? 0;
      const ingress = recordIngress(ns);
      await setImage(client, ns, "podinfo", `${IMAGE}:6.0.1`);
      await waitForPhase(client, ns, "podinfo", "Failed", 120_000);
      await waitFor(() => getDeployment(client, ns, "podinfo"), {
        description: "canary scaled to zero after the restart",
        until: (d) => d?.spec?.replicas === 0,
        timeoutMs: 60_000,
      });
      await waitFor(() => canaryIngressWeight(client, ns, "podinfo"), {
        description: "canary weight back to 0",
        until: (w) => w === "0",
      });
      expect(controller.crashed(), "the first process died at the crash point").toBe("SIGKILL");
      expect((await ingress.stop()).map((s) => s.weight)).toEqual(["0", "20", "0"]);
      const primary = await getDeployment(client, ns, "podinfo-primary");
      expect(imageOf(primary)).toBe(`${IMAGE}:6.0.0`);
      expect(primary?.metadata?.generation, "the primary was not touched").toBe(generation);
      expect(await eventCount(ns, "Canary failed! Rolling back")).toBe(1);
      expect(
        (await canaryEvents(client, ns, "podinfo")).find((e) => e.reason === "RolledBack")?.message,
      ).toContain("zero 0.00 is below the minimum 1 (prometheus)");
    } finally {
      await controller.current().stop();
    }
  });

  const kubernetesNs = useNamespace("crash-kubernetes");
  it("kubernetes (blue/green): after copying the revision to the primary", async () => {
    const ns = kubernetesNs;
    await apply([
      deployment(ns, "podinfo", "6.0.0"),
      canary(ns, "podinfo", {
        provider: "kubernetes",
        analysis: { interval: "10s", threshold: 1, iterations: 2 },
      }),
    ]);
    const controller = crashThenRestart(ns, "after-primary:Copying");
    try {
      await waitForPhase(client, ns, "podinfo", "Initialized");
      const generation = (await getDeployment(client, ns, "podinfo-primary"))?.metadata?.generation ?? 0;
      await setImage(client, ns, "podinfo", `${IMAGE}:6.0.1`);
      await waitForPhase(client, ns, "podinfo", "Succeeded", 120_000);
      expect(controller.crashed(), "the first process died at the crash point").toBe("SIGKILL");
      const primary = await getDeployment(client, ns, "podinfo-primary");
      expect(imageOf(primary)).toBe(`${IMAGE}:6.0.1`);
      expect(primary?.metadata?.generation).toBe(generation + 1);
      expect(await eventCount(ns, "Copying podinfo.")).toBe(1);
      expect(await eventCount(ns, "Promotion completed!")).toBe(1);
      expect(await eventCount(ns, `Advance podinfo.${ns} canary iteration 2/2`)).toBe(1);
    } finally {
      await controller.current().stop();
    }
  });
});
