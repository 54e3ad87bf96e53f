// The canary-vs-primary judge end to end: the traffic simulator behind the test Prometheus, the real
// controller, and metrics with `compare` instead of fixed thresholds. A canary 20 % slower than the
// primary, yet far below any fixed threshold, is rolled back by the judge alone; an equal one is
// promoted. (A noisy but equal canary passing in at least 19 of 20 seeded runs is a property test of
// the judge itself: src/stats/compare.test.ts.)
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  getDeployment,
  imageOf,
  initializationConverged,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";
import { startTraffic } from "../support/traffic.ts";

const prometheusUrl = inject("prometheusUrl");
const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const BASE = { successRate: 1, latencyMs: { p50: 100, p99: 300 } };
const SLOWER = { successRate: 1, latencyMs: { p50: 120, p99: 360 } };
const RPS = 200;

const ns = useNamespace("e2e-judge");
const client = testClient();
useController(ns, () => ["--metrics-server", prometheusUrl]);
const stoppers: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
});

/**
 * Mean request time of `{{ target }}`'s pods from their Envoy histogram: exact (no buckets), so a
 * 20 % slower canary is 20 % slower in this metric too.
 */
const pods =
  'kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"';
const meanLatency: KubeObject = {
  apiVersion: API_VERSION,
  kind: "MetricTemplate",
  metadata: { name: "mean-latency", namespace: ns },
  spec: {
    provider: { type: "prometheus", address: prometheusUrl },
    query: `sum(rate(envoy_cluster_upstream_rq_time_sum{${pods}}[{{ interval }}])) / sum(rate(envoy_cluster_upstream_rq_time_count{${pods}}[{{ interval }}]))`,
  },
} as KubeObject;

const analysis: CanarySpec["analysis"] = {
  interval: "10s",
  threshold: 2,
  stepWeight: 25,
  maxWeight: 50,
  metrics: [
    // Fixed thresholds both versions meet with a wide margin.
    { name: "request-success-rate", interval: "15s", thresholdRange: { min: 99 } },
    {
      name: "request-duration",
      interval: "15s",
      thresholdRange: { max: 5000 },
      compare: { direction: "increase" },
    },
    {
      name: "mean-latency",
      interval: "15s",
      templateRef: { name: "mean-latency" },
      thresholdRange: { max: 2000 },
      compare: { against: "primary", direction: "increase", tolerance: 0.1, confidence: 0.98 },
    },
  ],
};

async function setUp(name: string, profile: typeof BASE): Promise<void> {
  for (const o of nginxApp(ns, name, analysis)) await client.apply(o);
  const traffic = await startTraffic(ns, name, { rps: RPS, profiles: { [OLD]: BASE, [NEW]: profile } });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, name, "Initialized");
  await initializationConverged(client, ns, name);
}

/**
 * The new image, with the container's port: a JSON merge patch replaces the containers list as a
 * whole (support's setImage drops the port, which the controller then reports as a bad targetPort).
 */
const release = (name: string) =>
  client.mergePatch(
    { apiVersion: "apps/v1", kind: "Deployment", namespace: ns, name },
    {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "podinfod",
                image: NEW,
                ports: [{ name: "http", containerPort: 9898, protocol: "TCP" }],
              },
            ],
          },
        },
      },
    },
  );

const check = (c: Canary, metric: string) => c.status?.checks?.find((x) => x.name === metric);

describe.skipIf(!prometheusUrl)("the canary-vs-primary judge (Mann-Whitney U)", () => {
  describe.concurrent("judging the canary against the primary", () => {
    it("rolls back a canary 20 % slower than the primary, though both are far under the fixed thresholds", async () => {
      await client.apply(meanLatency);
      await setUp("slower", SLOWER);
      await release("slower");
      const failed = await waitForPhase(client, ns, "slower", "Failed", 120_000);

      const mean = check(failed, "mean-latency");
      expect(mean?.result).toBe("fail");
      expect(mean?.value, "the canary's mean is nowhere near the fixed maximum").toBeLessThan(500);
      const comparison = mean?.comparison;
      expect(comparison?.effectSize).toBeGreaterThan(0.12);
      expect(comparison?.effectSize).toBeLessThan(0.3);
      expect(comparison?.pValue).toBeLessThan(0.02);
      expect(comparison?.canarySamples).toBeGreaterThanOrEqual(5);
      expect(comparison?.primarySamples).toBeGreaterThanOrEqual(5);
      expect(mean?.message).toMatch(
        /^mean-latency \d+\.\d+ is within the range \(maximum 2000\) \(prometheus\); mean-latency: canary median \d+\.\d+ vs primary median \d+\.\d+ \(effect \+\d+\.\d %, tolerance 10\.0 %\), p-value \S+ \(confidence 0\.98\): significantly higher than the primary beyond the tolerance \(prometheus\)$/,
      );
      expect(check(failed, "request-success-rate")?.result).toBe("pass");
      const rolledBack = (await canaryEvents(client, ns, "slower")).filter((e) => e.reason === "RolledBack");
      expect(rolledBack).toHaveLength(1);
      expect(rolledBack[0]?.message).toMatch(
        /failed checks threshold reached 2\/2: .*mean-latency: canary median .*significantly higher than the primary/,
      );
      expect(imageOf(await getDeployment(client, ns, "slower-primary"))).toBe(OLD);
    }, 150_000);

    it("promotes a canary that behaves like the primary, with both comparisons passing", async () => {
      await client.apply(meanLatency);
      await setUp("equal", BASE);
      await release("equal");
      const done = await waitForPhase(client, ns, "equal", "Succeeded", 120_000);

      for (const name of ["request-duration", "mean-latency"]) {
        const c = check(done, name);
        expect(c?.result, `${name}: ${c?.message}`).toBe("pass");
        expect(c?.comparison?.canarySamples).toBeGreaterThanOrEqual(5);
      }
      // The exact mean of equal versions differs by noise only (the p99 is read from buckets, noisier).
      expect(Math.abs(check(done, "mean-latency")?.comparison?.effectSize ?? 1)).toBeLessThan(0.1);
      expect(imageOf(await getDeployment(client, ns, "equal-primary"))).toBe(NEW);
      const events = await canaryEvents(client, ns, "equal");
      expect(events.filter((e) => e.reason === "RolledBack")).toEqual([]);
    }, 150_000);
  });
});
