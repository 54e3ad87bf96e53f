// decide()'s webhooks, gates, kanaria requests and promotion windows, table by table: the
// bookkeeping in decide-hooks.ts and the phases that wait on it (Waiting, WaitingPromotion).
import { describe, expect, it } from "vitest";
import {
  canarySpec,
  condition,
  fail,
  iso,
  pass,
  progressing,
  ready,
  run,
  scaledDown,
} from "../../test/helpers/decide-cases.ts";
import type { CanarySpec, CanaryStatus, CanaryWebhook, WebhookType } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import type { WebhookAnswer } from "../webhooks/calls.ts";
import type { Decision } from "./decide.ts";
import { desiredState } from "./desired.ts";

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
