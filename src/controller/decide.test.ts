import { describe, expect, it } from "vitest";
import type { CanarySpec, CanaryStatus, CanaryWebhook, CheckStatus, WebhookType } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { routerCapabilities } from "../routers/factory.ts";
import type { Routes } from "../routers/router.ts";
import type { WebhookAnswer } from "../webhooks/calls.ts";
import { sameStatus } from "./conditions.ts";
import { type DecideInput, type Decision, decide, WAIT_POLL_MS } from "./decide.ts";
import { deletionStep, desiredState, workloadPlan } from "./desired.ts";
import type { Observations, WorkloadObservation } from "./observations.ts";
import type { Requests } from "./requests.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const iso = (seconds: number) => at(seconds).toISOString();

const canarySpec = (
  analysis: Partial<CanarySpec["analysis"]> = {},
  extra: Partial<CanarySpec> = {},
): CanarySpec => ({
  provider: "nginx",
  targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
  ingressRef: { name: "podinfo" },
  service: { port: 80 },
  analysis: { interval: "30s", threshold: 2, maxWeight: 30, stepWeight: 10, ...analysis },
  progressDeadlineSeconds: 60,
  ...extra,
});

const ready = (revision: string, replicas = 2): WorkloadObservation => ({
  replicas,
  readyPercent: 100,
  rolloutComplete: true,
  draining: false,
  revision,
});
const notReady = (revision: string): WorkloadObservation => ({
  replicas: 2,
  readyPercent: 50,
  rolloutComplete: false,
  draining: false,
  revision,
});
const scaledDown = (revision: string): WorkloadObservation => ({
  replicas: 0,
  readyPercent: 0,
  rolloutComplete: true,
  draining: false,
  revision,
});

interface Case {
  spec?: CanarySpec;
  status?: CanaryStatus;
  target?: WorkloadObservation | undefined;
  primary?: WorkloadObservation | undefined;
  checks?: CheckStatus[];
  now?: number;
  deleting?: boolean;
  blocker?: Observations["blocker"];
  offlineProviders?: string[];
  /** What the route carries; by default the split the input status asks for (it was applied). */
  routes?: Routes | undefined;
  webhooks?: WebhookAnswer[];
  requests?: Requests;
}

function capabilitiesOf(spec: CanarySpec) {
  const capabilities = routerCapabilities(resolveCanary(spec).provider);
  if (!capabilities) throw new Error(`test uses provider ${spec.provider}, which has no router`);
  return capabilities;
}

function run(c: Case): Decision {
  const spec = c.spec ?? canarySpec();
  const resolved = resolveCanary(spec);
  const input: DecideInput = {
    name: "podinfo",
    namespace: "test",
    generation: 3,
    deleting: c.deleting ?? false,
    spec,
    status: c.status ?? {},
    resolved,
    capabilities: capabilitiesOf(spec),
    observed: {
      now: at(c.now ?? 100),
      target:
        "target" in c
          ? c.target && { ...c.target, trackedConfigs: {} }
          : { ...ready("rev-b"), trackedConfigs: {} },
      primary: "primary" in c ? c.primary : ready("rev-a"),
      blocker: c.blocker,
      checks: c.checks,
      offlineProviders: c.offlineProviders,
      routes: "routes" in c ? c.routes : desiredState(c.status ?? {}, resolved).routes,
      ...(c.webhooks ? { webhooks: c.webhooks } : {}),
      ...(c.requests ? { requests: c.requests } : {}),
    },
  };
  return decide(input);
}

const pass = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "pass",
  value: 100,
  message: `${name} 100 is within [99, -]`,
  time: iso(100),
});
const fail = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "fail",
  value: 87.5,
  thresholdRange: { min: 99 },
  message: `${name} 87.50 is below the minimum 99 (prometheus)`,
  time: iso(100),
});
const noData = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "nodata",
  message: `${name}: no data`,
  time: iso(100),
});
const errored = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "error",
  message: `${name}: prometheus query timed out after 10s`,
  time: iso(100),
});

const progressing = (weight: number, extra: CanaryStatus = {}): CanaryStatus => ({
  phase: "Progressing",
  lastAppliedSpec: "rev-b",
  lastPromotedSpec: "rev-a",
  canaryWeight: weight,
  failedChecks: 0,
  iterations: 0,
  lastStepTime: iso(60),
  stepRoutedTime: iso(60),
  ...extra,
});

const reasons = (d: Decision) => d.events.map((e) => e.reason);
const condition = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);

describe("initialization", () => {
  it("starts Initializing when there is no primary yet", () => {
    const d = run({ status: {}, primary: undefined });
    expect(d.status.phase).toBe("Initializing");
    expect(reasons(d)).toEqual(["Initializing"]);
    expect(d.requeueAfterMs).toBe(WAIT_POLL_MS);
    expect(condition(d, "Ready")?.status).toBe("False");
    expect(condition(d, "Reconciling")?.status).toBe("True");
  });

  it("stays Initializing while the primary runs another revision or is not ready", () => {
    expect(run({ status: { phase: "Initializing" }, primary: ready("old") }).status.phase).toBe(
      "Initializing",
    );
    const d = run({ status: { phase: "Initializing" }, target: ready("rev-a"), primary: notReady("rev-a") });
    expect(d.status.phase).toBe("Initializing");
    expect(d.events).toEqual([]);
    expect(condition(d, "Promoted")?.message).toContain("50% ready");
  });

  it("is Initialized once the primary runs the target's revision and is ready", () => {
    const d = run({ status: { phase: "Initializing" }, target: ready("rev-a"), primary: ready("rev-a") });
    expect(d.status).toMatchObject({
      phase: "Initialized",
      lastAppliedSpec: "rev-a",
      lastPromotedSpec: "rev-a",
      canaryWeight: 0,
      observedGeneration: 3,
      lastTransitionTime: iso(100),
    });
    expect(reasons(d)).toEqual(["Initialized"]);
    expect(condition(d, "Ready")).toMatchObject({ status: "True", observedGeneration: 3 });
    expect(condition(d, "Promoted")?.status).toBe("True");
    expect(condition(d, "Reconciling")?.status).toBe("False");
  });
});

describe("change detection", () => {
  const settled: CanaryStatus = {
    phase: "Succeeded",
    lastAppliedSpec: "rev-a",
    lastPromotedSpec: "rev-a",
    canaryWeight: 0,
  };

  it("does nothing while the target runs the applied revision", () => {
    const d = run({ status: settled, target: scaledDown("rev-a") });
    expect(d.status.phase).toBe("Succeeded");
    expect(d.events).toEqual([]);
    expect(d.needsChecks).toBe(false);
  });

  it.each(["Initialized", "Succeeded", "Failed"] as const)(
    "starts an analysis on a new revision from %s",
    (phase) => {
      const d = run({ status: { ...settled, phase, failedChecks: 2 } });
      expect(d.status).toMatchObject({
        phase: "Progressing",
        lastAppliedSpec: "rev-b",
        lastPromotedSpec: "rev-a",
        canaryWeight: 0,
        failedChecks: 0,
        progressStartTime: iso(100),
      });
      expect(d.status.lastStepTime).toBeUndefined();
      expect(d.events[0]).toMatchObject({
        reason: "NewRevision",
        message: "New revision detected! Scaling up podinfo.test",
      });
    },
  );

  it("does not analyse a return to the promoted revision, and clears a failure", () => {
    const d = run({
      status: { phase: "Failed", lastAppliedSpec: "rev-bad", lastPromotedSpec: "rev-a" },
      target: scaledDown("rev-a"),
    });
    expect(d.status).toMatchObject({ phase: "Succeeded", lastAppliedSpec: "rev-a" });
    expect(reasons(d)).toEqual(["Reverted"]);
    expect(condition(d, "Stalled")?.status).toBe("False");
  });

  it("restarts the analysis when a new revision lands mid-analysis", () => {
    const d = run({ status: progressing(20, { failedChecks: 1 }), target: ready("rev-c") });
    expect(d.status).toMatchObject({
      phase: "Progressing",
      lastAppliedSpec: "rev-c",
      canaryWeight: 0,
      failedChecks: 0,
    });
    expect(d.status.lastStepTime).toBeUndefined();
    expect(reasons(d)).toEqual(["NewRevision", "NewRevision"]);
  });

  it("ends the analysis when the target goes back to the promoted revision mid-analysis", () => {
    const d = run({ status: progressing(20), target: ready("rev-a") });
    expect(d.status).toMatchObject({ phase: "Succeeded", canaryWeight: 0, lastAppliedSpec: "rev-a" });
  });

  it("keeps the revision the primary already got when a new one lands mid-promotion", () => {
    const d = run({
      status: { ...progressing(30), phase: "Promoting" },
      target: ready("rev-c"),
      primary: ready("rev-b"),
    });
    expect(d.status).toMatchObject({
      phase: "Progressing",
      lastPromotedSpec: "rev-b",
      lastAppliedSpec: "rev-c",
    });
  });

  it("promotes without analysis when skipAnalysis is set", () => {
    const d = run({ spec: canarySpec({}, { skipAnalysis: true }), status: settled });
    expect(d.status.phase).toBe("Promoting");
    expect(d.status.canaryWeight).toBe(0);
    expect(reasons(d)).toEqual(["NewRevision", "Promoting"]);
  });
});

