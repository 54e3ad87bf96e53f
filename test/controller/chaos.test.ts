// Chaos, bounded and seeded: four releases at once (two healthy, two whose metric fails) while the
// controller is SIGKILLed at pseudo-random moments and restarted. Every healthy release must succeed
// and every bad one fail, with the weights on the route never skipped or repeated and one primary
// update per promotion.
import { expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  recordChanges,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";

const ns = useNamespace("chaos");
const client = testClient();
const SEED = 20261201;
const MAX_KILLS = 8;

/** mulberry32: a small seeded generator, so a failing run can be replayed with the same kill times. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const metric = (template: string) => ({
  name: template,
  templateRef: { name: template },
  thresholdRange: { min: 1 },
  interval: "10s",
});

function template(name: string, query: string): KubeObject {
  return {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "MetricTemplate",
    metadata: { name, namespace: ns },
    spec: { provider: { type: "prometheus", address: inject("prometheusUrl") }, query },
  } as KubeObject;
}

const APPS = [
  { name: "good-a", healthy: true },
  { name: "good-b", healthy: true },
  { name: "bad-a", healthy: false },
  { name: "bad-b", healthy: false },
];

it("releases under random SIGKILLs end as they would without them", { timeout: 300_000 }, async () => {
  await client.apply(template("always-one", "vector(1)"));
  await client.apply(template("always-zero", "vector(0)"));
  for (const app of APPS) {
    const analysis = {
      interval: "10s",
      threshold: 1,
      stepWeight: 20,
      maxWeight: 60,
      metrics: [metric(app.healthy ? "always-one" : "always-zero")],
    };
    for (const o of nginxApp(ns, app.name, analysis)) await client.apply(o);
  }
  let controller: ControllerProcess = startControllerProcess(ns);
  try {
    for (const app of APPS) {
      await waitForPhase(client, ns, app.name, "Initialized");
      await initializationConverged(client, ns, app.name);
    }
    const generations = new Map<string, number>();
    for (const app of APPS) {
      generations.set(
        app.name,
        (await getDeployment(client, ns, `${app.name}-primary`))?.metadata?.generation ?? 0,
      );
    }
    const weights = APPS.map((app) => recordChanges(() => canaryIngressWeight(client, ns, app.name), 100));
    for (const app of APPS) await setImage(client, ns, app.name, `${IMAGE}:6.0.1`);

    const settled = async () => {
      const phases = await Promise.all(
        APPS.map(async (a) => (await getCanary(client, ns, a.name)).status?.phase),
      );
      return phases.every((p) => p === "Succeeded" || p === "Failed");
    };
    const next = random(SEED);
    let kills = 0;
    while (kills < MAX_KILLS && !(await settled())) {
      await new Promise((r) => setTimeout(r, 2_000 + next() * 7_000));
      await controller.kill();
      kills++;
      await new Promise((r) => setTimeout(r, next() * 3_000));
      controller = startControllerProcess(ns);
    }
    await waitFor(settled, { description: "every release settled", timeoutMs: 180_000, intervalMs: 500 });
    for (const app of APPS) {
      await waitFor(() => getDeployment(client, ns, app.name), {
        description: `${app.name} scaled to zero`,
        until: (d) => d?.spec?.replicas === 0,
      });
      await waitFor(() => canaryIngressWeight(client, ns, app.name), {
        description: `${app.name} canary weight back to 0`,
        until: (w) => w === "0",
      });
    }
    const recorded = await Promise.all(weights.map((w) => w.stop()));
    expect(kills, "the controller was killed mid-release").toBeGreaterThan(0);

    for (const [i, app] of APPS.entries()) {
      const status = (await getCanary(client, ns, app.name)).status;
      const primary = await getDeployment(client, ns, `${app.name}-primary`);
      const events = await canaryEvents(client, ns, app.name);
      const count = (prefix: string) =>
        events.filter((e) => e.message.startsWith(prefix)).reduce((sum, e) => sum + e.count, 0);
      if (app.healthy) {
        expect(status?.phase, app.name).toBe("Succeeded");
        expect(recorded[i], `${app.name} weights`).toEqual(["0", "20", "40", "60", "0"]);
        expect(imageOf(primary)).toBe(`${IMAGE}:6.0.1`);
        expect(primary?.metadata?.generation, `${app.name}: one primary update`).toBe(
          (generations.get(app.name) ?? 0) + 1,
        );
        expect(count("Promotion completed!"), app.name).toBe(1);
      } else {
        expect(status?.phase, app.name).toBe("Failed");
        expect(recorded[i], `${app.name} weights`).toEqual(["0", "20", "0"]);
        expect(imageOf(primary)).toBe(`${IMAGE}:6.0.0`);
        expect(primary?.metadata?.generation, `${app.name}: primary untouched`).toBe(
          generations.get(app.name),
        );
        expect(count("Canary failed! Rolling back"), app.name).toBe(1);
      }
    }
  } finally {
    await controller.stop();
  }
});
