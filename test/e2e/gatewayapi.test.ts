// Metric analysis end to end on Gateway API: a real API server with the Gateway API CRDs, the test
// Prometheus scraping the traffic simulator (which reads the split from the HTTPRoute and serves the
// application's own http_request_duration_seconds per pod, and no Envoy sidecar series), and the real
// controller process judging the built-in gatewayapi checks request-success-rate (min 99 %) and
// request-duration (p99, max 500 ms). The Gateway names no implementation the built-ins know (it does
// not exist here), so they read the application's histogram, as Flagger's gatewayapi built-ins do.
import pino from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import { apiServerWatchSource, Watcher } from "../../src/kube/watcher.ts";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import {
  canaryEvents,
  getDeployment,
  imageOf,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE } from "../support/manifests.ts";
import { startTraffic } from "../support/traffic.ts";

const prometheusUrl = inject("prometheusUrl");
const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const HEALTHY = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };
const RPS = 200;
const GATEWAY = { name: "public", namespace: "gateways" };
const CHECKS = (interval = "15s") => [
  { name: "request-success-rate", interval, thresholdRange: { min: 99 } },
  { name: "request-duration", interval, thresholdRange: { max: 500 } },
];

const ns = useNamespace("e2e-gatewayapi");
const client = testClient();
useController(ns, () => ["--metrics-server", prometheusUrl]);
const stoppers: (() => Promise<void>)[] = [];
// Registered after useController's, so it runs first: the simulators stop before the controller.
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
});

/** What the HTTPRoute routes: the canary backend's weight, and whether an A/B rule or a mirror is on. */
interface RouteView {
  weight: string;
  ab: boolean;
  mirror: boolean;
}

function routeView(route: HTTPRoute, name: string): RouteView {
  const rules = route.spec?.rules ?? [];
  const weighted = rules.find((r) => r.backendRefs?.length === 2);
  const canaryRef = weighted?.backendRefs?.find((b) => b.name === `${name}-canary`);
  return {
    weight: canaryRef ? String(canaryRef.weight) : "-",
    ab: rules.some((r) => r.backendRefs?.length === 1 && r.backendRefs[0]?.name === `${name}-canary`),
    mirror: (weighted?.filters ?? []).some((f) => f.type === "RequestMirror"),
  };
}

/**
 * Every state the HTTPRoute of `name` passes through, from a watch of the namespace's routes. Polling
 * misses a state the controller holds for less than a poll (blue/green's switch to the canary lasts
 * only until the primary's copy is ready, a few hundred ms on fake nodes).
 */