describe("canary strategy", () => {
  it("waits for the canary to be ready within progressDeadlineSeconds", () => {
    const d = run({
      status: progressing(0, { lastStepTime: undefined, progressStartTime: iso(70) }),
      target: notReady("rev-b"),
    });
    expect(d.status.phase).toBe("Progressing");
    expect(d.status.progressStartTime).toBe(iso(70));
    expect(d.requeueAfterMs).toBe(WAIT_POLL_MS);
    expect(condition(d, "Promoted")?.message).toContain(
      `waiting for podinfo.test to become ready (progressDeadlineSeconds 60: rolled back if not ready by ${iso(130)})`,
    );
  });

  it("keeps the same status while waiting: no running clock in the message", () => {
    const input = {
      status: progressing(0, { lastStepTime: undefined, progressStartTime: iso(70) }),
      target: notReady("rev-b"),
    };
    const first = run({ ...input, now: 100 });
    const later = run({ ...input, status: first.status, now: 117 });
    expect(sameStatus(first.status, later.status)).toBe(true);
    expect(later.events).toEqual([]);
  });

  it("says at the new revision what the wait for the canary says: no second status write", () => {
    const promoted = { phase: "Succeeded", lastAppliedSpec: "rev-a", lastPromotedSpec: "rev-a" } as const;
    const started = run({ status: promoted, target: notReady("rev-b") });
    expect(started.status.phase).toBe("Progressing");
    expect(condition(started, "Promoted")?.message).toBe(
      `new revision rev-b; waiting for podinfo.test to become ready (progressDeadlineSeconds 60: rolled back if not ready by ${iso(160)})`,
    );
    const waiting = run({ status: started.status, target: notReady("rev-b"), now: 100.1 });
    expect(sameStatus(started.status, waiting.status)).toBe(true);
  });

  it("says at promotion why and what the wait for the primary says: no second status write", () => {
    const judged = run({ status: progressing(50, { lastStepTime: iso(60) }), checks: [pass()], now: 90 });
    expect(judged.status.phase).toBe("Promoting");
    expect(condition(judged, "Promoted")?.message).toBe(
      `promoting revision rev-b (all checks passed at canary weight 50); waiting for podinfo-primary.test (promotion) to become ready (progressDeadlineSeconds 60: rolled back if not ready by ${iso(150)})`,
    );
    const waiting = run({ status: judged.status, primary: notReady("rev-a"), now: 90.1 });
    expect(sameStatus(judged.status, waiting.status)).toBe(true);
  });

  it("treats a canary scaled to zero as not ready", () => {
    const d = run({
      status: progressing(0, { lastStepTime: undefined, progressStartTime: iso(90) }),
      target: scaledDown("rev-b"),
    });
    expect(d.status.canaryWeight).toBe(0);
    expect(d.events).toEqual([]);
  });

  it("rolls back after progressDeadlineSeconds", () => {
    const d = run({ status: progressing(10, { progressStartTime: iso(40) }), target: notReady("rev-b") });
    expect(d.status).toMatchObject({ phase: "Failed", canaryWeight: 0 });
    expect(d.events).toEqual([
      {
        type: "Warning",
        reason: "RolledBack",
        message:
          "Canary failed! Rolling back podinfo.test: podinfo.test not ready after 60s (progressDeadlineSeconds 60)",
        cause: "canary-not-ready",
      },
    ]);
    expect(condition(d, "Stalled")?.status).toBe("True");
    expect(condition(d, "Ready")?.status).toBe("False");
  });

  it("holds while the primary is not ready", () => {
    const d = run({ status: progressing(10), primary: notReady("rev-a"), now: 200 });
    expect(d.needsChecks).toBe(false);
    expect(d.status.canaryWeight).toBe(10);
  });

  it("starts with the first step once the canary is ready", () => {
    const d = run({ status: progressing(0, { lastStepTime: undefined, progressStartTime: iso(90) }) });
    expect(d.status).toMatchObject({ canaryWeight: 10, lastStepTime: iso(100) });
    expect(d.status.progressStartTime).toBeUndefined();
    expect(d.events.map((e) => e.message)).toEqual([
      "Starting canary analysis for podinfo.test",
      "Advance podinfo.test canary weight 10",
    ]);
  });

  describe("before the first step, with metrics", () => {
    const withMetrics = canarySpec({
      metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }],
    });
    const starting = progressing(0, { lastStepTime: undefined, progressStartTime: iso(90) });

    it("asks whether the metric providers answer", () => {
      const d = run({ spec: withMetrics, status: starting });
      expect(d.needsPreflight).toBe(true);
      expect(d.status.canaryWeight).toBe(0);
    });

    it("holds at weight 0 and says why while a provider is unreachable", () => {
      const offline = ["prometheus at http://prom:9090: connect ECONNREFUSED"];
      const d = run({ spec: withMetrics, status: starting, offlineProviders: offline });
      expect(d.status.canaryWeight).toBe(0);
      expect(d.status.lastStepTime).toBeUndefined();
      expect(d.events).toEqual([
        {
          type: "Warning",
          reason: "MetricsUnavailable",
          message: `holding podinfo.test at weight 0: metric providers unreachable: ${offline[0]}`,
        },
      ]);
      expect(run({ spec: withMetrics, status: d.status, offlineProviders: offline }).events).toEqual([]);
    });

    it("rolls back, naming the provider, when providers stay unreachable past progressDeadlineSeconds", () => {
      // progressStartTime 90 s: the wait began when the revision was detected; the deadline is 60 s.
      const offline = ["prometheus http://prometheus:9090: connect ECONNREFUSED"];
      const held = run({ spec: withMetrics, status: starting, offlineProviders: offline, now: 149 });
      expect(held.status).toMatchObject({
        phase: "Progressing",
        progressStartTime: iso(90),
        canaryWeight: 0,
      });
      expect(held.requeueAfterMs).toBe(1_000);
      const later = run({ spec: withMetrics, status: held.status, offlineProviders: offline, now: 150 });
      expect(later.status).toMatchObject({ phase: "Failed", canaryWeight: 0 });
      expect(later.events[0]).toMatchObject({ reason: "RolledBack", cause: "metrics-unavailable" });
      expect(later.events[0]?.message).toContain(
        "metric providers unreachable for 60s (progressDeadlineSeconds 60)",
      );
      expect(later.events[0]?.message).toContain(offline[0]);
      expect(condition(later, "Stalled")?.status).toBe("True");
    });

    it("starts once every provider answers", () => {
      const d = run({ spec: withMetrics, status: starting, offlineProviders: [] });
      expect(d.status.canaryWeight).toBe(10);
      expect(d.needsPreflight).toBe(false);
    });
  });

  it("waits for the interval between steps", () => {
    const d = run({ status: progressing(10), now: 80 });
    expect(d.needsChecks).toBe(false);
    expect(d.requeueAfterMs).toBe(10_000);
    expect(d.events).toEqual([]);
  });

  it("asks for checks when a step is due", () => {
    const d = run({ status: progressing(10), now: 90 });
    expect(d.needsChecks).toBe(true);
    expect(d.status.canaryWeight).toBe(10);
  });

  it("advances the weight when every check passes", () => {
    const d = run({ status: progressing(10), checks: [pass(), pass("request-duration")] });
    expect(d.status).toMatchObject({ canaryWeight: 20, lastStepTime: iso(100), failedChecks: 0 });
    expect(d.status.checks).toHaveLength(2);
    expect(d.events.map((e) => e.message)).toEqual(["Advance podinfo.test canary weight 20"]);
  });

  it("counts a failed check at once and halts", () => {
    const d = run({ status: progressing(10), checks: [fail()], now: 100 });
    expect(d.status).toMatchObject({ phase: "Progressing", canaryWeight: 10, failedChecks: 1 });
    expect(d.events).toEqual([
      {
        type: "Warning",
        reason: "CheckFailed",
        message: `Halt podinfo.test advancement (failed checks 1/2): ${fail().message}`,
      },
    ]);
  });

  describe("inconclusive checks hold the step, they do not decide it", () => {
    const holding = (check: CheckStatus, since: number, until: number) =>
      `holding podinfo.test at canary weight 10: ${check.message}; checks inconclusive since ${iso(since)}, retrying until ${iso(until)}, then rolling back for the outage`;

    it.each([
      ["a provider error or timeout", errored()],
      ["no data (onNoData fail, the default)", noData()],
    ])("holds on %s, counts no failed check, and asks again", (_l, check) => {
      // Step due at 90 s; the outage budget is progressDeadlineSeconds (60 s) from the first inconclusive round.
      const d = run({ status: progressing(10), checks: [check], now: 100 });
      expect(d.status).toMatchObject({
        phase: "Progressing",
        canaryWeight: 10,
        failedChecks: 0,
        lastStepTime: iso(60),
        inconclusiveSince: iso(100),
      });
      expect(d.status.checks).toEqual([check]);
      expect(d.requeueAfterMs).toBe(6_000);
      expect(d.events).toEqual([
        { type: "Warning", reason: "ChecksInconclusive", message: holding(check, 100, 160) },
      ]);
      expect(run({ status: d.status, now: 106 }).needsChecks).toBe(true);
      // Three intervals later (past the one interval of retries there used to be) it still holds.
      const stillDown = run({ status: d.status, checks: [check], now: 150 });
      expect(stillDown.status).toMatchObject({
        failedChecks: 0,
        canaryWeight: 10,
        inconclusiveSince: iso(100),
      });
      expect(stillDown.events, "one event per outage, not per retry").toEqual([]);
      expect(stillDown.requeueAfterMs).toBe(6_000);
      const nearEnd = run({ status: d.status, checks: [check], now: 157 });
      expect(nearEnd.requeueAfterMs, "looks again exactly when the budget ends").toBe(3_000);
      const recovered = run({ status: stillDown.status, checks: [pass()], now: 156 });
      expect(recovered.status).toMatchObject({ canaryWeight: 20, failedChecks: 0, lastStepTime: iso(156) });
      expect(recovered.status.inconclusiveSince, "the next outage gets a budget of its own").toBeUndefined();
    });

    it("rolls back naming the outage, not failed checks, once it outlasts progressDeadlineSeconds", () => {
      const status = progressing(10, { inconclusiveSince: iso(100) });
      const d = run({ status, checks: [errored()], now: 160 });
      expect(d.status).toMatchObject({ phase: "Failed", canaryWeight: 0, failedChecks: 0 });
      expect(d.status.inconclusiveSince).toBeUndefined();
      expect(d.events).toEqual([
        {
          type: "Warning",
          reason: "RolledBack",
          cause: "metrics-unavailable",
          message: `Canary failed! Rolling back podinfo.test: metric checks inconclusive for 60s (progressDeadlineSeconds 60, the default inconclusiveTimeout), not failed: ${errored().message}`,
        },
      ]);
      expect(condition(d, "Stalled")?.message).toContain("metric checks inconclusive for 60s");
    });

    it("uses analysis.inconclusiveTimeout when it is set", () => {
      const spec = canarySpec({ inconclusiveTimeout: "20s" });
      const status = progressing(10, { inconclusiveSince: iso(100) });
      const held = run({ spec, status, checks: [noData()], now: 115 });
      expect(held.status.phase).toBe("Progressing");
      expect(held.requeueAfterMs).toBe(5_000);
      const d = run({ spec, status, checks: [noData()], now: 120 });
      expect(d.status.phase).toBe("Failed");
      expect(d.events[0]?.message).toContain(
        "metric checks inconclusive for 20s (analysis.inconclusiveTimeout 20s), not failed",
      );
    });

    it.each([
      ["a new revision restarts the analysis", { target: ready("rev-c") }],
      ["a deleted target sends the traffic back to the primary", { target: undefined }],
      [
        "kanaria abort rolls back",
        { requests: { abort: { raw: "{}", revision: "rev-b", by: "bob", at: "x" } } },
      ],
      [
        "kanaria promote --skip-analysis promotes",
        { requests: { promote: { raw: "{}", revision: "rev-b", by: "bob", at: "x", skipAnalysis: true } } },
      ],
    ] as [string, Partial<Case>][])("forgets the outage clock when %s", (_l, extra) => {
      const d = run({ status: progressing(10, { inconclusiveSince: iso(100) }), now: 120, ...extra });
      expect(d.status.inconclusiveSince).toBeUndefined();
    });

    it("holds in WaitingPromotion too: an outage neither promotes nor rolls back", () => {
      const status: CanaryStatus = { ...progressing(30), phase: "WaitingPromotion" };
      const spec = canarySpec({
        promotionWindows: [{ schedule: "5 0 * * *", duration: "1h", timeZone: "UTC" }],
      });
      const d = run({ spec, status, checks: [errored()], now: 100 });
      expect(d.status).toMatchObject({
        phase: "WaitingPromotion",
        failedChecks: 0,
        inconclusiveSince: iso(100),
      });
      expect(reasons(d)).toContain("ChecksInconclusive");
    });
  });

  describe("a step is judged only on traffic it got", () => {
    // The controller died after writing weight 20 and before the route changed: the route still says 10.
    const written = progressing(20, { lastStepTime: iso(60), stepRoutedTime: undefined });
    const routedAt = (w: number) => ({
      primaryWeight: 100 - w,
      canaryWeight: w,
      matched: false,
      mirrored: false,
    });

    it("waits for the route to carry the step's weight, however long ago the step was decided", () => {
      const d = run({ status: written, routes: routedAt(10), now: 200 });
      expect(d.needsChecks).toBe(false);
      expect(d.status).toMatchObject({ canaryWeight: 20, lastStepTime: iso(60), failedChecks: 0 });
      expect(d.status.stepRoutedTime).toBeUndefined();
      expect(condition(d, "Promoted")?.message).toBe("waiting for the route to carry canary weight 20");
      expect(d.requeueAfterMs).toBe(1_000);
      expect(desiredState(d.status, resolveCanary(canarySpec())).routes).toEqual(routedAt(20));
    });

    it("counts the interval from the moment the route is seen at that weight", () => {
      const seen = run({ status: written, routes: routedAt(20), now: 200 });
      expect(seen.status.stepRoutedTime).toBe(iso(200));
      expect(seen.needsChecks).toBe(false);
      expect(seen.requeueAfterMs).toBe(30_000);
      expect(run({ status: seen.status, now: 229 }).needsChecks).toBe(false);
      expect(run({ status: seen.status, now: 230 }).needsChecks).toBe(true);
    });

    it("treats a route that does not exist yet as not carrying the step", () => {
      expect(run({ status: written, routes: undefined, now: 200 }).needsChecks).toBe(false);
    });

    it("waits for an A/B match to be routed before the first iteration is judged", () => {
      const spec = canarySpec({
        stepWeight: undefined,
        maxWeight: undefined,
        iterations: 2,
        match: [{ headers: { "x-canary": { exact: "insider" } } }],
      });
      const status = progressing(0, { stepRoutedTime: undefined });
      const d = run({ spec, status, routes: routedAt(0), now: 200 });
      expect(condition(d, "Promoted")?.message).toBe(
        "waiting for the route to carry canary weight 0 (A/B match)",
      );
      const matched = { ...routedAt(0), matched: true };
      expect(run({ spec, status, routes: matched, now: 200 }).status.stepRoutedTime).toBe(iso(200));
    });
  });

  it("sends the traffic back to the primary when the target is deleted mid-analysis", () => {
    const d = run({ status: progressing(20), target: undefined });
    expect(d.status).toMatchObject({ phase: "Progressing", canaryWeight: 0 });
    expect(d.status.lastStepTime).toBeUndefined();
    expect(condition(d, "Stalled")).toMatchObject({ status: "True", reason: "TargetNotFound" });
    expect(desiredState(d.status, resolveCanary(canarySpec())).routes).toMatchObject({
      canaryWeight: 0,
      matched: false,
    });
  });

  it("counts a real failure at once even when another metric errored", () => {
    const d = run({ status: progressing(10), checks: [fail(), errored("request-duration")], now: 100 });
    expect(d.status.failedChecks).toBe(1);
  });

  it("rolls back when failed checks reach the threshold, naming the metric and value", () => {
    const d = run({
      status: progressing(20, { failedChecks: 1 }),
      checks: [fail(), pass("request-duration")],
    });
    expect(d.status).toMatchObject({ phase: "Failed", canaryWeight: 0, failedChecks: 2 });
    expect(d.events[0]?.message).toBe(
      "Canary failed! Rolling back podinfo.test: failed checks threshold reached 2/2: request-success-rate 87.50 is below the minimum 99 (prometheus)",
    );
    expect(d.events[0]?.cause).toBe("failed-checks");
    expect(desiredState(d.status, resolveCanary(canarySpec()))).toMatchObject({
      target: "zero",
      routes: { canaryWeight: 0 },
    });
  });

  const skipSpec = canarySpec({
    metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, onNoData: "skip" }],
  });

  it("lets a metric with onNoData skip neither pass nor fail mid-analysis", () => {
    const d = run({ spec: skipSpec, status: progressing(10), checks: [noData()] });
    expect(d.status).toMatchObject({ canaryWeight: 20, failedChecks: 0 });
  });

  it("never promotes while a skip metric had no data in the final step", () => {
    const d = run({ spec: skipSpec, status: progressing(30), checks: [noData()] });
    expect(d.status).toMatchObject({ phase: "Progressing", canaryWeight: 30, failedChecks: 0 });
    expect(reasons(d)).toEqual(["NoData"]);
  });

  it("promotes after the checks at maxWeight pass", () => {
    const d = run({ status: progressing(30), checks: [pass()] });
    expect(d.status).toMatchObject({ phase: "Promoting", canaryWeight: 30, progressStartTime: iso(100) });
    expect(d.events[0]?.message).toBe(
      "Copying podinfo.test template spec to podinfo-primary.test (all checks passed at canary weight 30)",
    );
    expect(desiredState(d.status, resolveCanary(canarySpec()))).toMatchObject({
      primary: "copy",
      target: "up",
    });
  });

  it("uses explicit stepWeights", () => {
    const spec = canarySpec({ stepWeight: undefined, stepWeights: [5, 25, 60], maxWeight: 60 });
    expect(run({ spec, status: progressing(5), checks: [pass()] }).status.canaryWeight).toBe(25);
    expect(run({ spec, status: progressing(60), checks: [pass()] }).status.phase).toBe("Promoting");
  });
});

