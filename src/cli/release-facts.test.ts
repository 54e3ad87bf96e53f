import { describe, expect, it } from "vitest";
import { canaryFixture } from "../../test/helpers/fixtures.ts";
import type { Canary, CanarySpec, CanaryStatus, CheckStatus } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { decide } from "../controller/decide.ts";
import { desiredState } from "../controller/desired.ts";
import type { WorkloadObservation } from "../controller/observations.ts";
import { routerCapabilities } from "../routers/factory.ts";
import {
  age,
  checkText,
  compareReleases,
  type EventRecord,
  eventRecords,
  failedChecksText,
  holding,
  occurredAt,
  type RawEvent,
  releaseFacts,
  releaseLabel,
  weightBar,
} from "./release-facts.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");

/** An nginx Canary of podinfo: +20% every 30s up to 60%, rolled back at the second failed check. */
const spec = (analysis: Partial<CanarySpec["analysis"]> = {}, extra: Partial<CanarySpec> = {}): CanarySpec =>
  canaryFixture({
    provider: "nginx",
    ingressRef: { name: "podinfo" },
    analysis: {
      interval: "30s",
      threshold: 2,
      maxWeight: 60,
      stepWeight: 20,
      metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
      ...analysis,
    },
    progressDeadlineSeconds: 60,
    ...extra,
  }).spec;

const workload = (revision: string, replicas = 2): WorkloadObservation => ({
  replicas,
  readyPercent: replicas > 0 ? 100 : 0,
  rolloutComplete: true,
  draining: false,
  revision,
});

const check = (result: CheckStatus["result"]): CheckStatus => ({
  name: "request-success-rate",
  result,
  value: result === "pass" ? 99.9 : 89.9,
  thresholdRange: { min: 99 },
  message: `request-success-rate ${result}`,
  time: new Date(T0).toISOString(),
});

/**
 * One release of revision rev-b through the real decide(), the way the reconciler drives it, with the
 * checks answering `verdict(weight or iteration)`: the Canary it leaves and its Events, in order.
 */
function release(
  s: CanarySpec,
  verdict: (step: number) => CheckStatus["result"],
  before: CanaryStatus = {
    phase: "Initialized",
    lastAppliedSpec: "rev-a",
    lastPromotedSpec: "rev-a",
    canaryWeight: 0,
  },
  events: EventRecord[] = [],
) {
  const resolved = resolveCanary(s);
  const capabilities = routerCapabilities(resolved.provider);
  if (!capabilities) throw new Error("no router");
  let status = before;
  let target = workload("rev-b");
  let primary = workload("rev-a");
  let t = T0 + 1_000 * events.length;
  const out = [...events];
  for (let i = 0; i < 500; i++) {
    const input = (checks?: CheckStatus[]) => ({
      name: "podinfo",
      namespace: "test",
      generation: 1,
      deleting: false,
      spec: s,
      status,
      resolved,
      capabilities,
      observed: {
        now: new Date(t),
        target: { ...target, trackedConfigs: {} },
        primary,
        blocker: undefined,
        routes: desiredState(status, resolved).routes,
        checks,
        offlineProviders: [],
      },
    });
    let d = decide(input());
    if (d.needsChecks) {
      const step = resolved.strategy === "canary" ? (status.canaryWeight ?? 0) : (status.iterations ?? 0) + 1;
      d = decide(input([check(verdict(step))]));
    }
    for (const e of d.events)
      out.push({
        type: e.type,
        reason: e.reason,
        message: e.message,
        count: 1,
        time: new Date(t).toISOString(),
      });
    status = d.status;
    if (status.phase === "Promoting") primary = workload("rev-b");
    if (status.phase === "Finalising") target = workload("rev-b", 0);
    if (status.phase === "Succeeded" || status.phase === "Failed") break;
    t += Math.max(1_000, d.requeueAfterMs);
  }
  const canary = { metadata: { name: "podinfo", namespace: "test" }, spec: s, status } as Canary & {
    metadata: { name: string; namespace: string };
  };
  return { canary, events: out };
}

