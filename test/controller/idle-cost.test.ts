// What an idle Canary costs the API server: the controller runs in this process on a client that counts
// every request it sends (watches aside). Over several idle ticks it must send none at all: every read
// comes from the watch caches and every apply matches what the cluster already has.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningController, startController } from "../../src/controller/manager.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import {
  getDeployment,
  imageOf,
  initializationConverged,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE, nginxApp } from "../support/manifests.ts";

const ns = useNamespace("idle-cost");
const client = testClient();
const INTERVAL_S = 10;

const VERBS = ["get", "list", "apply", "mergePatch", "replaceStatus", "delete", "event"] as const;
type Verb = (typeof VERBS)[number];
const noRequests = () => Object.fromEntries(VERBS.map((v) => [v, 0])) as Record<Verb, number>;

/** A KubeClient that counts the requests each method sends. */
function countingClient(inner: KubeClient): { client: KubeClient; counts: Record<Verb, number> } {
  const counts = noRequests();
  const count =
    <A extends unknown[], R>(verb: Verb, fn: (...args: A) => R) =>
    (...args: A): R => {
      counts[verb] += 1;
      return fn(...args);
    };
  const counted: KubeClient = {
    get: count("get", (ref) => inner.get(ref)),
    list: count("list", (...args: Parameters<KubeClient["list"]>) => inner.list(...args)),
    apply: count("apply", (o) => inner.apply(o)),
    mergePatch: count("mergePatch", (ref, patch) => inner.mergePatch(ref, patch)),
    replaceStatus: count("replaceStatus", (o) => inner.replaceStatus(o)),
    delete: count("delete", (ref) => inner.delete(ref)),
    event: count("event", (input) => inner.event(input)),
  };
  return { client: counted, counts };
}

const logger = pino({ level: "warn" });
const { client: apiClient, counts } = countingClient(createKubeClient(kubeConnection(), logger));
let controller: RunningController | undefined;

beforeAll(async () => {
  for (const o of nginxApp(ns, "web", {
    interval: `${INTERVAL_S}s`,
    threshold: 1,
    stepWeight: 50,
    maxWeight: 50,
  }))
    await client.apply(o);
  await client.apply(deployment(ns, "plain", "6.0.0"));
  await client.apply(
    canary(ns, "plain", { provider: "kubernetes", analysis: { interval: `${INTERVAL_S}s`, iterations: 1 } }),
  );
  // An autoscaled one: its HPA and the primary's copy are read from the caches too.
  await client.apply(deployment(ns, "scaled", "6.0.0"));
  await client.apply({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: "scaled", namespace: ns },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "scaled" },
      minReplicas: 1,
      maxReplicas: 3,
    },
  } as KubeObject);
  await client.apply(
    canary(ns, "scaled", {
      provider: "kubernetes",
      autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "scaled" },
      analysis: { interval: `${INTERVAL_S}s`, iterations: 1 },
    }),
  );
  controller = await startController({
    connection: kubeConnection(),
    logger,
    namespaces: [ns],
    defaultProvider: "kubernetes",
    workers: 2,
    apiClient,
  });
}, 120_000);

afterAll(async () => {
  await controller?.stop();
});

const snapshot = () => ({ ...counts });
const writes = (c: Record<Verb, number>) => c.apply + c.mergePatch + c.replaceStatus + c.delete + c.event;

describe("an idle Canary", () => {
  it("costs no API request per tick, then releases on events alone", async () => {
    await Promise.all([
      waitForPhase(client, ns, "web", "Initialized"),
      waitForPhase(client, ns, "plain", "Initialized"),
      waitForPhase(client, ns, "scaled", "Initialized"),
    ]);
    await initializationConverged(client, ns, "web");
    for (const name of ["plain", "scaled"])
      await waitFor(() => getDeployment(client, ns, name), {
        description: `${name} scaled to zero`,
        until: (d) => d?.spec?.replicas === 0,
      });
    // Let the scale-down's last status updates settle into the caches.
    await new Promise((r) => setTimeout(r, 3_000));

    const stats = controller?.cacheStats;
    if (!stats) throw new Error("controller not started");
    const before = snapshot();
    const hitsBefore = stats.hits;
    const skippedBefore = stats.skippedWrites;
    await new Promise((r) => setTimeout(r, 3.5 * INTERVAL_S * 1000));
    const during = Object.fromEntries(
      Object.entries(snapshot()).map(([verb, n]) => [verb, n - before[verb as Verb]]),
    ) as Record<Verb, number>;

    // Three ticks of each Canary happened, each reading its objects from the caches...
    expect(stats.hits - hitsBefore).toBeGreaterThanOrEqual(2 * 3 * 5);
    // ...re-applying the Services and the canary Ingress as no-ops...
    expect(stats.skippedWrites - skippedBefore).toBeGreaterThanOrEqual(2 * 3 * 3);
    // ...and sending nothing to the API server.
    expect(during).toEqual(noRequests());

    // A release still goes through, woken by the Deployment's watch events.
    const beforeRelease = snapshot();
    await setImage(client, ns, "web", `${IMAGE}:6.0.1`);
    await waitForPhase(client, ns, "web", "Succeeded", 120_000);
    expect(imageOf(await getDeployment(client, ns, "web-primary"))).toBe(`${IMAGE}:6.0.1`);
    expect(writes(snapshot()) - writes(beforeRelease)).toBeGreaterThan(0);
  }, 300_000);
});