describe("promotion", () => {
  const promotingStatus = (weight = 30): CanaryStatus => ({
    ...progressing(weight),
    phase: "Promoting",
    progressStartTime: iso(90),
  });

  it("waits for the primary to run the promoted revision", () => {
    const d = run({ status: promotingStatus(), primary: ready("rev-a") });
    expect(d.status.phase).toBe("Promoting");
    expect(d.requeueAfterMs).toBe(WAIT_POLL_MS);
  });

  const noReadyPod = (revision: string): WorkloadObservation => ({
    ...notReady(revision),
    readyPercent: 0,
  });
  const why = "podinfo-primary.test (promotion) not ready after 110s (progressDeadlineSeconds 60)";
  const failedPromotion = (primary: WorkloadObservation, target = ready("rev-b")) =>
    run({ status: promotingStatus(), primary, target, now: 200 });

  it("puts the primary back on the last promoted revision when it is not ready by the deadline", () => {
    const d = failedPromotion(notReady("rev-b"));
    expect(d.status).toMatchObject({
      phase: "Promoting",
      canaryWeight: 0,
      lastPromotedSpec: "rev-a",
      restoring: { reason: why, time: iso(200) },
    });
    const where = "all traffic on podinfo-primary.test (50% of its pods ready)";
    expect(d.events).toEqual([
      {
        type: "Warning",
        reason: "RolledBack",
        cause: "primary-not-ready",
        message: `Promotion of podinfo.test revision rev-b failed: ${why}. Rolling back: restoring podinfo-primary.test to the last promoted revision rev-a; ${where}`,
      },
    ]);
    expect(condition(d, "Promoted")?.message).toBe(
      `promotion of revision rev-b failed (${why}): restoring podinfo-primary.test to revision rev-a; ${where}`,
    );
    const desired = desiredState(d.status, resolveCanary(canarySpec()));
    expect(desired).toEqual({
      primary: "restore",
      target: "up",
      routes: { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false },
    });
    const plan = (primaryRevision: string, targetRevision = "rev-b") =>
      workloadPlan(d.status, desired, {
        targetRevision,
        primaryReplicas: 2,
        targetDraining: false,
        primaryRevision,
      });
    expect(plan("rev-b")).toMatchObject({ copyToPrimary: false, restorePrimary: true, targetReplicas: 2 });
    expect(plan("rev-a"), "restored already: nothing to write").toMatchObject({
      copyToPrimary: false,
      restorePrimary: false,
    });
    expect(
      plan("rev-b", "rev-a"),
      "a target back at the promoted revision is copied, configs and all",
    ).toMatchObject({ copyToPrimary: true, restorePrimary: false });
  });

  it.each([
    [
      "the canary if it is the only version with ready pods (Flagger 1.44)",
      noReadyPod("rev-b"),
      ready("rev-b"),
      100,
    ],
    ["the primary's ready pods, even when the canary has some", notReady("rev-b"), ready("rev-b"), 0],
    ["where it was when no version has a ready pod", noReadyPod("rev-b"), noReadyPod("rev-b"), 30],
  ])("keeps the traffic on ready pods while restoring: %s", (_l, primary, target, weight) => {
    const d = failedPromotion(primary, target);
    expect(d.status.canaryWeight).toBe(weight);
    expect(desiredState(d.status, resolveCanary(canarySpec())).routes.canaryWeight).toBe(weight);
  });

  it("routes nothing through a router without weights: the apex Service keeps the primary", () => {
    const spec = canarySpec({}, { provider: "kubernetes" });
    const d = run({ spec, status: promotingStatus(0), primary: noReadyPod("rev-b"), now: 200 });
    expect(d.status).toMatchObject({ phase: "Promoting", canaryWeight: 0 });
  });

  it("moves all traffic to a ready canary while the promoted primary has no ready pod, before any deadline", () => {
    const d = run({ status: promotingStatus(30), primary: noReadyPod("rev-b"), now: 100 });
    expect(d.status).toMatchObject({ phase: "Promoting", canaryWeight: 100 });
    expect(d.events.map((e) => e.message)).toEqual([
      "Routing all traffic to canary podinfo.test: podinfo-primary.test has no ready pods while it rolls out",
    ]);
    expect(run({ status: d.status, primary: noReadyPod("rev-b"), now: 110 }).events).toEqual([]);
    const halfway = run({ status: promotingStatus(30), primary: notReady("rev-b"), now: 100 });
    expect(halfway.status.canaryWeight, "a primary with ready pods keeps its share").toBe(30);
    const done = run({ status: d.status, primary: ready("rev-b"), now: 120 });
    expect(done.status).toMatchObject({ phase: "Finalising", canaryWeight: 0 });
  });

  describe("while restoring", () => {
    const restoringStatus = (weight = 0): CanaryStatus => ({
      ...promotingStatus(weight),
      progressStartTime: undefined,
      restoring: { reason: why, time: iso(200) },
    });

    it("follows the ready pods, saying so once, until the primary runs the promoted revision ready", () => {
      const rolling = run({ status: restoringStatus(), primary: notReady("rev-a"), now: 230 });
      expect(rolling.status).toMatchObject({ phase: "Promoting", canaryWeight: 0 });
      expect(rolling.events).toEqual([]);
      expect(rolling.requeueAfterMs).toBe(WAIT_POLL_MS);
      const empty = run({ status: rolling.status, primary: noReadyPod("rev-a"), now: 240 });
      expect(empty.status.canaryWeight).toBe(100);
      expect(empty.events).toEqual([
        {
          type: "Normal",
          reason: "Restoring",
          message: "Traffic moved: all traffic on canary podinfo.test, the only version with ready pods",
        },
      ]);
      const back = run({ status: empty.status, primary: ready("rev-a"), now: 260 });
      expect(back.status).toMatchObject({ phase: "Failed", canaryWeight: 0, lastPromotedSpec: "rev-a" });
      expect(back.status.restoring).toBeUndefined();
      expect(back.events).toEqual([
        {
          type: "Normal",
          reason: "Restored",
          message:
            "podinfo-primary.test runs the last promoted revision rev-a again and is ready: all traffic on it, scaling down podinfo.test",
        },
      ]);
      expect(condition(back, "Stalled")).toMatchObject({
        status: "True",
        message: `rolled back: promotion of revision rev-b failed (${why}); podinfo-primary.test restored to revision rev-a`,
      });
      expect(desiredState(back.status, resolveCanary(canarySpec()))).toMatchObject({
        primary: "keep",
        target: "zero",
        routes: { primaryWeight: 100, canaryWeight: 0 },
      });
    });

    it.each([
      ["the new revision, ready", ready("rev-b")],
      ["the new revision, not ready", notReady("rev-b")],
      ["the promoted revision, not ready", notReady("rev-a")],
      [
        "the promoted revision, rolled out but below primaryReadyThreshold",
        { ...ready("rev-a"), readyPercent: 50 },
      ],
      ["nothing", undefined],
    ])("is never Failed while the primary runs %s", (_l, primary) => {
      const d = run({ status: restoringStatus(), primary, now: 300 });
      expect(d.status.phase).toBe("Promoting");
      expect(d.status.restoring).toEqual({ reason: why, time: iso(200) });
    });

    it("lets a new revision wait until the restore is done, then analyses it", () => {
      const d = run({
        status: restoringStatus(),
        target: ready("rev-c"),
        primary: notReady("rev-a"),
        now: 230,
      });
      expect(d.status).toMatchObject({ phase: "Promoting", lastAppliedSpec: "rev-b" });
      const failed = run({
        status: restoringStatus(),
        target: ready("rev-c"),
        primary: ready("rev-a"),
        now: 240,
      });
      expect(failed.status.phase).toBe("Failed");
      const next = run({ status: failed.status, target: ready("rev-c"), primary: ready("rev-a"), now: 250 });
      expect(next.status).toMatchObject({
        phase: "Progressing",
        lastAppliedSpec: "rev-c",
        lastPromotedSpec: "rev-a",
      });
    });
  });

  it("routes all traffic back to the primary once it is updated", () => {
    const d = run({ status: promotingStatus(), primary: ready("rev-b") });
    expect(d.status).toMatchObject({ phase: "Finalising", canaryWeight: 0 });
    expect(reasons(d)).toEqual(["Finalising"]);
    expect(desiredState(d.status, resolveCanary(canarySpec()))).toMatchObject({
      primary: "keep",
      target: "zero",
    });
  });

  it("shifts traffic back in stepWeightPromotion steps, one per interval", () => {
    const spec = canarySpec({ stepWeightPromotion: 20, maxWeight: 50 });
    const first = run({ spec, status: promotingStatus(50), primary: ready("rev-b"), now: 95 });
    expect(first.status).toMatchObject({ phase: "Promoting", canaryWeight: 30 });
    expect(first.events[0]?.message).toBe("Advance podinfo-primary.test weight 70");
    const early = run({ spec, status: first.status, primary: ready("rev-b"), now: 100 });
    expect(early.status.canaryWeight).toBe(30);
    const later = run({ spec, status: first.status, primary: ready("rev-b"), now: 126 });
    expect(later.status.canaryWeight).toBe(10);
    const last = run({ spec, status: later.status, primary: ready("rev-b"), now: 157 });
    expect(last.status).toMatchObject({ phase: "Finalising", canaryWeight: 0 });
  });

  it("succeeds once the canary is scaled to zero", () => {
    const finalising: CanaryStatus = { ...progressing(0), phase: "Finalising" };
    expect(run({ status: finalising, primary: ready("rev-b") }).status.phase).toBe("Finalising");
    const d = run({ status: finalising, target: scaledDown("rev-b"), primary: ready("rev-b") });
    expect(d.status).toMatchObject({ phase: "Succeeded", lastPromotedSpec: "rev-b" });
    expect(d.events[0]?.message).toBe("Promotion completed! podinfo.test revision rev-b is live");
    expect(condition(d, "Ready")?.status).toBe("True");
  });
});