describe("what happened to this revision", () => {
  it("says a release rolled back at 40% was rolled back at 40%, not promoted after the maximum", () => {
    const { canary, events } = release(spec(), (w) => (w < 40 ? "pass" : "fail"));
    expect(canary.status?.phase).toBe("Failed");
    expect(canary.status?.canaryWeight).toBe(0);
    expect(releaseLabel(canary, events)).toBe("rolled back at 40%");
  });

  it("shows a rollback as the last event after the canary's drain", () => {
    const { canary, events } = release(spec(), () => "fail");
    const drained: EventRecord = {
      type: "Normal",
      reason: "Drained",
      message: "Scaling down podinfo.test: it has had no traffic for 30s",
      count: 1,
      time: new Date(T0 + 600_000).toISOString(),
    };
    const facts = releaseFacts(canary, [...events, drained], new Date(T0 + 601_000));
    expect(facts.lastEvent).toMatchObject({ type: "Warning", reason: "RolledBack" });
  });

  it("says a release promoted after 60% was, and a rollback after a promotion is still a rollback", () => {
    const good = release(spec(), () => "pass");
    expect(good.canary.status?.phase).toBe("Succeeded");
    expect(releaseLabel(good.canary, good.events)).toBe("promoted after 60%");
    // The next revision fails at its first step: its label must not borrow the last promotion's.
    const bad = release(
      spec(),
      () => "fail",
      { ...good.canary.status, lastAppliedSpec: "rev-0", lastPromotedSpec: "rev-0" },
      good.events,
    );
    expect(bad.canary.status?.phase).toBe("Failed");
    expect(releaseLabel(bad.canary, bad.events)).toBe("rolled back at 20%");
  });

  it("counts iterations for blue/green and says when a rollback came before any traffic", () => {
    const bg = spec(
      { iterations: 3, stepWeight: undefined, maxWeight: undefined },
      { provider: "kubernetes" },
    );
    const failed = release(bg, (i) => (i < 2 ? "pass" : "fail"));
    expect(releaseLabel(failed.canary, failed.events)).toBe("rolled back at iteration 2 of 3");
    const passed = release(bg, () => "pass");
    expect(releaseLabel(passed.canary, passed.events)).toBe("promoted after 3 iterations");
    const aborted = {
      ...failed.canary,
      status: { ...failed.canary.status, phase: "Failed" as const },
    };
    const noTraffic: EventRecord[] = [
      { type: "Normal", reason: "NewRevision", message: "New revision detected!", count: 1, time: "t1" },
      { type: "Warning", reason: "RolledBack", message: "Canary failed!", count: 1, time: "t2" },
    ];
    expect(releaseLabel({ ...aborted, spec: spec() }, noTraffic)).toBe("rolled back before any traffic");
    // Its Events expired: it was rolled back, at a weight nobody can tell any more.
    expect(releaseLabel({ ...aborted, spec: spec() }, [])).toBe("rolled back");
  });

  it("describes a release under way by where it is", () => {
    const canary = (status: CanaryStatus) => ({ metadata: { name: "p" }, spec: spec(), status });
    expect(releaseLabel(canary({ phase: "Progressing", canaryWeight: 20 }), [])).toBe("at 20%, up to 60%");
    expect(releaseLabel(canary({ phase: "Progressing", canaryWeight: 0 }), [])).toBe(
      "starting, no traffic yet",
    );
    expect(releaseLabel(canary({ phase: "WaitingPromotion", canaryWeight: 60 }), [])).toBe(
      "passed at 60%, waiting to promote",
    );
    expect(releaseLabel(canary({}), [])).toBe("not reconciled yet");
  });
});

describe("Events in the order they happened", () => {
  const ev = (name: string, reason: string, times: Partial<RawEvent>): RawEvent => ({
    metadata: { name },
    type: "Normal",
    reason,
    message: reason,
    count: 1,
    ...times,
  });

  it("orders Events of the same second by eventTime's microseconds, not by name or list order", () => {
    const second = "2026-01-01T00:00:05Z";
    const events = [
      ev("podinfo.ffff", "Progressing", {
        firstTimestamp: second,
        lastTimestamp: second,
        eventTime: "2026-01-01T00:00:05.120002Z",
      }),
      ev("podinfo.0000", "Finalising", {
        firstTimestamp: "2026-01-01T00:00:09Z",
        lastTimestamp: "2026-01-01T00:00:09Z",
        eventTime: "2026-01-01T00:00:09.500000Z",
      }),
      ev("podinfo.aaaa", "NewRevision", {
        firstTimestamp: second,
        lastTimestamp: second,
        eventTime: "2026-01-01T00:00:05.120000Z",
      }),
      ev("podinfo.1111", "Starting", {
        firstTimestamp: second,
        lastTimestamp: second,
        eventTime: "2026-01-01T00:00:05.120001Z",
      }),
      ev("podinfo.9999", "Promoting", {
        firstTimestamp: "2026-01-01T00:00:09Z",
        lastTimestamp: "2026-01-01T00:00:09Z",
        eventTime: "2026-01-01T00:00:09.400000Z",
      }),
    ];
    expect(eventRecords(events).map((e) => e.reason)).toEqual([
      "NewRevision",
      "Starting",
      "Progressing",
      "Promoting",
      "Finalising",
    ]);
  });

  it("places a repeated Event at its last occurrence, from series or lastTimestamp", () => {
    const repeated = ev("a", "CheckFailed", {
      count: 3,
      eventTime: "2026-01-01T00:00:01.000000Z",
      firstTimestamp: "2026-01-01T00:00:01Z",
      lastTimestamp: "2026-01-01T00:00:30Z",
      series: { count: 3, lastObservedTime: "2026-01-01T00:00:30.250000Z" },
    });
    const between = ev("b", "Waiting", { eventTime: "2026-01-01T00:00:30.100000Z" });
    expect(occurredAt(repeated)).toBe("2026-01-01T00:00:30.250000Z");
    expect(eventRecords([repeated, between]).map((e) => [e.reason, e.count])).toEqual([
      ["Waiting", 1],
      ["CheckFailed", 3],
    ]);
    // An Event of an older recorder: whole seconds only, first by when it happened, then by name.
    const old = [
      ev("b", "Two", { firstTimestamp: "2026-01-01T00:00:02Z", lastTimestamp: "2026-01-01T00:00:02Z" }),
      ev("a", "One", { firstTimestamp: "2026-01-01T00:00:01Z", lastTimestamp: "2026-01-01T00:00:02Z" }),
    ];
    expect(eventRecords(old).map((e) => e.reason)).toEqual(["One", "Two"]);
  });
});

