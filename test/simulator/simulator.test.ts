// The traffic simulator: its pure parts (routing, latency model, counters, exposition, CloudWatch data)
// and, against the test cluster's apiserver and Prometheus, the whole loop from a canary Ingress weight
// to the ingress-nginx and Envoy series that kanaria's built-in queries read.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { AwsQueryProtocol } from "@aws-sdk/core/protocols";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { kubeConfig, useNamespace, waitFor } from "../support/k8s.ts";
import { metricData, percentile } from "./cloudwatch.ts";
import {
  type ClusterState,
  kubeStateReader,
  type Pod,
  type RouteState,
  type StateReader,
} from "./cluster-state.ts";
import { ENVOY_TIME_BUCKETS_MS, NGINX_TIME_BUCKETS } from "./exposition.ts";
import { canaryRoute, canaryWeightPercent } from "./nginx-weight-source.ts";
import { fitLogNormal, parseSimulatorConfig, type SimulatorConfig, sampleLatencyMs } from "./profiles.ts";
import { seededRandom } from "./random.ts";
import { Simulation } from "./simulation.ts";
import {
  KUBERNETES_LOAD_TEST_SHARE,
  type RunningSimulator,
  startSimulator,
  weightSource,
} from "./simulator.ts";
import { chooseVariant } from "./traffic.ts";

const IMAGE_OK = "ghcr.io/stefanprodan/podinfo:6.0.1";
const IMAGE_FLAKY = "ghcr.io/stefanprodan/podinfo:6.0.2";
const IMAGE_SLOW = "ghcr.io/stefanprodan/podinfo:6.0.3";

const CONFIG: SimulatorConfig = parseSimulatorConfig(
  JSON.stringify({
    profiles: {
      [IMAGE_OK]: { successRate: 1, latencyMs: { p50: 20, p99: 80 } },
      [IMAGE_FLAKY]: { successRate: 0.9, latencyMs: { p50: 20, p99: 80 } },
      [IMAGE_SLOW]: { successRate: 1, latencyMs: { p50: 400, p99: 900 } },
    },
    default: { successRate: 0.5, latencyMs: { p50: 5, p99: 10 } },
  }),
);

// --- helpers ------------------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for the series the simulator writes). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1] || m[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = l[2] as string;
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function sum(samples: Sample[], name: string, match: (labels: Record<string, string>) => boolean): number {
  return samples.filter((s) => s.name === name && match(s.labels)).reduce((acc, s) => acc + s.value, 0);
}

/** histogram_quantile as Prometheus computes it: linear interpolation inside the bucket. */
function histogramQuantile(
  q: number,
  samples: Sample[],
  name: string,
  match: (l: Record<string, string>) => boolean,
) {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !match(s.labels)) continue;
    const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  const rank = q * total;
  let [lowerLe, lowerCount] = [0, 0];
  for (const [le, count] of buckets) {
    if (count >= rank) return lowerLe + ((le - lowerLe) * (rank - lowerCount)) / (count - lowerCount);
    [lowerLe, lowerCount] = [le, count];
  }
  return Number.NaN;
}

