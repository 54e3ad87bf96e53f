import { describe, expect, it } from "vitest";
import type { CanarySpec } from "./canary.ts";
import { parseDuration } from "./common.ts";
import { canarySteps, resolveCanary } from "./defaults.ts";

describe("parseDuration", () => {
  it.each([
    ["30s", 30_000],
    ["1m", 60_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1.5s", 1500],
  ])("%s is %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "1", "1x", "m1", "1m x"])("rejects %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
});

describe("canarySteps", () => {
  it.each([
    [10, undefined, 30, [10, 20, 30]],
    [20, undefined, 50, [20, 40, 50]],
    [50, undefined, 100, [50, 100]],
    [undefined, [1, 10, 60], 100, [1, 10, 60]],
    [undefined, undefined, 100, []],
  ])("stepWeight %s, stepWeights %j, maxWeight %d -> %j", (step, steps, max, expected) => {
    expect(canarySteps(step, steps, max)).toEqual(expected);
  });
});

describe("resolveCanary", () => {
  const base: CanarySpec = {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    analysis: { stepWeight: 25 },
  };

  it("applies Flagger's defaults", () => {
    expect(resolveCanary(base)).toMatchObject({
      provider: "kubernetes",
      strategy: "canary",
      intervalMs: 60_000,
      threshold: 1,
      maxWeight: 100,
      stepWeights: [25, 50, 75, 100],
      primaryReadyThreshold: 100,
      canaryReadyThreshold: 100,
      progressDeadlineMs: 600_000,
      serviceName: "podinfo",
    });
  });

  it("never goes below the 10s minimum interval", () => {
    expect(resolveCanary({ ...base, analysis: { stepWeight: 25, interval: "1s" } }).intervalMs).toBe(10_000);
  });

  it("picks the strategy from iterations and match", () => {
    expect(resolveCanary({ ...base, analysis: { iterations: 5 } }).strategy).toBe("blue-green");
    const ab = resolveCanary({
      ...base,
      analysis: { iterations: 5, match: [{ headers: { x: { exact: "y" } } }] },
    });
    expect(ab.strategy).toBe("ab-testing");
    expect(ab.stepWeights).toEqual([]);
  });

  it("defaults each metric's interval and onNoData", () => {
    const r = resolveCanary({
      ...base,
      analysis: { stepWeight: 25, metrics: [{ name: "request-success-rate" }] },
    });
    expect(r.metrics[0]).toMatchObject({ interval: "1m", onNoData: "fail" });
  });
});