describe("what holds a release", () => {
  const waiting = (extra: Partial<CanaryStatus>, analysis: Partial<CanarySpec["analysis"]> = {}) => ({
    metadata: { name: "p" },
    spec: spec(analysis),
    status: { phase: "WaitingPromotion" as const, lastAppliedSpec: "rev-b", ...extra },
  });
  const now = new Date("2026-01-07T12:00:00Z");

  it("names the gate of this revision that said no, or has not answered, and no old answer", () => {
    const hook = { name: "release", type: "confirm-promotion" as const, url: "http://gate/" };
    const answer = {
      name: "release",
      type: "confirm-promotion" as const,
      result: "fail" as const,
      message: "403 Forbidden",
      time: "t",
      step: "promotion",
    };
    expect(
      holding(waiting({ webhooks: [{ ...answer, revision: "rev-b" }] }, { webhooks: [hook] }), now),
    ).toEqual(["confirm-promotion release: 403 Forbidden"]);
    expect(
      holding(waiting({ webhooks: [{ ...answer, revision: "rev-a" }] }, { webhooks: [hook] }), now),
    ).toEqual(["confirm-promotion release: not answered yet"]);
    expect(
      holding(
        { ...waiting({ webhooks: [{ ...answer, revision: "rev-b" }] }), status: { phase: "Failed" } },
        now,
      ),
    ).toEqual([]);
  });

  it("names the window and when it opens, and a suspended Canary", () => {
    const window = { schedule: "0 9 * * 1-5", duration: "8h", timeZone: "UTC" };
    expect(holding(waiting({}, { promotionWindows: [window] }), new Date("2026-01-10T12:00:00Z"))).toEqual([
      "outside the promotion windows: opens 2026-01-12T09:00:00Z",
    ]);
    const suspended = { ...waiting({ phase: "Succeeded" }), spec: { ...spec(), suspend: true } };
    expect(holding(suspended, now)).toEqual(["suspended: spec.suspend is true"]);
  });
});

describe("the words and marks", () => {
  it("draws weights, counts failed checks, states a check, and gives ages like kubectl", () => {
    expect(weightBar(20)).toBe("██░░░░░░░░");
    expect(weightBar(0, 4)).toBe("░░░░");
    expect(weightBar(100, 4)).toBe("████");
    expect(failedChecksText(1, 2)).toBe("1/2");
    expect(checkText({ ...check("fail"), value: 89.904 })).toBe("request-success-rate 89.90 (min 99) FAIL");
    expect(checkText({ ...check("nodata"), value: undefined })).toBe(
      "request-success-rate - (min 99) no data",
    );
    expect(
      [5_000, 119_000, 192_000, 25 * 60_000, 250 * 60_000, 30 * 3_600_000, 80 * 3_600_000].map(age),
    ).toEqual(["5s", "119s", "3m12s", "25m", "4h10m", "30h", "3d"]);
  });

  it("sorts releases in flight first, then failed ones, then the settled", () => {
    const facts = (namespace: string, phase: CanaryStatus["phase"]) =>
      releaseFacts({ metadata: { name: "p", namespace }, spec: spec(), status: { phase } }, [], new Date(T0));
    const sorted = [
      facts("a", "Succeeded"),
      facts("b", "Failed"),
      facts("c", "Progressing"),
      facts("d", "Initialized"),
      facts("e", "WaitingPromotion"),
    ].sort(compareReleases);
    expect(sorted.map((f) => `${f.namespace} ${f.phase}`)).toEqual([
      "c Progressing",
      "e WaitingPromotion",
      "b Failed",
      "a Succeeded",
      "d Initialized",
    ]);
  });
});