async function recordRoute<T>(
  name: string,
  view: (v: RouteView) => T,
): Promise<{ stop: () => Promise<T[]> }> {
  const seen: T[] = [];
  const record = (route: HTTPRoute) => {
    if (route.metadata.name !== name) return;
    const v = view(routeView(route, name));
    if (seen.length === 0 || JSON.stringify(seen.at(-1)) !== JSON.stringify(v)) seen.push(v);
  };
  const source = apiServerWatchSource<HTTPRoute>(
    kubeConnection(),
    { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", namespace: ns },
    60_000,
  );
  const watcher = new Watcher(
    source,
    { onAdd: record, onUpdate: record },
    { logger: pino({ level: "silent" }) },
  );
  await watcher.start();
  return {
    async stop() {
      await watcher.stop();
      return seen;
    },
  };
}
const recordWeights = (name: string) => recordRoute(name, (v) => v.weight);
const recordViews = (name: string) => recordRoute(name, (v) => v);

async function routeWeight(name: string): Promise<string> {
  const ref = { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", namespace: ns, name };
  const route = await client.get<HTTPRoute>(ref);
  return route ? routeView(route, name).weight : "-";
}

interface Scenario {
  name: string;
  analysis: CanarySpec["analysis"];
  profile: { successRate: number; latencyMs: { p50: number; p99: number } };
  headerShare?: number;
}

/** Deployment + generated-route Canary with the built-in checks, traffic on, initialized and converged. */
async function setUp(s: Scenario): Promise<void> {
  await client.apply(deployment(ns, s.name, "6.0.0"));
  await client.apply(
    canary(ns, s.name, {
      provider: "gatewayapi",
      service: { port: 80, targetPort: 9898, gatewayRefs: [GATEWAY], hosts: [`${s.name}.example.test`] },
      analysis: s.analysis,
    }),
  );
  const traffic = await startTraffic(ns, s.name, {
    rps: RPS,
    router: "gatewayapi",
    profiles: { [OLD]: HEALTHY, [NEW]: s.profile },
    ...(s.headerShare !== undefined && { headerShare: s.headerShare }),
  });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, s.name, "Initialized");
  await waitFor(
    async () => [(await getDeployment(client, ns, s.name))?.spec?.replicas, await routeWeight(s.name)],
    {
      description: `${s.name} scaled to zero and its HTTPRoute at weight 0`,
      until: ([replicas, weight]) => replicas === 0 && weight === "0",
      timeoutMs: 30_000,
    },
  );
}

// The whole manifest, as a GitOps tool applies it (a merge patch of the image would drop the ports list).
const release = (name: string) => client.apply(deployment(ns, name, "6.0.1"));
const check = (c: Canary, metric: string) => c.status?.checks?.find((x) => x.name === metric);
const messages = async (name: string) => (await canaryEvents(client, ns, name)).map((e) => e.message);

async function promoted(name: string): Promise<void> {
  expect(imageOf(await getDeployment(client, ns, `${name}-primary`))).toBe(NEW);
  const all = await messages(name);
  expect(all.filter((m) => m.startsWith("Promotion completed!"))).toHaveLength(1);
  expect(all.filter((m) => m.startsWith("Canary failed!"))).toEqual([]);
}

describe.skipIf(!prometheusUrl)("metric analysis with the built-in gatewayapi checks (app histogram)", () => {
  describe.concurrent("judging the new version", () => {
    it("promotes a healthy version, every weight of the release seen on the HTTPRoute", async () => {
      await setUp({
        name: "healthy",
        analysis: { interval: "10s", threshold: 2, stepWeight: 25, maxWeight: 50, metrics: CHECKS() },
        profile: HEALTHY,
      });
      const weights = await recordWeights("healthy");
      await release("healthy");
      const done = await waitForPhase(client, ns, "healthy", "Succeeded", 120_000);

      expect(await weights.stop()).toEqual(["0", "25", "50", "0"]);
      expect(done.status).toMatchObject({ canaryWeight: 0, failedChecks: 0 });
      expect(check(done, "request-success-rate")).toMatchObject({ result: "pass", value: 100 });
      const p99 = check(done, "request-duration")?.value ?? Number.NaN;
      // 80 ms configured: the histogram interpolates inside its 50-100 ms bucket (or 100-250 ms).
      expect(p99).toBeGreaterThan(20);
      expect(p99).toBeLessThan(250);
      await promoted("healthy");
      // Which series, and why: the router's default, Flagger's HttpObserver, told once.
      const told = (await canaryEvents(client, ns, "healthy")).filter((e) => e.reason === "BuiltinMetrics");
      expect(told.map((e) => e.message)).toEqual([
        expect.stringMatching(
          /^the built-in metrics read the application's own histogram \(http_request_duration_seconds\), the router's default: Gateway gateways\/public: /,
        ),
      ]);
    }, 150_000);

    it("rolls back a version with 10 % errors, naming the metric", async () => {
      await setUp({
        name: "errors",
        analysis: { interval: "10s", threshold: 2, stepWeight: 25, maxWeight: 50, metrics: CHECKS() },
        profile: { successRate: 0.9, latencyMs: { p50: 20, p99: 80 } },
      });
      const weights = await recordWeights("errors");
      await release("errors");
      const failed = await waitForPhase(client, ns, "errors", "Failed", 120_000);
      await waitFor(() => routeWeight("errors"), {
        description: "the HTTPRoute back at canary weight 0",
        until: (w) => w === "0",
        timeoutMs: 15_000,
      });

      expect(await weights.stop()).toEqual(["0", "25", "0"]);
      const rate = check(failed, "request-success-rate")?.value ?? Number.NaN;
      expect(rate).toBeGreaterThan(80);
      expect(rate).toBeLessThan(99);
      const rolledBack = (await canaryEvents(client, ns, "errors")).filter((e) => e.reason === "RolledBack");
      expect(rolledBack.map((e) => e.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Canary failed! Rolling back errors\\.${ns}: failed checks threshold reached 2/2: ` +
              "request-success-rate \\d+\\.\\d+ is below the minimum 99 \\(prometheus\\)$",
          ),
        ),
      ]);
      expect(imageOf(await getDeployment(client, ns, "errors-primary"))).toBe(OLD);
    }, 150_000);

    it("A/B: requests with the header reach the new version through a rule before the weighted one", async () => {
      await setUp({
        name: "ab",
        analysis: {
          interval: "10s",
          threshold: 2,
          iterations: 2,
          match: [{ headers: { "x-canary": { exact: "insider" } } }],
          metrics: CHECKS(),
        },
        profile: HEALTHY,
        headerShare: 0.3,
      });
      const views = await recordViews("ab");
      await release("ab");
      const done = await waitForPhase(client, ns, "ab", "Succeeded", 120_000);

      const seen = await views.stop();
      expect(seen[0]).toEqual({ weight: "0", ab: false, mirror: false });
      expect(seen, "the A/B rule while the canary is judged").toContainEqual({
        weight: "0",
        ab: true,
        mirror: false,
      });
      expect(
        seen.every((v) => v.weight === "0"),
        "no weight moves in an A/B test",
      ).toBe(true);
      expect(seen.at(-1)).toEqual({ weight: "0", ab: false, mirror: false });
      expect(done.status?.checks?.map((c) => [c.name, c.result])).toEqual([
        ["request-success-rate", "pass"],
        ["request-duration", "pass"],
      ]);
      await promoted("ab");
    }, 150_000);

    it("blue/green with mirroring: judged on mirrored copies, then switched", async () => {
      await setUp({
        name: "mirror",
        analysis: {
          interval: "10s",
          threshold: 2,
          iterations: 2,
          mirror: true,
          mirrorWeight: 50,
          metrics: CHECKS(),
        },
        profile: HEALTHY,
      });
      const views = await recordViews("mirror");
      await release("mirror");
      const done = await waitForPhase(client, ns, "mirror", "Succeeded", 120_000);

      expect(await views.stop()).toEqual([
        { weight: "0", ab: false, mirror: false },
        { weight: "0", ab: false, mirror: true },
        { weight: "100", ab: false, mirror: false },
        { weight: "0", ab: false, mirror: false },
      ]);
      // The checks saw the canary pods' own histogram, fed by the mirrored copies alone (no weight before the switch).
      expect(check(done, "request-success-rate")).toMatchObject({ result: "pass", value: 100 });
      await promoted("mirror");
    }, 150_000);
  });
});