describe("blue/green and A/B", () => {
  const blueGreen = (provider: CanarySpec["provider"]) =>
    canarySpec({ stepWeight: undefined, maxWeight: undefined, iterations: 3 }, { provider });

  it("counts iterations and promotes after the last", () => {
    const spec = blueGreen("kubernetes");
    const d1 = run({ spec, status: progressing(0), checks: [pass()] });
    expect(d1.status).toMatchObject({ phase: "Progressing", iterations: 1, canaryWeight: 0 });
    expect(d1.events[0]?.message).toBe("Advance podinfo.test canary iteration 1/3");
    const d3 = run({ spec, status: progressing(0, { iterations: 2 }), checks: [pass()] });
    expect(d3.status).toMatchObject({ phase: "Promoting", iterations: 3, canaryWeight: 0 });
  });

  it("switches all traffic to the canary before promotion when the router can", () => {
    const d = run({ spec: blueGreen("nginx"), status: progressing(0, { iterations: 2 }), checks: [pass()] });
    expect(d.status).toMatchObject({ phase: "Promoting", canaryWeight: 100 });
    expect(d.events.map((e) => e.message)).toContain("Routing all traffic to canary podinfo.test");
  });

  it("runs stepWeights on the kubernetes provider as Flagger does: blue/green, 10 iterations, one warning", () => {
    // provider left to the controller's default (kubernetes), which cannot split traffic by weight.
    const spec = canarySpec(
      { stepWeights: [10, 20], stepWeight: undefined, maxWeight: undefined },
      { provider: undefined },
    );
    const status: CanaryStatus = {
      phase: "Initialized",
      lastAppliedSpec: "rev-a",
      lastPromotedSpec: "rev-a",
      canaryWeight: 0,
    };
    const d = run({ spec, status });
    expect(d.status).toMatchObject({ phase: "Progressing", canaryWeight: 0, lastAppliedSpec: "rev-b" });
    expect(condition(d, "Stalled")?.status).toBe("False");
    const warning = d.events.filter((e) => e.type === "Warning");
    expect(warning).toEqual([
      {
        type: "Warning",
        reason: "SettingsIgnored",
        message:
          "As in Flagger: analysis.stepWeights ignored: provider kubernetes switches all traffic at once (blue/green), run with analysis.iterations 10",
      },
    ]);
    // Once per generation: the next decision, with the generation observed, does not repeat it.
    const again = run({ spec, status: d.status, target: ready("rev-b") });
    expect(again.events.map((e) => e.reason)).not.toContain("SettingsIgnored");
    const passed = run({
      spec,
      status: progressing(0, { iterations: 8, observedGeneration: 3 }),
      checks: [pass()],
    });
    expect(passed.events[0]?.message).toBe("Advance podinfo.test canary iteration 9/10");
  });

  it("drops match on the kubernetes provider with a warning, as Flagger does", () => {
    const match = [{ headers: { "x-canary": { exact: "1" } } }];
    const spec = canarySpec(
      { stepWeight: undefined, maxWeight: undefined, iterations: 2, match },
      { provider: "kubernetes" },
    );
    const d = run({ spec, status: progressing(0, { lastStepTime: undefined }) });
    expect(condition(d, "Stalled")?.status).toBe("False");
    expect(d.events).toContainEqual({
      type: "Warning",
      reason: "SettingsIgnored",
      message:
        "As in Flagger: analysis.match ignored: provider kubernetes cannot route by header or cookie (A/B testing)",
    });
    expect(desiredState(d.status, resolveCanary(spec)).routes).toMatchObject({
      canaryWeight: 0,
      matched: false,
    });
  });

  it("starts blue/green without traffic to the canary", () => {
    const spec = blueGreen("kubernetes");
    const d = run({ spec, status: progressing(0, { lastStepTime: undefined }) });
    expect(d.status).toMatchObject({ canaryWeight: 0, lastStepTime: iso(100) });
    expect(desiredState(d.status, resolveCanary(spec)).routes).toEqual({
      primaryWeight: 100,
      canaryWeight: 0,
      matched: false,
      mirrored: false,
    });
  });

  it("routes matching requests to the canary during an A/B analysis", () => {
    const spec = canarySpec({
      stepWeight: undefined,
      maxWeight: undefined,
      iterations: 2,
      match: [{ headers: { "x-canary": { exact: "insider" } } }],
    });
    const d = run({ spec, status: progressing(0, { lastStepTime: undefined }) });
    expect(desiredState(d.status, resolveCanary(spec)).routes).toMatchObject({
      matched: true,
      canaryWeight: 0,
    });
    const promoted = run({ spec, status: progressing(0, { iterations: 1 }), checks: [pass()] });
    expect(promoted.status).toMatchObject({ phase: "Promoting", canaryWeight: 0 });
  });
});

