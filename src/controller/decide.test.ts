import { describe, expect, it } from "vitest";
import {
  type Case,
  canarySpec,
  condition,
  errored,
  fail,
  iso,
  noData,
  notReady,
  pass,
  progressing,
  ready,
  reasons,
  run,
  scaledDown,
} from "../../test/helpers/decide-cases.ts";
import type { CanarySpec, CanaryStatus, CheckStatus } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { sameStatus } from "./conditions.ts";
import { WAIT_POLL_MS } from "./decide.ts";
import { deletionStep, desiredState, workloadPlan } from "./desired.ts";
import type { WorkloadObservation } from "./observations.ts";

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

  describe("before the first traffic: the canary's ready pods listed in its Service's EndpointSlices", () => {
    const starting = progressing(0, { lastStepTime: undefined, progressStartTime: iso(90) });
    const listed = (endpointsReady: number) => ({ ...ready("rev-b"), endpointsReady });

    it("holds the first step, looking again within a second, until every ready pod is listed", () => {
      const d = run({ status: starting, target: listed(1) });
      expect(d.status).toMatchObject({
        canaryWeight: 0,
        lastStepTime: undefined,
        progressStartTime: iso(90),
      });
      expect(d.events).toEqual([]);
      expect(d.requeueAfterMs).toBe(1_000);
      expect(condition(d, "Promoted")?.message).toBe(
        `waiting for the EndpointSlices of Service podinfo-canary to list the ready pods of podinfo.test before its first traffic (1 of 2 ready pods; progressDeadlineSeconds 60: rolled back if not listed by ${iso(150)})`,
      );
      // Listed: the first step, as without the check.
      expect(run({ status: starting, target: listed(2) }).status).toMatchObject({ canaryWeight: 10 });
    });

    it("asks only as many as canaryReadyThreshold does, and at least one", () => {
      const half = canarySpec({ canaryReadyThreshold: 50 });
      expect(run({ spec: half, status: starting, target: listed(1) }).status.canaryWeight).toBe(10);
      expect(run({ spec: half, status: starting, target: listed(0) }).status.canaryWeight).toBe(0);
    });

    it("rolls back past progressDeadlineSeconds, naming the Service and the count", () => {
      const d = run({ status: { ...starting, progressStartTime: iso(30) }, target: listed(0) });
      expect(d.status.phase).toBe("Failed");
      expect(d.events.map((e) => e.message)).toContain(
        "Canary failed! Rolling back podinfo.test: the EndpointSlices of Service podinfo-canary listed 0 of 2 ready pods after 70s (progressDeadlineSeconds 60)",
      );
    });

    it("is not looked at once the canary has had traffic", () => {
      const d = run({ status: progressing(10), target: listed(0), now: 200 });
      expect(d.status.phase).toBe("Progressing");
      expect(condition(d, "Promoted")?.message ?? "").not.toContain("EndpointSlices");
    });
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
      // The reconciler looks again right after the status write: no new round until the retry is due.
      const soon = run({ status: d.status, now: 100.1 });
      expect(soon.needsChecks, "no query on every look").toBe(false);
      expect(soon.requeueAfterMs).toBe(5_900);
      expect(sameStatus(soon.status, d.status), "nothing new to write").toBe(true);
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

    it("tries again at the end of the outage budget even when the next retry would be later", () => {
      const spec = canarySpec({ inconclusiveTimeout: "20s" });
      const status = progressing(10, { inconclusiveSince: iso(100), checks: [errored()] });
      const early = run({ spec, status, now: 101 });
      expect(early.needsChecks).toBe(false);
      expect(early.requeueAfterMs).toBe(5_000);
      const late = progressing(10, { inconclusiveSince: iso(85), checks: [errored()] });
      const atBudget = run({ spec, status: late, now: 104 });
      expect(atBudget.requeueAfterMs, "the budget ends at 105 s, before the retry at 106 s").toBe(1_000);
      expect(run({ spec, status: late, now: 105 }).needsChecks).toBe(true);
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
    const desired = (status: CanaryStatus) => desiredState(status, resolveCanary(canarySpec()));
    // The traffic leaves the canary at once; its pods drain for one interval before the scale-down.
    expect(desired(d.status)).toMatchObject({ target: "keep", routes: { canaryWeight: 0 } });
    const rolledBack = condition(d, "Stalled")?.message;
    const seen = run({ status: d.status, now: 101 });
    expect(seen.status.stepRoutedTime).toBe(iso(101));
    expect(condition(seen, "Stalled")?.message, "the rollback's message stays").toBe(rolledBack);
    expect(desired(seen.status).target).toBe("keep");
    const drained = run({ status: seen.status, now: 131 });
    expect(drained.status).toMatchObject({ phase: "Failed", drainedTime: iso(131) });
    expect(drained.events.map((e) => [e.reason, e.message])).toEqual([
      ["Drained", "Scaling down podinfo.test: it has had no traffic for 30s"],
    ]);
    expect(condition(drained, "Stalled")?.message).toBe(rolledBack);
    expect(desired(drained.status).target).toBe("zero");
    expect(run({ status: drained.status, now: 200 }).events, "drained once").toEqual([]);
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
      // The canary, which may have served everything while the primary was restored, drains first.
      expect(back.status.drainedTime).toBeUndefined();
      expect(desiredState(back.status, resolveCanary(canarySpec()))).toMatchObject({
        primary: "keep",
        target: "keep",
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
    // The canary keeps its pods while it drains; the split of the last step no longer dates the drain.
    expect(d.status.stepRoutedTime).toBeUndefined();
    expect(desiredState(d.status, resolveCanary(canarySpec()))).toMatchObject({
      primary: "keep",
      target: "keep",
      routes: { primaryWeight: 100, canaryWeight: 0 },
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

  describe("with an autoscaler (status.primaryScaler)", () => {
    const capacity = { revision: "rev-b", readyReplicas: 6, floor: 6 };
    const withReady = (available: number): WorkloadObservation => ({ ...ready("rev-b", 6), available });

    it("holds the switch until the primary has as many ready replicas as when the release started", () => {
      const status = { ...promotingStatus(), primaryScaler: capacity };
      const held = run({ status, primary: withReady(3) });
      expect(held.status).toMatchObject({ phase: "Promoting", canaryWeight: 30 });
      expect(held.events).toEqual([]);
      expect(held.requeueAfterMs).toBe(WAIT_POLL_MS);
      expect(condition(held, "Promoted")?.message).toBe(
        "holding the switch to podinfo-primary.test: 3 of 6 replicas ready (as many as served all traffic when the release started); its autoscaler's minimum is raised to 6 until the switch holds",
      );
      const done = run({ status, primary: withReady(6) });
      expect(done.status).toMatchObject({ phase: "Finalising", canaryWeight: 0 });
    });

    it("ignores a record of an earlier release", () => {
      const status = { ...promotingStatus(), primaryScaler: { ...capacity, revision: "rev-a" } };
      expect(run({ status, primary: withReady(1) }).status.phase).toBe("Finalising");
    });

    it("holds the last stepWeightPromotion step, not the ones before it", () => {
      const spec = canarySpec({ stepWeightPromotion: 20, maxWeight: 50 });
      const status = { ...promotingStatus(30), primaryScaler: capacity };
      const step = run({ spec, status, primary: withReady(2), now: 95 });
      expect(step.status.canaryWeight).toBe(10);
      const last = run({ spec, status: step.status, primary: withReady(2), now: 126 });
      expect(last.status).toMatchObject({ phase: "Promoting", canaryWeight: 10 });
      const switched = run({ spec, status: step.status, primary: withReady(6), now: 126 });
      expect(switched.status).toMatchObject({ phase: "Finalising", canaryWeight: 0 });
    });
  });

  it("drains the canary for one interval after the route is seen on the primary, then scales it down", () => {
    const primary = ready("rev-b");
    const target = ready("rev-b");
    const finalising: CanaryStatus = { ...progressing(0), phase: "Finalising", stepRoutedTime: undefined };
    const desired = (status: CanaryStatus) => desiredState(status, resolveCanary(canarySpec())).target;

    // The route still splits (a crash before the route write): the drain has not begun.
    const unrouted = run({
      status: finalising,
      target,
      primary,
      routes: { primaryWeight: 80, canaryWeight: 20, matched: false, mirrored: false },
      now: 100,
    });
    expect(unrouted.status).toMatchObject({ phase: "Finalising", stepRoutedTime: undefined });
    expect(unrouted.status.drainedTime).toBeUndefined();
    expect(unrouted.requeueAfterMs).toBe(1_000);

    const seen = run({ status: finalising, target, primary, now: 100 });
    expect(seen.status).toMatchObject({ phase: "Finalising", stepRoutedTime: iso(100) });
    expect(seen.status.drainedTime).toBeUndefined();
    expect(seen.events).toEqual([]);
    expect(seen.requeueAfterMs).toBe(30_000);
    expect(condition(seen, "Promoted")?.message).toContain(
      "draining podinfo.test: all traffic on podinfo-primary.test since",
    );
    expect(desired(seen.status)).toBe("keep");

    const early = run({ status: seen.status, target, primary, now: 129 });
    expect(early.status.drainedTime).toBeUndefined();
    expect(early.requeueAfterMs).toBe(1_000);
    expect(desired(early.status)).toBe("keep");

    const drained = run({ status: seen.status, target, primary, now: 130 });
    expect(drained.status).toMatchObject({ phase: "Finalising", drainedTime: iso(130) });
    expect(drained.events.map((e) => e.message)).toEqual([
      "Scaling down podinfo.test: it has had no traffic for 30s",
    ]);
    expect(desired(drained.status)).toBe("zero");
    // Deciding again before the scale-down lands records nothing twice.
    const landing = run({ status: drained.status, target, primary, now: 131 });
    expect(landing.status.phase).toBe("Finalising");
    expect(landing.events).toEqual([]);
    expect(desired(landing.status)).toBe("zero");

    const d = run({ status: drained.status, target: scaledDown("rev-b"), primary, now: 132 });
    expect(d.status).toMatchObject({ phase: "Succeeded", lastPromotedSpec: "rev-b" });
    expect(d.status.drainedTime).toBeUndefined();
    expect(d.events[0]?.message).toBe("Promotion completed! podinfo.test revision rev-b is live");
    expect(condition(d, "Ready")?.status).toBe("True");
  });

  it("scales down one interval after the switch when the route is never seen on the primary", () => {
    const finalising: CanaryStatus = {
      ...progressing(0),
      phase: "Finalising",
      stepRoutedTime: undefined,
      lastTransitionTime: iso(100),
    };
    // Someone set the split by hand while drift is only reported: kanaria does not write it back.
    const split = { primaryWeight: 50, canaryWeight: 50, matched: false, mirrored: false };
    const held = run({ status: finalising, primary: ready("rev-b"), routes: split, now: 120 });
    expect(held.status.drainedTime).toBeUndefined();
    expect(held.requeueAfterMs).toBe(1_000);
    const late = run({ status: held.status, primary: ready("rev-b"), routes: split, now: 129.5 });
    expect(late.requeueAfterMs).toBe(500);
    const due = run({ status: held.status, primary: ready("rev-b"), routes: split, now: 130 });
    expect(due.status.drainedTime).toBe(iso(130));
    expect(desiredState(due.status, resolveCanary(canarySpec())).target).toBe("zero");
  });

  it("drains even a canary already at zero pods, and a new revision mid-drain restarts the analysis", () => {
    const finalising: CanaryStatus = { ...progressing(0), phase: "Finalising", stepRoutedTime: undefined };
    const zero = run({ status: finalising, target: scaledDown("rev-b"), primary: ready("rev-b"), now: 100 });
    expect(zero.status.phase).toBe("Finalising");
    const restarted = run({ status: zero.status, target: ready("rev-c"), primary: ready("rev-b"), now: 110 });
    expect(restarted.status).toMatchObject({ phase: "Progressing", lastAppliedSpec: "rev-c" });
    expect(restarted.status.drainedTime).toBeUndefined();
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

  it("with an autoscaler on the target, scales it up from zero only, to the autoscaler's minimum", () => {
    const autoscaledPlan = (status: CanaryStatus, targetReplicas: number, min: number) =>
      workloadPlan(status, desiredState(status, resolveCanary(canarySpec())), {
        targetRevision: "rev-b",
        primaryReplicas: 8,
        targetDraining: false,
        autoscaled: { targetReplicas, min },
      }).targetReplicas;
    expect(autoscaledPlan(progressing(20), 0, 3)).toBe(3);
    expect(autoscaledPlan(progressing(20), 0, 0), "at least one pod (a KEDA minimum may be 0)").toBe(1);
    expect(autoscaledPlan(progressing(20), 5, 3), "the autoscaler's count is left alone").toBeUndefined();
    expect(autoscaledPlan({ phase: "Succeeded", lastAppliedSpec: "rev-b" }, 5, 3)).toBe(0);
  });
});
