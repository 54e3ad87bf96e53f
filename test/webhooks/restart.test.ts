// A controller killed while a gate is pending: the new one neither asks passed gates again nor skips
// the pending one, because every answer lives in the Canary's status with its revision and step.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { CanaryWebhook } from "../../src/api/canary.ts";
import { getDeployment, imageOf, testClient, waitForPhase } from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { type GateServer, startGateServer } from "../support/gate-server.ts";
import { useNamespace } from "../support/k8s.ts";
import { canary, deployment, IMAGE } from "../support/manifests.ts";

const ns = useNamespace("gate-restart");
const client = testClient();
let gates: GateServer;
let controller: ControllerProcess | undefined;

beforeAll(async () => {
  gates = await startGateServer();
  controller = startControllerProcess(ns);
});
afterAll(async () => {
  if (controller)
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
  await gates?.close();
});

it("resumes a pending confirm-promotion after a SIGKILL without repeating the gates that passed", async () => {
  const hook = (name: string, type: CanaryWebhook["type"]): CanaryWebhook => ({
    name,
    type,
    url: gates.url(`/${name}`),
  });
  for (const p of ["/rollout-gate", "/smoke"]) gates.set(p, "yes");
  gates.set("/release", "no");
  await client.apply(deployment(ns, "app", "6.0.0"));
  await client.apply(
    canary(ns, "app", {
      provider: "kubernetes",
      analysis: {
        interval: "10s",
        iterations: 1,
        webhooks: [
          hook("rollout-gate", "confirm-rollout"),
          hook("smoke", "pre-rollout"),
          hook("release", "confirm-promotion"),
        ],
      },
    }),
  );
  await waitForPhase(client, ns, "app", "Initialized");
  await client.apply(deployment(ns, "app", "6.0.1"));
  await waitForPhase(client, ns, "app", "WaitingPromotion", 60_000);
  const asked = gates.requests("/release").length;
  expect(asked).toBeGreaterThanOrEqual(1);

  await controller?.kill();
  controller = startControllerProcess(ns);
  // The new controller keeps polling the pending gate (every interval) and holds the primary.
  const until = Date.now() + 25_000;
  while (gates.requests("/release").length <= asked && Date.now() < until)
    await new Promise((r) => setTimeout(r, 500));
  expect(
    gates.requests("/release").length,
    `the restarted controller asked the pending gate again (log: ${controller?.logFile})`,
  ).toBeGreaterThan(asked);
  expect(imageOf(await getDeployment(client, ns, "app-primary"))).toBe(`${IMAGE}:6.0.0`);

  gates.set("/release", "yes");
  await waitForPhase(client, ns, "app", "Succeeded", 60_000);
  expect(imageOf(await getDeployment(client, ns, "app-primary"))).toBe(`${IMAGE}:6.0.1`);
  expect(gates.requests("/rollout-gate")).toHaveLength(1);
  expect(gates.requests("/smoke")).toHaveLength(1);
});