describe("suspend, blockers and deletion", () => {
  it("changes nothing while suspended", () => {
    const status = progressing(10);
    const d = run({ spec: canarySpec({}, { suspend: true }), status, checks: undefined, now: 500 });
    expect(d.events).toEqual([]);
    expect(d.needsChecks).toBe(false);
    expect({ ...d.status, conditions: undefined, observedGeneration: undefined }).toEqual({
      ...status,
      router: "nginx",
      conditions: undefined,
      observedGeneration: undefined,
    });
  });

  it("reports a blocker once, as Stalled, and keeps the phase", () => {
    const blocker = {
      reason: "ConflictingCanary",
      message: "Deployment podinfo.test is already the target of Canary other",
    };
    const d = run({ status: progressing(10), blocker });
    expect(d.status.phase).toBe("Progressing");
    expect(d.events).toEqual([{ type: "Warning", ...blocker }]);
    expect(condition(d, "Stalled")).toMatchObject({ status: "True", reason: "ConflictingCanary" });
    expect(condition(d, "Ready")).toMatchObject({ status: "False", message: blocker.message });
    expect(run({ status: d.status, blocker }).events).toEqual([]);
  });

  it("reports a missing target", () => {
    const d = run({ status: {}, target: undefined });
    expect(d.events[0]).toMatchObject({ reason: "TargetNotFound", type: "Warning" });
    expect(d.events[0]?.message).toContain("spec.targetRef.name");
  });

  it("restores the target on deletion only with revertOnDeletion", () => {
    const kept = run({ status: progressing(10), deleting: true });
    expect(kept.status.phase).toBe("Progressing");
    const d = run({
      spec: canarySpec({}, { revertOnDeletion: true }),
      status: progressing(10),
      deleting: true,
    });
    expect(d.status.phase).toBe("Terminating");
    expect(desiredState(d.status, resolveCanary(canarySpec()))).toMatchObject({
      target: "up",
      routes: { canaryWeight: 0 },
    });
  });
});

