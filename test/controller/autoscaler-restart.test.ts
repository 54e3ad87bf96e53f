// The primary's floor (status.primaryScaler) across a controller crash: the count recorded when the
// release started survives a SIGKILL and a primary shrunk meanwhile, the new process keeps the floor
// raised and holds the switch until the HPA controller has the primary back at it.
import { afterAll, describe, expect, it } from "vitest";
import { autoscalerHelpers } from "../support/autoscalers.ts";
import {
  canaryIngressWeight,
  recordTraffic,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE, ingress } from "../support/manifests.ts";

const ns = useNamespace("autoscaler-restart");
const client = testClient();
const { hpaRef, deploymentRef, hpa, minOf, replicasReach, requestPromotion } = autoscalerHelpers(client, ns);
let controller: ControllerProcess | undefined;

afterAll(async () => {
  if (controller)
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
});

describe("autoscalerRef across a controller crash", () => {
  it("keeps the recorded floor and holds the switch after a restart", async () => {
    const name = "web";
    await client.apply(deployment(ns, name, "6.0.0"));
    await client.apply(ingress(ns, name));
    await client.apply(hpa(name, 1, 6));
    await client.apply(
      canary(ns, name, {
        provider: "nginx",
        ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name },
        analysis: { interval: "10s", threshold: 1, stepWeights: [5, 10, 15, 20, 25, 30, 35, 40, 45, 50] },
      }),
    );
    controller = startControllerProcess(ns);
    await waitForPhase(client, ns, name, "Initialized");
    await client.mergePatch(deploymentRef(`${name}-primary`), { spec: { replicas: 3 } });
    await replicasReach(`${name}-primary`, 3, "the primary at its production scale");

    const traffic = recordTraffic(client, ns, name);
    await setImage(client, ns, name, `${IMAGE}:6.0.1`);
    const progressing = await waitForPhase(client, ns, name, "Progressing");
    const record = { revision: progressing.status?.lastAppliedSpec, readyReplicas: 3, floor: 3 };
    expect(progressing.status?.primaryScaler).toEqual(record);
    await waitFor(() => minOf(`${name}-primary`), {
      description: "the primary's HPA minimum raised to the floor",
      until: (min) => min === 3,
    });

    await waitFor(() => canaryIngressWeight(client, ns, name), {
      description: "the canary's first step",
      until: (w) => Number.parseInt(w, 10) > 0,
    });

    // Down: the primary shrinks (by hand, where the HPA would under a lighter load) and a promotion is
    // asked for while nobody runs the release.
    await controller.kill();
    await client.mergePatch(hpaRef(`${name}-primary`), { spec: { minReplicas: 1 } });
    await client.mergePatch(deploymentRef(`${name}-primary`), { spec: { replicas: 1 } });
    await replicasReach(`${name}-primary`, 1, "the primary shrunk while the controller is down");
    await requestPromotion(name);
    controller = startControllerProcess(ns);

    await waitFor(() => minOf(`${name}-primary`), {
      description: "the new process raising the primary's HPA minimum to the recorded floor again",
      until: (min) => min === 3,
    });
    const done = await waitForPhase(client, ns, name, "Succeeded", 120_000);
    const samples = await traffic.stop();
    expect(done.status?.primaryScaler, "recorded once, at the start of the release").toEqual(record);
    const released = samples.findIndex((s) => s.weight > 0);
    const back = samples.slice(released).filter((s) => s.weight === 0);
    expect(released).toBeGreaterThanOrEqual(0);
    expect(back.length).toBeGreaterThan(0);
    expect(
      back.every((s) => s.primaryReady >= 3),
      JSON.stringify(samples.slice(released)),
    ).toBe(true);
    await waitFor(() => minOf(`${name}-primary`), {
      description: "the primary's HPA minimum given back after the switch",
      until: (min) => min === 1,
    });
  }, 300_000);
});
