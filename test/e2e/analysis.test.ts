// Metric analysis end to end: a real API server, the test Prometheus scraping the traffic simulator
// (ingress-nginx series), and the real controller process judging the built-in nginx checks
// request-success-rate (min 99 %) and request-duration (p99, max 500 ms) at every step.
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Canary, CheckStatus } from "../../src/api/canary.ts";
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
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";
import { prometheusControl, startTraffic } from "../support/traffic.ts";

const prometheusUrl = inject("prometheusUrl");
const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const HEALTHY = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };
// Plenty of canary requests per scrape even when a loaded machine delays the simulator's ticks, so
// no check is decided by a handful of requests.
const RPS = 200;

const ns = useNamespace("e2e-analysis");
const client = testClient();
useController(ns, () => ["--metrics-server", prometheusUrl]);
const stoppers: (() => Promise<void>)[] = [];
// Registered after useController's, so it runs first: the simulators stop before the controller.
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
});

interface Scenario {
  /** Target Deployment, its Ingress and Service, and the Canary share this name. */
  name: string;
  /** How the new image (6.0.1) behaves; the old one (6.0.0) is always healthy. */
  profile: { successRate: number; latencyMs: { p50: number; p99: number } };
  rps?: number;
  threshold?: number;
  /** Window of both queries. */
  metricInterval?: string;
  inconclusiveTimeout?: string;
}

/** Deployment + Ingress + Canary with both built-in checks, traffic on, initialized and converged. */
async function setUp(s: Scenario): Promise<void> {
  const interval = s.metricInterval ?? "15s";
  const analysis = {
    interval: "10s",
    threshold: s.threshold ?? 2,
    ...(s.inconclusiveTimeout ? { inconclusiveTimeout: s.inconclusiveTimeout } : {}),
    stepWeight: 25,
    maxWeight: 50,
    metrics: [
      { name: "request-success-rate", interval, thresholdRange: { min: 99 } },
      { name: "request-duration", interval, thresholdRange: { max: 500 } },
    ],
  };
  for (const o of nginxApp(ns, s.name, analysis)) await client.apply(o);
  const traffic = await startTraffic(ns, s.name, {
    rps: s.rps ?? RPS,
    profiles: { [OLD]: HEALTHY, [NEW]: s.profile },
  });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, s.name, "Initialized");
  await initializationConverged(client, ns, s.name);
}

const release = (name: string) => setImage(client, ns, name, NEW);
const ingressWeight = (name: string) => canaryIngressWeight(client, ns, name);

/** Every analysis step's checks, in order (each step stamps its checks with a new time). */
/** The checks in the status over time, each with the step they belong to (lastStepTime). */
function recordSteps(name: string) {
  return recordChanges(async () => {
    const status = (await getCanary(client, ns, name)).status;
    return { step: status?.lastStepTime, checks: status?.checks ?? [] };
  });
}
/**
 * The checks each step was judged on: a judgement stamps a new lastStepTime together with its checks,
 * while the retries of an inconclusive step update the checks only.
 */
const ran = (steps: { step: string | undefined; checks: CheckStatus[] }[]) =>
  steps
    .filter((s, i) => s.checks.length > 0 && s.step !== undefined && s.step !== steps[i - 1]?.step)
    .map((s) => s.checks);
const check = (c: Canary, metric: string) => c.status?.checks?.find((x) => x.name === metric);

async function rolledBack(name: string) {
  const events = await canaryEvents(client, ns, name);
  return events.filter((e) => e.reason === "RolledBack");
}

/** The status says Failed before the controller routes the traffic back (it persists, then converges). */
const trafficBackOnPrimary = (name: string) =>
  waitFor(() => ingressWeight(name), {
    description: `the canary weight of ${name} back at 0 after the rollback`,
    until: (w) => w === "0",
    timeoutMs: 15_000,
  });