describe("a whole release, tick by tick", () => {
  it("walks every step exactly once and is idempotent at each point", () => {
    const spec = canarySpec({ stepWeight: 10, maxWeight: 30 });
    let status: CanaryStatus = { phase: "Succeeded", lastAppliedSpec: "rev-a", lastPromotedSpec: "rev-a" };
    let primary = ready("rev-a");
    let target = ready("rev-b");
    const weights: number[] = [];
    const phases: string[] = [];
    for (let second = 0; second < 400 && (status.phase !== "Succeeded" || second === 0); second += 5) {
      const first = run({ spec, status, target, primary, now: second });
      const checks = first.needsChecks ? [pass()] : undefined;
      const d = checks ? run({ spec, status, target, primary, now: second, checks }) : first;
      // Deciding again on the same input (a restart before the status write) gives the same answer.
      const again = run({ spec, status, target, primary, now: second, checks });
      expect(again.status).toEqual(d.status);
      status = d.status;
      const desired = desiredState(status, resolveCanary(spec));
      if (desired.primary === "copy") primary = ready(status.lastAppliedSpec ?? "");
      if (desired.target === "zero") target = scaledDown("rev-b");
      if (weights.at(-1) !== desired.routes.canaryWeight) weights.push(desired.routes.canaryWeight);
      if (phases.at(-1) !== status.phase) phases.push(status.phase ?? "");
    }
    expect(phases).toEqual(["Progressing", "Promoting", "Finalising", "Succeeded"]);
    expect(weights).toEqual([0, 10, 20, 30, 0]);
    expect(status.lastPromotedSpec).toBe("rev-b");
  });
});