function pods(deployment: string, image: string, n: number): Pod[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${deployment}-5d8f7c9b4-p${i}`,
    deployment,
    app: deployment,
    images: [image],
    port: 9898,
  }));
}

const NGINX_ROUTE: RouteState = {
  canaryWeight: 30,
  matchRouting: false,
  nginx: {
    ingress: "podinfo",
    service: "podinfo",
    canaryUpstream: "test-podinfo-canary-80",
    host: "app.example.com",
    path: "/",
  },
};

function state(route: RouteState = NGINX_ROUTE, canaryImage = IMAGE_FLAKY): ClusterState {
  return { route, primary: pods("podinfo-primary", IMAGE_OK, 2), canary: pods("podinfo", canaryImage, 1) };
}

function simulation(rps: number, seed = 42): Simulation {
  return new Simulation({ namespace: "test", rps, config: CONFIG, seed, collectWindow: true });
}

const isCanary = (l: Record<string, string>) => l.canary !== "";
const isPrimary = (l: Record<string, string>) => l.canary === "";

// --- pure logic ---------------------------------------------------------------------------------

describe("simulator: random numbers and latency model", () => {
  it("the seeded PRNG repeats for a seed and differs between seeds", () => {
    const draw = (seed: number) => Array.from({ length: 5 }, seededRandom(seed).next);
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    const random = seededRandom(1);
    const values = Array.from({ length: 20_000 }, random.next);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((a, b) => a + b) / values.length).toBeCloseTo(0.5, 2);
  });

  it("log-normal samples have the configured p50 and p99", () => {
    const random = seededRandom(3);
    for (const latencyMs of [
      { p50: 20, p99: 80 },
      { p50: 400, p99: 900 },
    ]) {
      const model = fitLogNormal(latencyMs);
      const samples = Array.from({ length: 50_000 }, () => sampleLatencyMs(model, random));
      expect(percentile(samples, 50) / latencyMs.p50).toBeCloseTo(1, 1);
      expect(percentile(samples, 99) / latencyMs.p99).toBeCloseTo(1, 1);
    }
  });

  it("rejects invalid profile configs with the offending path", () => {
    expect(() =>
      parseSimulatorConfig('{"profiles": {"x": {"successRate": 1.5, "latencyMs": {"p50": 1, "p99": 2}}}}'),
    ).toThrow(/profiles\.x\.successRate/);
    expect(() =>
      parseSimulatorConfig("profiles:\n  x: {successRate: 1, latencyMs: {p50: 9, p99: 2}}\n"),
    ).toThrow(/p99 must be >= p50/);
    expect(parseSimulatorConfig("rps: 5\n").profiles).toEqual({});
  });
});

describe("simulator: routing", () => {
  const ready = { primary: true, canary: true };
  const share = (route: RouteState, r = ready, headerShare = 0) => {
    const random = seededRandom(11);
    const picks = Array.from({ length: 20_000 }, () => chooseVariant(route, r, headerShare, random));
    return {
      canary: picks.filter((v) => v === "canary").length / picks.length,
      dropped: picks.filter((v) => v === undefined).length / picks.length,
    };
  };

  it("splits by the canary weight", () => {
    expect(share({ canaryWeight: 30, matchRouting: false }).canary).toBeCloseTo(0.3, 1);
    expect(share({ canaryWeight: 0, matchRouting: false }).canary).toBe(0);
    expect(share({ canaryWeight: 100, matchRouting: false }).canary).toBe(1);
  });

  it("sends a canary without ready pods nothing, even at weight 100: its share goes to the primary", () => {
    const s = share({ canaryWeight: 100, matchRouting: false }, { primary: true, canary: false });
    expect(s).toEqual({ canary: 0, dropped: 0 });
  });

  it("simulates no requests when no variant has ready pods for them", () => {
    expect(share({ canaryWeight: 0, matchRouting: false }, { primary: false, canary: true }).dropped).toBe(1);
  });

  it("sends the header/cookie-carrying share to the canary when the router matches on one", () => {
    expect(share({ canaryWeight: 0, matchRouting: true }, ready, 0.25).canary).toBeCloseTo(0.25, 1);
    expect(share({ canaryWeight: 0, matchRouting: false }, ready, 0.25).canary).toBe(0);
  });

  it("reads the nginx canary annotations like ingress-nginx", () => {
    const ingress = (annotations: Record<string, string>): k8s.V1Ingress => ({ metadata: { annotations } });
    const a = (rest: Record<string, string>) => ({ "nginx.ingress.kubernetes.io/canary": "true", ...rest });
    expect(canaryRoute(undefined)).toEqual({ canaryWeight: 0, matchRouting: false });
    expect(canaryRoute(ingress({ "nginx.ingress.kubernetes.io/canary-weight": "30" }))).toEqual({
      canaryWeight: 0,
      matchRouting: false,
    });
    expect(canaryRoute(ingress(a({ "nginx.ingress.kubernetes.io/canary-weight": "30" })))).toEqual({
      canaryWeight: 30,
      matchRouting: false,
    });
    expect(canaryRoute(ingress(a({ "nginx.ingress.kubernetes.io/canary-by-header": "x-canary" })))).toEqual({
      canaryWeight: 0,
      matchRouting: true,
    });
    expect(
      canaryRoute(ingress(a({ "nginx.ingress.kubernetes.io/canary-by-cookie": "canary" }))).matchRouting,
    ).toBe(true);
    expect(
      canaryWeightPercent({
        "nginx.ingress.kubernetes.io/canary-weight": "3",
        "nginx.ingress.kubernetes.io/canary-weight-total": "10",
      }),
    ).toBe(30);
    expect(canaryWeightPercent({ "nginx.ingress.kubernetes.io/canary-weight": "250" })).toBe(100);
    expect(canaryWeightPercent({ "nginx.ingress.kubernetes.io/canary-weight": "lots" })).toBe(0);
  });
});

describe("simulator: simulation and exposition", () => {
  it("adds rps * seconds requests per tick, carrying fractions, and none at rps 0 or without a state", () => {
    const sim = simulation(2.5);
    expect(sim.tick(1)).toEqual([]);
    sim.setState(state());
    const counts = [1, 1, 1, 1].map(() => sim.tick(1).length);
    expect(counts).toEqual([2, 3, 2, 3]);
    const idle = simulation(0);
    idle.setState(state());
    idle.tick(60);
    expect(idle.snapshot().totals).toEqual({
      primary: { requests: 0, errors: 0, latencyMsSum: 0 },
      canary: { requests: 0, errors: 0, latencyMsSum: 0 },
    });
  });

  it("is deterministic for a seed", async () => {
    const run = async (seed: number) => {
      const sim = simulation(100, seed);
      sim.setState(state());
      for (let i = 0; i < 5; i++) sim.tick(1);
      return { snapshot: sim.snapshot().totals, text: await sim.exposition.text() };
    };
    expect(await run(5)).toEqual(await run(5));
    expect((await run(5)).snapshot).not.toEqual((await run(6)).snapshot);
  });

  it("exposes ingress-nginx series labelled as ingress-nginx labels canary traffic", async () => {
    const sim = simulation(1000);
    sim.setState(state());
    for (let i = 0; i < 10; i++) sim.tick(1);
    const samples = parseExposition(await sim.exposition.text());
    const requests = samples.filter((s) => s.name === "nginx_ingress_controller_requests");
    expect(new Set(requests.map((s) => s.labels.canary))).toEqual(new Set(["", "test-podinfo-canary-80"]));
    for (const s of requests) {
      expect(s.labels).toMatchObject({
        namespace: "test",
        ingress: "podinfo",
        service: "podinfo",
        method: "GET",
        path: "/",
        host: "app.example.com",
        controller_class: "k8s.io/ingress-nginx",
      });
      expect(s.labels.status).toMatch(/^(200|500)$/);
    }
    const total = sum(samples, "nginx_ingress_controller_requests", () => true);
    const canary = sum(samples, "nginx_ingress_controller_requests", isCanary);
    expect(total).toBe(10_000);
    expect(canary / total).toBeCloseTo(0.3, 1);
    const canaryErrors = sum(
      samples,
      "nginx_ingress_controller_requests",
      (l) => isCanary(l) && l.status === "500",
    );
    expect(canaryErrors / canary).toBeCloseTo(0.1, 1);
    expect(sum(samples, "nginx_ingress_controller_requests", (l) => isPrimary(l) && l.status === "500")).toBe(
      0,
    );

    const les = samples
      .filter(
        (s) => s.name === "nginx_ingress_controller_request_duration_seconds_bucket" && isCanary(s.labels),
      )
      .filter((s) => s.labels.status === "200")
      .map((s) => s.labels.le);
    expect(les).toEqual([...NGINX_TIME_BUCKETS.map(String), "+Inf"]);
    expect(sum(samples, "nginx_ingress_controller_request_duration_seconds_count", () => true)).toBe(10_000);
    // Configured p99 80 ms: histogram_quantile lands in its bucket (50..100 ms).
    const p99 = histogramQuantile(
      0.99,
      samples,
      "nginx_ingress_controller_request_duration_seconds",
      isPrimary,
    );
    expect(p99).toBeGreaterThan(0.05);
    expect(p99).toBeLessThanOrEqual(0.1);
  });

  it("exposes Envoy series per ready pod, matching the App Mesh queries' pod name pattern", async () => {
    const sim = simulation(1000);
    sim.setState(state(NGINX_ROUTE, IMAGE_SLOW));
    for (let i = 0; i < 10; i++) sim.tick(1);
    const samples = parseExposition(await sim.exposition.text());
    const rq = samples.filter((s) => s.name === "envoy_cluster_upstream_rq");
    expect(new Set(rq.map((s) => s.labels.kubernetes_pod_name))).toEqual(
      new Set(["podinfo-primary-5d8f7c9b4-p0", "podinfo-primary-5d8f7c9b4-p1", "podinfo-5d8f7c9b4-p0"]),
    );
    for (const s of rq) {
      expect(s.labels.kubernetes_namespace).toBe("test");
      expect(s.labels.envoy_cluster_name).toBe(`cds_ingress_test_${s.labels.app}_http_9898`);
      expect(s.labels.envoy_response_code).toMatch(/^(200|500)$/);
    }
    // The canary's pods only: "<target>-<rs hash>-<pod hash>" (as in Flagger's App Mesh query).
    const canaryPod = (l: Record<string, string>) =>
      /^podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/.test(l.kubernetes_pod_name ?? "");
    const canary = sum(samples, "envoy_cluster_upstream_rq", canaryPod);
    expect(canary / sum(samples, "envoy_cluster_upstream_rq", () => true)).toBeCloseTo(0.3, 1);
    const les = samples.filter(
      (s) => s.name === "envoy_cluster_upstream_rq_time_bucket" && canaryPod(s.labels),
    );
    expect(les.map((s) => s.labels.le)).toEqual([...ENVOY_TIME_BUCKETS_MS.map(String), "+Inf"]);
    // Configured p99 900 ms: in the 500..1000 ms bucket.
    const p99 = histogramQuantile(0.99, samples, "envoy_cluster_upstream_rq_time", canaryPod);
    expect(p99).toBeGreaterThan(500);
    expect(p99).toBeLessThanOrEqual(1000);
  });

  it("exposes the application's own histogram per pod, as Flagger's kubernetes and nginx e2e queries read it", async () => {
    const sim = simulation(1000);
    sim.setState(state(NGINX_ROUTE, IMAGE_FLAKY));
    for (let i = 0; i < 10; i++) sim.tick(1);
    const samples = parseExposition(await sim.exposition.text());
    const counts = samples.filter((s) => s.name === "http_request_duration_seconds_count");
    expect(new Set(counts.map((s) => s.labels.kubernetes_pod_name))).toEqual(
      new Set(["podinfo-primary-5d8f7c9b4-p0", "podinfo-primary-5d8f7c9b4-p1", "podinfo-5d8f7c9b4-p0"]),
    );
    for (const s of counts) {
      expect(s.labels).toMatchObject({ kubernetes_namespace: "test", method: "GET", path: "root" });
      expect(s.labels.status).toMatch(/^(200|500)$/);
    }
    // Flagger's kubernetes request-success-rate: the canary's pods, non-5xx over all.
    const canaryPod = (l: Record<string, string>) =>
      /^podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/.test(l.kubernetes_pod_name ?? "");
    const all = sum(samples, "http_request_duration_seconds_count", canaryPod);
    const ok = sum(samples, "http_request_duration_seconds_count", (l) => canaryPod(l) && l.status === "200");
    expect(all / sum(samples, "http_request_duration_seconds_count", () => true)).toBeCloseTo(0.3, 1);
    expect(ok / all).toBeCloseTo(0.9, 1);
    const les = samples.filter(
      (s) => s.name === "http_request_duration_seconds_bucket" && canaryPod(s.labels),
    );
    expect([...new Set(les.map((s) => s.labels.le))]).toEqual([...NGINX_TIME_BUCKETS.map(String), "+Inf"]);
    // Configured p99 80 ms: in the 50..100 ms bucket, in seconds.
    const p99 = histogramQuantile(0.99, samples, "http_request_duration_seconds", canaryPod);
    expect(p99).toBeGreaterThan(0.05);
    expect(p99).toBeLessThanOrEqual(0.1);
  });

  it("behind a Gateway API router: the application's histogram, which the built-in checks read there, and no Envoy sidecar series", async () => {
    const sim = new Simulation({
      namespace: "test",
      rps: 1000,
      config: CONFIG,
      seed: 42,
      collectWindow: false,
      envoy: false,
    });
    sim.setState(state({ canaryWeight: 30, matchRouting: false }, IMAGE_FLAKY));
    for (let i = 0; i < 10; i++) sim.tick(1);
    const samples = parseExposition(await sim.exposition.text());
    expect(samples.some((s) => s.name.startsWith("envoy_"))).toBe(false);
    const canaryPod = (l: Record<string, string>) =>
      /^podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/.test(l.kubernetes_pod_name ?? "");
    const all = sum(samples, "http_request_duration_seconds_count", canaryPod);
    const ok = sum(samples, "http_request_duration_seconds_count", (l) => canaryPod(l) && l.status === "200");
    expect(all / sum(samples, "http_request_duration_seconds_count", () => true)).toBeCloseTo(0.3, 1);
    expect(ok / all).toBeCloseTo(0.9, 1);
  });

  it("exposes Istio's gateway series per workload, as Flagger's gatewayapi e2e templates read them", async () => {
    const sim = simulation(1000);
    sim.setState(state({ canaryWeight: 30, matchRouting: false }, IMAGE_SLOW));
    for (let i = 0; i < 10; i++) sim.tick(1);
    const samples = parseExposition(await sim.exposition.text());
    const rq = samples.filter((s) => s.name === "istio_requests_total");
    expect(new Set(rq.map((s) => s.labels.destination_workload))).toEqual(
      new Set(["podinfo", "podinfo-primary"]),
    );
    for (const s of rq) {
      expect(s.labels).toMatchObject({ reporter: "source", destination_workload_namespace: "test" });
    }
    // destination_workload=~"podinfo" is anchored: the canary's Deployment only.
    const canary = (l: Record<string, string>) => l.destination_workload === "podinfo";
    expect(
      sum(samples, "istio_requests_total", canary) / sum(samples, "istio_requests_total", () => true),
    ).toBeCloseTo(0.3, 1);
    // Configured p99 900 ms: in the 500..1000 ms bucket, in milliseconds.
    const p99 = histogramQuantile(0.99, samples, "istio_request_duration_milliseconds", canary);
    expect(p99).toBeGreaterThan(500);
    expect(p99).toBeLessThanOrEqual(1000);
  });

  it("has no ingress-nginx series when the router is not ingress-nginx, and counters never go back", async () => {
    const sim = simulation(100);
    sim.setState(state({ canaryWeight: 50, matchRouting: false }));
    sim.tick(1);
    const first = parseExposition(await sim.exposition.text());
    expect(first.some((s) => s.name.startsWith("nginx_"))).toBe(false);
    sim.setState({ ...state({ canaryWeight: 50, matchRouting: false }), canary: [] });
    sim.tick(1);
    const second = parseExposition(await sim.exposition.text());
    for (const s of first.filter((f) => f.name === "envoy_cluster_upstream_rq")) {
      const after = second.find(
        (a) => a.name === s.name && JSON.stringify(a.labels) === JSON.stringify(s.labels),
      );
      expect(after?.value).toBeGreaterThanOrEqual(s.value);
    }
    expect(sim.snapshot().totals.primary.requests + sim.snapshot().totals.canary.requests).toBe(200);
  });

  it("gives images without a profile the default profile", () => {
    const sim = simulation(1000);
    sim.setState(state({ canaryWeight: 100, matchRouting: false }, "example.com/unknown:1"));
    sim.tick(10);
    const { canary } = sim.snapshot().totals;
    expect(canary.requests).toBe(10_000);
    expect(canary.errors / canary.requests).toBeCloseTo(0.5, 1);
  });

  it("turns a window into CloudWatch datapoints per variant, none for a variant without requests", () => {
    const sim = simulation(1000);
    sim.setState(state({ ...NGINX_ROUTE, canaryWeight: 0 }));
    sim.tick(1);
    const data = metricData({ namespace: "test", target: "podinfo" }, sim.drainWindow(), new Date(0));
    expect(data.map((d) => d.MetricName)).toEqual(["RequestCount", "ErrorCount", "LatencyP99"]);
    expect(data[0]).toMatchObject({
      Value: 1000,
      Unit: "Count",
      Dimensions: [
        { Name: "Namespace", Value: "test" },
        { Name: "Target", Value: "podinfo" },
        { Name: "Variant", Value: "primary" },
      ],
    });
    expect(data[1]?.Value).toBe(0);
    expect(data[2]?.Value).toBeGreaterThan(40);
    expect(data[2]?.Value).toBeLessThan(160);
    expect(sim.drainWindow().primary.requests).toBe(0);
    expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5);
    expect(percentile([5, 1, 4, 2, 3], 40)).toBe(2);
  });
});

describe("simulator: server", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "kanaria-simulator-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves /metrics on 127.0.0.1, registers with file_sd, follows the state and cleans up", async () => {
    let current = state();
    const reader: StateReader = { read: async () => current };
    const sim = await startSimulator({
      namespace: "test",
      target: "podinfo",
      rps: 100,
      config: CONFIG,
      reader,
      pollIntervalMs: 20,
      tickIntervalMs: 20,
      prometheusTargetsDir: dir,
      log: () => {},
    });
    try {
      expect(sim.url).toBe(`http://127.0.0.1:${sim.port}/metrics`);
      const file = path.join(dir, `simulator-${sim.port}.json`);
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual([
        { targets: [`127.0.0.1:${sim.port}`], labels: { job: "simulator" } },
      ]);
      await waitFor(() => sim.snapshot().totals.canary.requests, {
        description: "canary requests",
        until: (n) => n > 0,
      });
      const res = await fetch(sim.url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await res.text()).toContain("nginx_ingress_controller_requests{");
      expect((await fetch(`http://127.0.0.1:${sim.port}/other`)).status).toBe(404);

      current = { ...current, canary: [] };
      await waitFor(() => sim.snapshot().state?.canary.length, {
        description: "new state",
        until: (n) => n === 0,
      });
      const before = sim.snapshot().totals;
      await waitFor(() => sim.snapshot().totals.primary.requests, {
        description: "more primary requests",
        until: (n) => n > before.primary.requests + 10,
      });
      expect(sim.snapshot().totals.canary.requests).toBe(before.canary.requests);
    } finally {
      await sim.stop();
    }
    expect(readdirSync(dir)).toEqual([]);
    await expect(fetch(sim.url)).rejects.toThrow();
    await sim.stop();
  });

  it("fails to start when the first cluster read fails", async () => {
    const reader: StateReader = { read: () => Promise.reject(new Error("no apiserver")) };
    await expect(startSimulator({ namespace: "t", target: "p", reader, log: () => {} })).rejects.toThrow(
      /no apiserver/,
    );
  });
});

