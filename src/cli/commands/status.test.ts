import { describe, expect, it } from "vitest";
import type { CanaryObject } from "../canaries.ts";
import { makeStyle } from "../view.ts";
import { render, summarize } from "./status.ts";

const canary = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "Canary",
  metadata: { name: "podinfo", namespace: "test" },
  spec: {
    targetRef: { name: "podinfo" },
    service: { port: 80 },
    analysis: { interval: "30s", threshold: 2, maxWeight: 30, stepWeight: 10 },
  },
  status: {
    phase: "WaitingPromotion",
    lastAppliedSpec: "rev-b",
    canaryWeight: 30,
    failedChecks: 1,
    checks: [
      {
        name: "request-success-rate",
        result: "pass",
        value: 99.5,
        thresholdRange: { min: 99 },
        message: "ok",
        time: "2026-01-01T00:00:00Z",
      },
    ],
    webhooks: [
      {
        name: "release",
        type: "confirm-promotion",
        result: "fail",
        code: 403,
        message: "403 Forbidden",
        time: "t",
        revision: "rev-b",
        step: "promotion",
      },
      {
        name: "old",
        type: "confirm-promotion",
        result: "fail",
        message: "x",
        time: "t",
        revision: "rev-a",
        step: "promotion",
      },
      {
        name: "load",
        type: "rollout",
        result: "fail",
        message: "x",
        time: "t",
        revision: "rev-b",
        step: "weight 30",
      },
    ],
    conditions: [
      {
        type: "Promoted",
        status: "Unknown",
        reason: "WaitingPromotion",
        message: "promotion waits for approval",
      },
    ],
  },
} as unknown as CanaryObject;

describe("kanaria status", () => {
  const events = Array.from({ length: 7 }, (_, i) => ({
    type: "Normal",
    reason: `R${i}`,
    message: `m${i}`,
    count: 1,
    time: `t${i}`,
  }));

  it("summarizes phase, weight, checks, the gates of this revision and the last five events", () => {
    const s = summarize(canary, events);
    expect(s).toMatchObject({
      phase: "WaitingPromotion",
      canaryWeight: 30,
      maxWeight: 30,
      failedChecks: 1,
      threshold: 2,
    });
    expect(s.gates.map((g) => g.name)).toEqual(["release"]);
    expect(s.events.map((e) => e.reason)).toEqual(["R2", "R3", "R4", "R5", "R6"]);
  });

  it("renders text for people", () => {
    const text = render([summarize(canary, events.slice(0, 1))], "text", makeStyle(false));
    expect(text).toBe(
      [
        "test/podinfo  WaitingPromotion  canary weight 30% (promoted after 30%)  failed checks 1/2  revision rev-b",
        "  checks  request-success-rate  99.50  min 99  pass",
        "  gates   confirm-promotion release: fail (403 Forbidden)",
        "  status  promotion waits for approval",
        "  events  event Normal  R0: m0",
        "",
      ].join("\n"),
    );
    expect(render([], "text", makeStyle(false))).toBe("no Canaries found\n");
  });

  it("renders JSON for scripts", () => {
    expect(JSON.parse(render([summarize(canary, [])], "json", makeStyle(false)))[0]).toMatchObject({
      name: "podinfo",
      gates: [{ code: 403 }],
    });
  });
});