describe("webhooks, requests and windows", () => {
  const hook = (name: string, type: WebhookType): CanaryWebhook => ({
    name,
    type,
    url: `http://gate.test/${name}?token=secret`,
    metadata: { token: "s3cr3t" },
  });
  const answer = (
    hookName: string,
    type: WebhookType,
    result: WebhookAnswer["result"] = "pass",
  ): WebhookAnswer =>
    result === "error"
      ? { name: hookName, type, result, message: "no answer within 10s" }
      : {
          name: hookName,
          type,
          result,
          code: result === "pass" ? 200 : 403,
          message: result === "pass" ? "200 OK" : "403 Forbidden",
        };
  const specWith = (hooks: CanaryWebhook[], analysis: Partial<CanarySpec["analysis"]> = {}) =>
    canarySpec({ webhooks: hooks, ...analysis });
  const calls = (d: Decision) => d.needsWebhooks.map((c) => `${c.type}:${c.name}:${c.phase}`);
  const fresh: CanaryStatus = { phase: "Succeeded", lastAppliedSpec: "rev-a", lastPromotedSpec: "rev-a" };
  const request = (revision: string, extra: Record<string, unknown> = {}) => {
    const raw = JSON.stringify({ revision, by: "alice", at: "2026-01-01T00:01:00Z", ...extra });
    return { raw, revision, by: "alice", at: "2026-01-01T00:01:00Z", ...extra };
  };

  describe("confirm-rollout", () => {
    const spec = specWith([hook("gate", "confirm-rollout")]);

    it("keeps a new revision Waiting, scaled to zero, and asks the gate", () => {
      const d = run({ spec, status: fresh });
      expect(d.status.phase).toBe("Waiting");
      expect(calls(d)).toEqual(["confirm-rollout:gate:Waiting"]);
      expect(desiredState(d.status, resolveCanary(spec))).toMatchObject({ target: "zero", primary: "keep" });
    });

    it("starts the rollout on a yes and records the answer for the revision", () => {
      const d = run({ spec, status: fresh, webhooks: [answer("gate", "confirm-rollout")] });
      expect(d.status.phase).toBe("Progressing");
      expect(d.needsWebhooks).toEqual([]);
      expect(d.status.webhooks).toEqual([
        expect.objectContaining({
          name: "gate",
          result: "pass",
          revision: "rev-b",
          step: "rollout",
          time: iso(100),
        }),
      ]);
      expect(d.events.find((e) => e.reason === "WebhookPassed")?.message).toBe(
        "confirm-rollout webhook gate (http://gate.test/gate) passed for podinfo.test at rollout: 200 OK",
      );
      expect(JSON.stringify(d)).not.toContain("s3cr3t");
      expect(desiredState(d.status, resolveCanary(spec)).target).toBe("up");
    });

    it.each(["fail", "error"] as const)(
      "stays Waiting on %s and asks again only after the interval",
      (result) => {
        const d = run({ spec, status: fresh, webhooks: [answer("gate", "confirm-rollout", result)] });
        expect(d.status.phase).toBe("Waiting");
        expect(d.requeueAfterMs).toBe(30_000);
        expect(condition(d, "Promoted")?.message).toContain(
          "waiting for approval to roll out revision rev-b",
        );
        expect(calls(run({ spec, status: d.status, now: 110 }))).toEqual([]);
        expect(calls(run({ spec, status: d.status, now: 130 }))).toEqual(["confirm-rollout:gate:Waiting"]);
      },
    );

    it("does not ask a gate that already said yes for this revision (a restart)", () => {
      const passed = run({ spec, status: fresh, webhooks: [answer("gate", "confirm-rollout")] }).status;
      const again = run({ spec, status: { ...passed, phase: "Waiting" } });
      expect(again.needsWebhooks).toEqual([]);
      expect(again.status.phase).toBe("Progressing");
    });

    it("lets kanaria promote for this revision through, and records who asked", () => {
      const waiting = run({
        spec,
        status: fresh,
        webhooks: [answer("gate", "confirm-rollout", "fail")],
      }).status;
      const d = run({ spec, status: waiting, now: 105, requests: { promote: request("rev-b") } });
      expect(d.status.phase).toBe("Progressing");
      expect(d.needsWebhooks).toEqual([]);
      expect(d.events.find((e) => e.reason === "PromoteRequested")?.message).toBe(
        "Promotion of podinfo.test revision rev-b approved by alice",
      );
    });

    it("ignores kanaria promote written for another revision", () => {
      const waiting = run({
        spec,
        status: fresh,
        webhooks: [answer("gate", "confirm-rollout", "fail")],
      }).status;
      const d = run({ spec, status: waiting, now: 105, requests: { promote: request("rev-old") } });
      expect(d.status.phase).toBe("Waiting");
      expect(d.events.find((e) => e.reason === "RequestIgnored")?.message).toContain(
        "names revision rev-old",
      );
      expect(
        run({ spec, status: d.status, now: 106, requests: { promote: request("rev-old") } }).events,
      ).toEqual([]);
    });
  });

  describe("during the analysis", () => {
    it("holds at weight 0 while a pre-rollout hook fails, counting it as a failed check", () => {
      const spec = specWith([hook("smoke", "pre-rollout")]);
      const start = { ...progressing(0), lastStepTime: undefined };
      const first = run({ spec, status: start });
      expect(calls(first)).toEqual(["pre-rollout:smoke:Progressing"]);
      const failed = run({ spec, status: start, webhooks: [answer("smoke", "pre-rollout", "fail")] });
      expect(failed.status).toMatchObject({ phase: "Progressing", canaryWeight: 0, failedChecks: 1 });
      expect(failed.status.lastStepTime).toBeUndefined();
      expect(calls(run({ spec, status: failed.status, now: 110 }))).toEqual([]);
      const second = run({
        spec,
        status: failed.status,
        now: 130,
        webhooks: [answer("smoke", "pre-rollout", "error")],
      });
      expect(second.status.phase).toBe("Failed");
      expect(condition(second, "Stalled")?.message).toContain(
        "pre-rollout webhook smoke: no answer within 10s",
      );
    });

    it("moves the first weight once pre-rollout passes", () => {
      const spec = specWith([hook("smoke", "pre-rollout")]);
      const d = run({
        spec,
        status: { ...progressing(0), lastStepTime: undefined },
        webhooks: [answer("smoke", "pre-rollout")],
      });
      expect(d.status).toMatchObject({ canaryWeight: 10, lastStepTime: iso(100) });
    });

    it("runs rollout hooks with the checks at each step; a failure is a failed check", () => {
      const spec = specWith([hook("load", "rollout")]);
      const first = run({ spec, status: progressing(10) });
      expect(first.needsChecks).toBe(true);
      expect(calls(first)).toEqual(["rollout:load:Progressing"]);
      const failed = run({
        spec,
        status: progressing(10),
        checks: [pass()],
        webhooks: [answer("load", "rollout", "fail")],
      });
      expect(failed.status).toMatchObject({ canaryWeight: 10, failedChecks: 1 });
      expect(condition(failed, "Promoted")?.message).toContain("rollout webhook load: 403 Forbidden");
      const ok = run({
        spec,
        status: progressing(10),
        checks: [pass()],
        webhooks: [answer("load", "rollout")],
      });
      expect(ok.status.canaryWeight).toBe(20);
    });

    it("asks confirm-traffic-increase before each weight increase and holds on a no", () => {
      const spec = specWith([hook("more", "confirm-traffic-increase")]);
      const first = run({ spec, status: progressing(10) });
      expect(calls(first)).toEqual(["confirm-traffic-increase:more:Progressing"]);
      const no = run({
        spec,
        status: progressing(10),
        checks: [pass()],
        webhooks: [answer("more", "confirm-traffic-increase", "error")],
      });
      expect(no.status).toMatchObject({ canaryWeight: 10, failedChecks: 0, lastStepTime: iso(100) });
      expect(condition(no, "Promoted")?.message).toContain("weight 20 waits for approval");
      const yes = run({
        spec,
        status: progressing(10),
        checks: [pass()],
        webhooks: [answer("more", "confirm-traffic-increase")],
      });
      expect(yes.status.canaryWeight).toBe(20);
      expect(yes.status.webhooks?.[0]).toMatchObject({ step: "weight 20", result: "pass" });
    });

    it("rolls back at once when a rollback hook answers yes", () => {
      const spec = specWith([hook("stop", "rollback")]);
      const d = run({
        spec,
        status: progressing(20),
        checks: [pass()],
        webhooks: [answer("stop", "rollback")],
      });
      expect(d.status.phase).toBe("Failed");
      expect(condition(d, "Stalled")?.message).toContain("rollback webhook stop asked for a rollback");
      const quiet = run({
        spec,
        status: progressing(20),
        checks: [pass()],
        webhooks: [answer("stop", "rollback", "fail")],
      });
      expect(quiet.status.canaryWeight).toBe(30);
      expect(quiet.events.find((e) => e.reason === "WebhookFailed")?.type).toBe("Normal");
    });

    it("rolls back on kanaria abort for this revision, naming who asked and why", () => {
      const abort = request("rev-b", { reason: "bad release" });
      const d = run({ status: progressing(20), now: 70, requests: { abort } });
      expect(d.status.phase).toBe("Failed");
      expect(d.status.requests).toEqual({ abort: abort.raw });
      expect(d.events.find((e) => e.reason === "RolledBack")?.message).toBe(
        "Canary failed! Rolling back podinfo.test: aborted by alice: bad release",
      );
      expect(
        run({ status: progressing(20), now: 70, requests: { abort: request("rev-old") } }).status.phase,
      ).toBe("Progressing");
    });

    it("promotes at once on kanaria promote --skip-analysis", () => {
      const promote = request("rev-b", { skipAnalysis: true });
      const d = run({ status: progressing(10), now: 70, requests: { promote } });
      expect(d.status.phase).toBe("Promoting");
      expect(condition(d, "Promoted")?.message).toContain(
        "promoted by alice without the rest of the analysis",
      );
    });
  });

  describe("confirm-promotion and windows", () => {
    const gate = hook("release", "confirm-promotion");

    it("waits in WaitingPromotion with traffic kept and the primary untouched until the gate says yes", () => {
      const spec = specWith([gate]);
      const first = run({ spec, status: progressing(30) });
      expect(calls(first)).toEqual(["confirm-promotion:release:Progressing"]);
      const no = run({
        spec,
        status: progressing(30),
        checks: [pass()],
        webhooks: [answer("release", "confirm-promotion", "fail")],
      });
      expect(no.status.phase).toBe("WaitingPromotion");
      expect(desiredState(no.status, resolveCanary(spec))).toMatchObject({
        primary: "keep",
        target: "up",
        routes: { canaryWeight: 30 },
      });
      // The checks go on at the next interval, with the gate asked again.
      const next = run({ spec, status: no.status, now: 130 });
      expect(next.needsChecks).toBe(true);
      expect(calls(next)).toEqual(["confirm-promotion:release:WaitingPromotion"]);
      const yes = run({
        spec,
        status: no.status,
        now: 130,
        checks: [pass()],
        webhooks: [answer("release", "confirm-promotion")],
      });
      expect(yes.status.phase).toBe("Promoting");
    });

    it("rolls back from WaitingPromotion when the checks fail", () => {
      const spec = specWith([gate], { threshold: 1 });
      const waiting = run({
        spec,
        status: progressing(30),
        checks: [pass()],
        webhooks: [answer("release", "confirm-promotion", "fail")],
      });
      const d = run({
        spec,
        status: waiting.status,
        now: 130,
        checks: [fail()],
        webhooks: [answer("release", "confirm-promotion", "fail")],
      });
      expect(d.status.phase).toBe("Failed");
    });

    it("promotes from WaitingPromotion on kanaria promote without waiting for the next step", () => {
      const spec = specWith([gate]);
      const waiting = run({
        spec,
        status: progressing(30),
        checks: [pass()],
        webhooks: [answer("release", "confirm-promotion", "fail")],
      });
      const d = run({ spec, status: waiting.status, now: 101, requests: { promote: request("rev-b") } });
      expect(d.status.phase).toBe("Promoting");
      expect(d.needsWebhooks).toEqual([]);
    });

    // T0 is Thursday 2026-01-01 00:00 UTC; the window opens at 00:05 UTC every day for an hour.
    const window = { schedule: "5 0 * * *", duration: "1h", timeZone: "UTC" };

    it("holds a passing release outside its promotion window, naming the next opening", () => {
      const spec = canarySpec({ promotionWindows: [window] });
      const d = run({ spec, status: progressing(30), checks: [pass()] });
      expect(d.status.phase).toBe("WaitingPromotion");
      expect(condition(d, "Promoted")?.message).toBe(
        "podinfo.test passed its analysis; not promoting outside the promotion windows: next opening 2026-01-01T00:05:00.000Z",
      );
      expect(d.requeueAfterMs).toBe(30_000);
      // The opening is 200s away: the last look is timed to it.
      const later = run({ spec, status: d.status, now: 280, checks: [pass()] });
      expect(later.status.phase).toBe("WaitingPromotion");
      expect(later.requeueAfterMs).toBe(20_000);
      expect(run({ spec, status: d.status, now: 300 }).status.phase).toBe("Promoting");
    });

    it("never delays a rollback for a freeze", () => {
      const spec = canarySpec({ threshold: 1, freezeWindows: [{ schedule: "0 0 * * *", duration: "24h" }] });
      expect(run({ spec, status: progressing(20), checks: [fail()] }).status.phase).toBe("Failed");
      expect(run({ spec, status: progressing(30), checks: [pass()] }).status.phase).toBe("WaitingPromotion");
    });

    it("does not promote with an invalid window, and says which field is wrong", () => {
      const spec = canarySpec({ freezeWindows: [{ schedule: "every day", duration: "1h" }] });
      const d = run({ spec, status: progressing(30), checks: [pass()] });
      expect(d.status.phase).toBe("WaitingPromotion");
      expect(condition(d, "Promoted")?.message).toContain(
        "analysis.freezeWindows[0].schedule: invalid cron expression",
      );
    });
  });

  describe("after the release", () => {
    it("calls post-rollout hooks once after a promotion, whatever they answer", () => {
      const spec = specWith([hook("notify", "post-rollout")]);
      const finalising: CanaryStatus = { ...progressing(0), phase: "Finalising" };
      const done = run({ spec, status: finalising, target: scaledDown("rev-b"), primary: ready("rev-b") });
      expect(done.status.phase).toBe("Succeeded");
      expect(calls(done)).toEqual(["post-rollout:notify:Succeeded"]);
      const answered = run({
        spec,
        status: finalising,
        target: scaledDown("rev-b"),
        primary: ready("rev-b"),
        webhooks: [answer("notify", "post-rollout", "fail")],
      });
      expect(answered.status.phase).toBe("Succeeded");
      expect(answered.needsWebhooks).toEqual([]);
      const later = run({
        spec,
        status: answered.status,
        target: scaledDown("rev-b"),
        primary: ready("rev-b"),
        now: 200,
      });
      expect(later.needsWebhooks).toEqual([]);
    });

    it("calls post-rollout hooks after a rollback", () => {
      const spec = specWith([hook("notify", "post-rollout")], { threshold: 1 });
      expect(calls(run({ spec, status: progressing(20), checks: [fail()] }))).toEqual([
        "post-rollout:notify:Failed",
      ]);
    });

    it("analyses a failed revision again on kanaria retry, once per request", () => {
      const failed: CanaryStatus = { ...progressing(0), phase: "Failed", failedChecks: 2 };
      const retry = request("rev-b");
      const d = run({ status: failed, target: scaledDown("rev-b"), requests: { retry } });
      expect(d.status).toMatchObject({
        phase: "Progressing",
        failedChecks: 0,
        requests: { retry: retry.raw },
      });
      expect(d.events.find((e) => e.reason === "Retrying")?.message).toContain("requested by alice");
      const handled = { ...failed, requests: { retry: retry.raw } };
      expect(run({ status: handled, target: scaledDown("rev-b"), requests: { retry } }).status.phase).toBe(
        "Failed",
      );
    });
  });
});