// --- against the test cluster -------------------------------------------------------------------

const prometheusUrl = inject("prometheusUrl");
const targetsDir = inject("prometheusTargetsDir");
const cloudwatchEndpoint = inject("cloudwatchEndpoint");

async function promQuery(query: string): Promise<number | undefined> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
  if (body.status !== "success") throw new Error(`query failed: ${JSON.stringify(body)}`);
  const value = body.data.result[0]?.value[1];
  return value === undefined ? undefined : Number(value);
}

describe.skipIf(!prometheusUrl || !targetsDir)("simulator: against the cluster and Prometheus", () => {
  const ns = useNamespace("simulator");
  const run = randomBytes(4).toString("hex");
  const cloudwatchNamespace = `Kanaria/SimulatorTest/${run}`;
  let apps: k8s.AppsV1Api;
  let sim: RunningSimulator | undefined;

  function deployment(name: string, image: string, replicas: number): k8s.V1Deployment {
    const labels = { app: name };
    return {
      metadata: { name, namespace: ns, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        // Nothing pulls or runs the image: KWOK fakes the pods, the simulator their traffic.
        template: {
          metadata: { labels },
          spec: { containers: [{ name: "podinfo", image, ports: [{ containerPort: 9898 }] }] },
        },
      },
    };
  }

  function ingress(name: string, service: string, annotations: Record<string, string> = {}): k8s.V1Ingress {
    const backend = { service: { name: service, port: { number: 80 } } };
    return {
      metadata: { name, namespace: ns, annotations },
      spec: {
        ingressClassName: "nginx",
        rules: [{ host: "app.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend }] } }],
      },
    };
  }

  beforeAll(async () => {
    const kc = kubeConfig();
    apps = kc.makeApiClient(k8s.AppsV1Api);
    const net = kc.makeApiClient(k8s.NetworkingV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: deployment("podinfo-primary", IMAGE_OK, 2),
    });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("podinfo", IMAGE_FLAKY, 1) });
    await net.createNamespacedIngress({ namespace: ns, body: ingress("podinfo", "podinfo") });
    await net.createNamespacedIngress({
      namespace: ns,
      body: ingress("podinfo-canary", "podinfo-canary", {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "30",
      }),
    });
    sim = await startSimulator({
      kubeconfig: inject("kubeconfig"),
      namespace: ns,
      target: "podinfo",
      rps: 200,
      config: CONFIG,
      prometheusTargetsDir: targetsDir,
      cloudwatch: cloudwatchEndpoint
        ? { endpoint: cloudwatchEndpoint, namespace: cloudwatchNamespace, intervalMs: 2000 }
        : undefined,
    });
  });

  afterAll(async () => {
    await sim?.stop();
  });

  it("reads the canary weight and the ready pods from the cluster", async () => {
    const snapshot = await waitFor(() => sim?.snapshot(), {
      description: "the simulator to see 2 primary and 1 canary ready pods",
      until: (s) => s?.state?.primary.length === 2 && s.state.canary.length === 1,
    });
    expect(snapshot?.state?.route).toEqual({
      canaryWeight: 30,
      matchRouting: false,
      nginx: {
        ingress: "podinfo",
        service: "podinfo",
        canaryUpstream: `${ns}-podinfo-canary-80`,
        host: "app.example.com",
        path: "/",
      },
    });
    expect(snapshot?.state?.canary[0]?.images).toEqual([IMAGE_FLAKY]);
    expect(snapshot?.state?.canary[0]?.name).toMatch(/^podinfo-[0-9a-z]+-[0-9a-z]+$/);
  });

  it("Prometheus sees ~30% canary traffic with the canary profile's success rate and latency", async () => {
    const sel = `namespace="${ns}",ingress="podinfo"`;
    await waitFor(() => promQuery(`sum(nginx_ingress_controller_requests{${sel}})`), {
      description: "Prometheus to have scraped >= 2000 simulated requests",
      timeoutMs: 90_000,
      intervalMs: 1000,
      until: (v) => (v ?? 0) >= 2000,
    });
    const rate = (labels: string) => `sum(rate(nginx_ingress_controller_requests{${sel}${labels}}[5m]))`;
    const canaryShare = await promQuery(`${rate(',canary!=""')} / ${rate("")}`);
    const canarySuccess = await promQuery(`${rate(',canary!="",status!~"5.."')} / ${rate(',canary!=""')}`);
    const primarySuccess = await promQuery(`${rate(',canary="",status!~"5.."')} / ${rate(',canary=""')}`);
    expect(canaryShare).toBeGreaterThan(0.25);
    expect(canaryShare).toBeLessThan(0.35);
    expect(canarySuccess).toBeGreaterThan(0.85);
    expect(canarySuccess).toBeLessThan(0.95);
    expect(primarySuccess).toBe(1);

    const p99 = await promQuery(
      `histogram_quantile(0.99, sum(rate(nginx_ingress_controller_request_duration_seconds_bucket{${sel},canary!=""}[5m])) by (le))`,
    );
    expect(p99).toBeGreaterThan(0.05);
    expect(p99).toBeLessThanOrEqual(0.1);

    // Flagger's App Mesh query shape: the canary's pods by name, not the primary's.
    const pod = `kubernetes_namespace="${ns}",kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`;
    const envoyShare = await promQuery(
      `sum(rate(envoy_cluster_upstream_rq{${pod}}[5m])) / sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="${ns}"}[5m]))`,
    );
    expect(envoyShare).toBeGreaterThan(0.25);
    expect(envoyShare).toBeLessThan(0.35);
  });

  it.skipIf(!cloudwatchEndpoint)("pushes the figures to CloudWatch", async () => {
    const client = new CloudWatchClient({
      endpoint: cloudwatchEndpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
      protocol: new AwsQueryProtocol({
        defaultNamespace: "com.amazonaws.cloudwatch",
        xmlNamespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
        version: "2010-08-01",
      }),
    });
    const stat = (Id: string, MetricName: string, Stat: string) => ({
      Id,
      MetricStat: {
        Metric: {
          Namespace: cloudwatchNamespace,
          MetricName,
          Dimensions: [
            { Name: "Namespace", Value: ns },
            { Name: "Target", Value: "podinfo" },
            { Name: "Variant", Value: "canary" },
          ],
        },
        Period: 3600,
        Stat,
      },
    });
    const values = await waitFor(
      async () => {
        const now = Date.now();
        const out = await client.send(
          new GetMetricDataCommand({
            StartTime: new Date(now - 3600_000),
            EndTime: new Date(now + 60_000),
            MetricDataQueries: [
              stat("requests", "RequestCount", "Sum"),
              stat("errors", "ErrorCount", "Sum"),
              stat("p99", "LatencyP99", "Average"),
            ],
          }),
        );
        return Object.fromEntries((out.MetricDataResults ?? []).map((r) => [r.Id, r.Values?.[0] ?? 0]));
      },
      {
        description: "canary datapoints in CloudWatch",
        timeoutMs: 30_000,
        until: (v) => (v.requests ?? 0) >= 300,
      },
    );
    client.destroy();
    expect((values.errors ?? 0) / (values.requests ?? 1)).toBeGreaterThan(0.05);
    expect((values.errors ?? 0) / (values.requests ?? 1)).toBeLessThan(0.15);
    expect(values.p99).toBeGreaterThan(40);
    expect(values.p99).toBeLessThan(200);
  });

  it("sends a canary scaled to zero nothing, even at weight 30", async () => {
    await apps.patchNamespacedDeploymentScale(
      { name: "podinfo", namespace: ns, body: [{ op: "replace", path: "/spec/replicas", value: 0 }] },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
    await waitFor(() => sim?.snapshot().state?.canary.length, {
      description: "the simulator to see no ready canary pods",
      until: (n) => n === 0,
    });
    const before = sim?.snapshot().totals;
    await waitFor(() => sim?.snapshot().totals.primary.requests ?? 0, {
      description: "200 more primary requests",
      until: (n) => n >= (before?.primary.requests ?? 0) + 200,
    });
    expect(sim?.snapshot().totals.canary.requests).toBe(before?.canary.requests);
    expect(sim?.snapshot().state?.route.canaryWeight).toBe(30);
  });

  it("reads a DaemonSet's ready pods when no Deployment has the name; kubernetes: the load tester's share", async () => {
    const labels = { "app.kubernetes.io/name": "agent" };
    await apps.createNamespacedDaemonSet({
      namespace: ns,
      body: {
        metadata: { name: "agent", namespace: ns },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: "podinfo", image: IMAGE_OK, ports: [{ containerPort: 9898 }] }] },
          },
        },
      },
    });
    const kc = kubeConfig();
    const reader = kubeStateReader(
      kc,
      ns,
      "agent",
      weightSource(kc, { namespace: ns, target: "agent", router: "kubernetes" }),
    );
    // The DaemonSet controller puts one pod on each KWOK node; there is no agent-primary.
    const seen = await waitFor(() => reader.read(), {
      description: "the DaemonSet's pods ready on the fake nodes",
      until: (s) => s.canary.length >= 1 && s.canary.every((p) => p.images[0] === IMAGE_OK),
    });
    expect(seen.primary).toEqual([]);
    expect(seen.canary.map((p) => [p.deployment, p.app])).toEqual(seen.canary.map(() => ["agent", "agent"]));
    expect(seen.canary[0]?.name).toMatch(/^agent-[0-9a-z]+$/);
    expect(seen.route).toEqual({ canaryWeight: KUBERNETES_LOAD_TEST_SHARE, matchRouting: false });
  });

  it("removes its file_sd registration on stop", async () => {
    const file = path.join(targetsDir, `simulator-${sim?.port}.json`);
    expect(existsSync(file)).toBe(true);
    await sim?.stop();
    expect(existsSync(file)).toBe(false);
  });
});
