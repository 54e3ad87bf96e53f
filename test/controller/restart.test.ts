// Restart safety: SIGKILL the controller at several points of a rollout; each new process must go on
// from the Canary's status without repeating or skipping a step, and promote exactly once.
import { afterAll, expect, it } from "vitest";
import {
  canaryEvents,
  canaryIngressWeight,
  getCanary,
  getDeployment,
  imageOf,
  recordChanges,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";

const ns = useNamespace("restart");
const client = testClient();
let controller: ControllerProcess | undefined;

afterAll(async () => {
  await controller?.stop();
});

async function restart(): Promise<void> {
  await controller?.kill();
  controller = startControllerProcess(ns);
}

const canaryWeight = () => canaryIngressWeight(client, ns, "podinfo");

const waitForWeight = (weight: string) =>
  waitFor(canaryWeight, {
    description: `canary weight ${weight}`,
    until: (w) => w === weight,
    timeoutMs: 60_000,
  });

it("continues a rollout after SIGKILL at every stage, without repeating or skipping a step", async () => {
  controller = startControllerProcess(ns);
  for (const o of nginxApp(ns, "podinfo", { interval: "10s", threshold: 1, stepWeight: 20, maxWeight: 60 })) {
    await client.apply(o);
  }
  await waitForPhase(client, ns, "podinfo", "Initialized");
  const primaryGeneration = (await getDeployment(client, ns, "podinfo-primary"))?.metadata?.generation ?? 0;
  await restart();

  const weights = recordChanges(canaryWeight);
  // The steps as the controller decided them: each status write stamps the step it takes.
  const decided = recordChanges(async () => {
    const status = (await getCanary(client, ns, "podinfo")).status;
    return { weight: status?.canaryWeight, phase: status?.phase, lastStepTime: status?.lastStepTime };
  });
  await setImage(client, ns, "podinfo", `${IMAGE}:6.0.1`);
  await waitForPhase(client, ns, "podinfo", "Progressing");
  await restart(); // while waiting for the canary to become ready
  await waitForWeight("20");
  await restart(); // right after a step
  await waitForWeight("40");
  await controller?.kill(); // down for longer than the interval
  await new Promise((r) => setTimeout(r, 12_000));
  // Mid-promotion: the process kills itself right after writing Promoting (the crash hook). Waiting
  // for the phase by polling missed it when the primary rolled out within one poll (260 ms).
  const promoting = startControllerProcess(ns, [], {
    KANARIA_CRASH_AT: "after-status-write:Copying podinfo.",
  });
  controller = promoting;
  expect(await promoting.exited, "killed itself mid-promotion").toBe("SIGKILL");
  controller = startControllerProcess(ns);
  const done = await waitForPhase(client, ns, "podinfo", "Succeeded", 90_000);

  expect(await weights.stop()).toEqual(["0", "20", "40", "60", "0"]);
  // Every step was decided exactly once, and never sooner than the interval (10 s) after the previous
  // one. The Ingress follows each decision after the converge, whose latency varies; the decision
  // times stamped in the status are what the interval bounds.
  const history = await decided.stop();
  const progressing = history.filter((d) => d.phase === "Progressing" && d.lastStepTime !== undefined);
  expect(new Set(progressing.map((d) => d.lastStepTime)).size, "one decision per step").toBe(3);
  const decidedAt = (phase: string, weight: number) =>
    Date.parse(history.find((d) => d.phase === phase && d.weight === weight)?.lastStepTime ?? "");
  const times = [
    decidedAt("Progressing", 20),
    decidedAt("Progressing", 40),
    decidedAt("Progressing", 60),
    decidedAt("Promoting", 60),
  ];
  expect(times.every(Number.isFinite), `decision times ${JSON.stringify(history)}`).toBe(true);
  for (let i = 1; i < times.length; i++) {
    expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(10_000);
  }

  const primary = await getDeployment(client, ns, "podinfo-primary");
  expect(imageOf(primary)).toBe(`${IMAGE}:6.0.1`);
  expect(primary?.metadata?.generation, "the primary's template was changed exactly once").toBe(
    primaryGeneration + 1,
  );
  expect(done.status?.lastPromotedSpec).toBe(done.status?.lastAppliedSpec);
  const events = await canaryEvents(client, ns, "podinfo");
  const count = (prefix: string) =>
    events.filter((e) => e.message.startsWith(prefix)).reduce((sum, e) => sum + e.count, 0);
  expect(count("Copying podinfo."), "promotion started once").toBe(1);
  expect(count("Promotion completed!"), "promotion completed once").toBe(1);
  expect(count(`Advance podinfo.${ns} canary weight 40`)).toBe(1);
});