describe("deletionStep (revertOnDeletion)", () => {
  it.each([
    ["the target is gone", undefined, 3, { kind: "done" }],
    [
      "the target was scaled to zero",
      { replicas: 0, ready: false, draining: false },
      3,
      { kind: "scale-target", replicas: 3 },
    ],
    [
      "the target's scale-down has not landed yet",
      { replicas: 0, ready: false, draining: true },
      3,
      { kind: "wait" },
    ],
    [
      "no primary to copy the scale from",
      { replicas: 0, ready: false, draining: false },
      undefined,
      { kind: "scale-target", replicas: 1 },
    ],
    ["the target is coming up", { replicas: 3, ready: false, draining: false }, 3, { kind: "wait" }],
    ["the target is ready", { replicas: 3, ready: true, draining: false }, 3, { kind: "release" }],
  ] as const)("%s", (_label, target, primaryReplicas, step) => {
    expect(deletionStep(target, primaryReplicas)).toEqual(step);
  });
});

describe("workloadPlan", () => {
  const plan = (
    status: CanaryStatus,
    targetRevision: string,
    primaryReplicas: number | undefined,
    targetDraining = false,
  ) =>
    workloadPlan(status, desiredState(status, resolveCanary(canarySpec())), {
      targetRevision,
      primaryReplicas,
      targetDraining,
    });

  it.each([
    ["Initializing copies what the target runs", { phase: "Initializing" }, "rev-b", 3, true, undefined],
    ["Progressing runs the canary at the primary's scale", progressing(20), "rev-b", 3, false, 3],
    ["at least one canary pod", progressing(20), "rev-b", 0, false, 1],
    [
      "Promoting copies the analysed revision",
      { ...progressing(30), phase: "Promoting" },
      "rev-b",
      3,
      true,
      3,
    ],
    [
      "a target changed since the decision waits",
      { ...progressing(30), phase: "Promoting" },
      "rev-c",
      3,
      false,
      3,
    ],
    [
      "Succeeded scales the canary to zero",
      { phase: "Succeeded", lastAppliedSpec: "rev-b" },
      "rev-b",
      3,
      false,
      0,
    ],
  ] as const)("%s", (_label, status, revision, primaryReplicas, copy, replicas) => {
    expect(plan(status as CanaryStatus, revision, primaryReplicas)).toEqual({
      copyToPrimary: copy,
      restorePrimary: false,
      targetReplicas: replicas,
    });
  });
  it("leaves a canary whose scale-down has not landed at zero, and scales it up once it has", () => {
    expect(plan(progressing(20), "rev-b", 3, true).targetReplicas).toBeUndefined();
    expect(plan(progressing(20), "rev-b", 3, false).targetReplicas).toBe(3);
    expect(plan({ phase: "Succeeded", lastAppliedSpec: "rev-b" }, "rev-b", 3, true).targetReplicas).toBe(0);
  });
});