async function expectOldVersionKept(name: string): Promise<void> {
  expect(imageOf(await getDeployment(client, ns, `${name}-primary`))).toBe(OLD);
  await waitFor(() => getDeployment(client, ns, name), {
    description: `${name} scaled to zero after the rollback`,
    until: (d) => d?.spec?.replicas === 0,
    timeoutMs: 30_000,
  });
  expect(await ingressWeight(name)).toBe("0");
  const messages = (await canaryEvents(client, ns, name)).map((e) => e.message);
  expect(messages.filter((m) => m.startsWith("Promotion completed!"))).toEqual([]);
  expect(messages.filter((m) => m.startsWith("Copying "))).toEqual([]);
}

describe.skipIf(!prometheusUrl)("metric analysis with the built-in nginx checks (Prometheus)", () => {
  describe.concurrent("judging the new version", () => {
    it("promotes a healthy version through every step, with passing checks at each", async () => {
      await setUp({ name: "healthy", profile: HEALTHY });
      const weights = recordChanges(() => ingressWeight("healthy"));
      const statusWeights = recordChanges(
        async () => (await getCanary(client, ns, "healthy")).status?.canaryWeight,
      );
      const steps = recordSteps("healthy");
      await release("healthy");
      const done = await waitForPhase(client, ns, "healthy", "Succeeded", 120_000);

      expect(await weights.stop()).toEqual(["0", "25", "50", "0"]);
      expect(await statusWeights.stop()).toEqual([0, 25, 50, 0]);
      const judged = ran(await steps.stop());
      expect(judged, "one set of checks per step: at 25 % and at 50 %").toHaveLength(2);
      for (const checks of judged) {
        expect(checks.map((c) => [c.name, c.result, c.provider])).toEqual([
          ["request-success-rate", "pass", "prometheus"],
          ["request-duration", "pass", "prometheus"],
        ]);
      }
      expect(done.status).toMatchObject({ canaryWeight: 0, failedChecks: 0 });
      expect(check(done, "request-success-rate")).toMatchObject({
        value: 100,
        message: "request-success-rate 100.00 is within the range (minimum 99) (prometheus)",
      });
      const p99 = check(done, "request-duration")?.value ?? Number.NaN;
      // 80 ms configured; histogram_quantile interpolates inside the 50-100 ms bucket (or 100-250 ms).
      expect(p99).toBeGreaterThan(20);
      expect(p99).toBeLessThan(250);
      expect(imageOf(await getDeployment(client, ns, "healthy-primary"))).toBe(NEW);
      const messages = (await canaryEvents(client, ns, "healthy")).map((e) => e.message);
      expect(messages.filter((m) => m.startsWith("Promotion completed!"))).toHaveLength(1);
      expect(await rolledBack("healthy")).toEqual([]);
    }, 150_000);

    it("rolls back a version with 10 % errors after `threshold` failed success-rate checks", async () => {
      await setUp({ name: "errors", profile: { successRate: 0.9, latencyMs: { p50: 20, p99: 80 } } });
      const weights = recordChanges(() => ingressWeight("errors"));
      const steps = recordSteps("errors");
      await release("errors");
      const failed = await waitForPhase(client, ns, "errors", "Failed", 120_000);
      await trafficBackOnPrimary("errors");

      expect(await weights.stop()).toEqual(["0", "25", "0"]);
      const judged = ran(await steps.stop());
      expect(judged).toHaveLength(2);
      for (const checks of judged) {
        expect(checks.map((c) => [c.name, c.result])).toEqual([
          ["request-success-rate", "fail"],
          ["request-duration", "pass"],
        ]);
      }
      expect(failed.status?.failedChecks).toBe(2);
      const rate = check(failed, "request-success-rate")?.value ?? Number.NaN;
      // Hundreds of canary requests in the window, a tenth of them failing: about 90 %, never near 99.
      expect(rate).toBeGreaterThan(80);
      expect(rate).toBeLessThan(99);
      const events = await rolledBack("errors");
      expect(events).toHaveLength(1);
      expect(events[0]?.type).toBe("Warning");
      expect(events[0]?.message).toMatch(
        new RegExp(
          `^Canary failed! Rolling back errors\\.${ns}: failed checks threshold reached 2/2: ` +
            "request-success-rate \\d+\\.\\d+ is below the minimum 99 \\(prometheus\\)$",
        ),
      );
      const halts = (await canaryEvents(client, ns, "errors")).filter((e) => e.reason === "CheckFailed");
      expect(halts.map((e) => e.message)).toEqual([
        expect.stringMatching(
          /^Halt errors\.\S+ advancement \(failed checks 1\/2\): request-success-rate \d+\.\d+ is below the minimum 99/,
        ),
      ]);
      await expectOldVersionKept("errors");
    }, 150_000);

    it("rolls back a latency regression on request-duration alone", async () => {
      // Slow throughout (p50 750 ms): even a check that sees few requests finds them above 500 ms.
      await setUp({ name: "slow", profile: { successRate: 1, latencyMs: { p50: 750, p99: 900 } } });
      const weights = recordChanges(() => ingressWeight("slow"));
      await release("slow");
      const failed = await waitForPhase(client, ns, "slow", "Failed", 120_000);
      await trafficBackOnPrimary("slow");

      expect(await weights.stop()).toEqual(["0", "25", "0"]);
      expect(check(failed, "request-success-rate")).toMatchObject({ result: "pass", value: 100 });
      const duration = check(failed, "request-duration");
      expect(duration?.result).toBe("fail");
      // p99 900 ms lies in the 0.5-1 s bucket of ingress-nginx's histogram (1 in 10^4 requests is slower).
      expect(duration?.value).toBeGreaterThan(500);
      expect(duration?.value).toBeLessThanOrEqual(1000);
      const events = await rolledBack("slow");
      expect(events).toHaveLength(1);
      expect(events[0]?.message).toMatch(
        new RegExp(
          `^Canary failed! Rolling back slow\\.${ns}: failed checks threshold reached 2/2: ` +
            "request-duration \\d+\\.\\d+ is above the maximum 500 \\(prometheus\\)$",
        ),
      );
      await expectOldVersionKept("slow");
    }, 150_000);

    it("never promotes a version that gets no traffic: no data holds it, then rolls it back naming that", async () => {
      await setUp({ name: "idle", profile: HEALTHY, rps: 0, inconclusiveTimeout: "20s" });
      const weights = recordChanges(() => ingressWeight("idle"));
      const steps = recordSteps("idle");
      await release("idle");
      const failed = await waitForPhase(client, ns, "idle", "Failed", 120_000);
      await trafficBackOnPrimary("idle");
      expect(failed.status?.failedChecks, "no data is not a failed check").toBe(0);

      expect(await weights.stop()).toEqual(["0", "25", "0"]);
      expect(ran(await steps.stop()), "no step was judged: each was held").toEqual([]);
      const held = failed.status?.checks ?? [];
      expect(held.map((c) => [c.name, c.result, c.value])).toEqual([
        ["request-success-rate", "nodata", undefined],
        ["request-duration", "nodata", undefined],
      ]);
      for (const c of held) {
        expect(c.message).toMatch(
          new RegExp(`^${c.name}: no data from built-in query for nginx \\(prometheus\\): .*empty vector`),
        );
      }
      const events = await rolledBack("idle");
      expect(events).toHaveLength(1);
      expect(events[0]?.message).toMatch(
        /metric checks inconclusive for \d+s \(analysis\.inconclusiveTimeout 20s\), not failed: request-success-rate: no data .*; request-duration: no data /,
      );
      await expectOldVersionKept("idle");
    }, 150_000);
  });

  // Stops the shared Prometheus, so it runs alone, after the concurrent scenarios above.
  describe("a Prometheus outage mid-analysis", () => {
    const local = inject("clusterMode") === "local" && inject("clusterDir") !== "";
    let stopped = false;
    afterAll(async () => {
      // Whatever happened, later test files need Prometheus.
      if (stopped) await prometheusControl("start");
    });

    it.skipIf(!local)(
      "an outage shorter than the interval neither fails nor passes the step: it is held and retried",
      async () => {
        // threshold 1: a single counted failure would roll the release back.
        await setUp({ name: "blip", profile: HEALTHY, threshold: 1, metricInterval: "30s" });
        const weights = recordChanges(() => ingressWeight("blip"));
        await release("blip");
        await waitFor(() => ingressWeight("blip"), {
          description: "the first step on the route (canary weight 25)",
          until: (w) => w === "25",
          timeoutMs: 60_000,
          intervalMs: 200,
        });
        // The step is due 10 s after its route: an outage from 5 s to 12 s after it spans that moment.
        await new Promise((r) => setTimeout(r, 5_000));
        await prometheusControl("stop");
        stopped = true;
        await new Promise((r) => setTimeout(r, 7_000));
        await prometheusControl("start");
        stopped = false;
        const done = await waitForPhase(client, ns, "blip", "Succeeded", 90_000);

        expect(await weights.stop()).toEqual(["0", "25", "50", "0"]);
        expect(done.status?.failedChecks).toBe(0);
        const events = await canaryEvents(client, ns, "blip");
        expect(events.filter((e) => e.reason === "CheckFailed" || e.reason === "RolledBack")).toEqual([]);
        const held = events.filter((e) => e.reason === "ChecksInconclusive");
        expect(held.length, "the step due during the outage was held").toBeGreaterThanOrEqual(1);
        expect(held[0]?.message).toMatch(
          /^holding blip\.\S+ at canary weight 25: request-success-rate: .*Prometheus at .*; checks inconclusive since \S+, retrying until /,
        );
      },
      150_000,
    );

    it.skipIf(!local)(
      "holds the weight while checks are errors, counting no failed check, and promotes once Prometheus is back",
      async () => {
        // threshold 1: a single failed check would roll the release back.
        await setUp({ name: "outage", profile: HEALTHY, threshold: 1, metricInterval: "30s" });
        const weights = recordChanges(() => ingressWeight("outage"));
        await release("outage");
        await waitFor(() => getCanary(client, ns, "outage"), {
          description: "the first step (canary weight 25)",
          until: (c) => c.status?.canaryWeight === 25,
          timeoutMs: 60_000,
          intervalMs: 200,
        });

        await prometheusControl("stop");
        stopped = true;
        const down = await waitFor(() => getCanary(client, ns, "outage"), {
          description: "the step held on inconclusive checks",
          until: (c) => c.status?.inconclusiveSince !== undefined,
          timeoutMs: 45_000,
          intervalMs: 300,
        });
        // Three intervals of outage: the old one-interval retry would have counted a failed check.
        await new Promise((r) => setTimeout(r, 30_000));
        const still = await getCanary(client, ns, "outage");
        expect(still.status).toMatchObject({ phase: "Progressing", canaryWeight: 25, failedChecks: 0 });
        expect(weights.values, "not a step further while Prometheus is down").toEqual(["0", "25"]);
        for (const name of ["request-success-rate", "request-duration"]) {
          const c = check(down, name);
          expect(c?.result, `${name} during the outage`).toBe("error");
          expect(c?.provider).toBe("prometheus");
          expect(c?.value).toBeUndefined();
          expect(c?.message).toContain(
            `${name}: built-in query for nginx (prometheus): Prometheus at ${prometheusUrl.replace(/\/$/, "")}: `,
          );
        }

        await prometheusControl("start");
        stopped = false;
        const done = await waitForPhase(client, ns, "outage", "Succeeded", 90_000);

        expect(await weights.stop()).toEqual(["0", "25", "50", "0"]);
        expect(done.status?.checks?.map((c) => c.result)).toEqual(["pass", "pass"]);
        expect(done.status?.failedChecks).toBe(0);
        expect(imageOf(await getDeployment(client, ns, "outage-primary"))).toBe(NEW);
        const events = await canaryEvents(client, ns, "outage");
        expect(events.filter((e) => e.reason === "RolledBack" || e.reason === "CheckFailed")).toEqual([]);
        const held = events.filter((e) => e.reason === "ChecksInconclusive");
        expect(
          held.length,
          "one event per outage (and per hold after it, if Prometheus answers empty at first)",
        ).toBeGreaterThanOrEqual(1);
        expect(held[0]?.message).toMatch(
          /^holding outage\.\S+ at canary weight 25: request-success-rate: .*Prometheus at .*; request-duration: .*Prometheus at /,
        );
      },
      180_000,
    );
  });
});
