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
    expect(resolveCanary(base, "nginx")).toMatchObject({
      provider: "nginx",
      dropped: [],
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
      provider: "nginx",
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

  const match = [{ headers: { x: { exact: "y" } } }];
  it.each<[string, Partial<CanarySpec>, CanarySpec["analysis"], object]>([
    [
      "Flagger's gatewayapi:v1 runs gatewayapi",
      { provider: "gatewayapi:v1" },
      { stepWeight: 50 },
      { provider: "gatewayapi", strategy: "canary", stepWeights: [50, 100], dropped: [] },
    ],
    [
      "Flagger's gatewayapi:v1beta1 runs gatewayapi",
      { provider: "gatewayapi:v1beta1" },
      { iterations: 2 },
      { provider: "gatewayapi", strategy: "blue-green", iterations: 2 },
    ],
    [
      "Flagger's appmesh:v1beta2 runs appmesh",
      { provider: "appmesh:v1beta2" },
      { stepWeight: 50 },
      { provider: "appmesh", strategy: "canary" },
    ],
    [
      "iterations win over stepWeight (blue/green), and say so",
      { provider: "nginx" },
      { iterations: 3, stepWeight: 10 },
      {
        strategy: "blue-green",
        iterations: 3,
        stepWeights: [],
        dropped: [{ fields: ["analysis.stepWeight"], reason: "analysis.iterations selects blue/green" }],
      },
    ],
    [
      "iterations and match win over stepWeights (A/B)",
      { provider: "nginx" },
      { iterations: 3, stepWeights: [10, 20], match },
      {
        strategy: "ab-testing",
        iterations: 3,
        dropped: [{ fields: ["analysis.stepWeights"], reason: "analysis.iterations selects blue/green" }],
      },
    ],
    [
      "kubernetes with stepWeight runs blue/green with Flagger's 10 iterations",
      { provider: "kubernetes" },
      { stepWeight: 20 },
      {
        strategy: "blue-green",
        iterations: 10,
        stepWeights: [],
        dropped: [
          {
            fields: ["analysis.stepWeight"],
            reason:
              "provider kubernetes switches all traffic at once (blue/green), run with analysis.iterations 10",
          },
        ],
      },
    ],
    [
      "kubernetes drops match and keeps the iterations written",
      { provider: "kubernetes" },
      { iterations: 4, match },
      {
        strategy: "blue-green",
        iterations: 4,
        dropped: [
          {
            fields: ["analysis.match"],
            reason: "provider kubernetes cannot route by header or cookie (A/B testing)",
          },
        ],
      },
    ],
    [
      "the controller's default provider counts as written",
      {},
      { stepWeights: [10, 50] },
      { provider: "kubernetes", strategy: "blue-green", iterations: 10 },
    ],
    [
      "stepWeights run to their last weight past maxWeight, as Flagger (its linkerd test-steps.sh: 10..60, maxWeight 50)",
      { provider: "gatewayapi" },
      { maxWeight: 50, stepWeights: [10, 20, 30, 40, 50, 60] },
      {
        strategy: "canary",
        maxWeight: 60,
        stepWeights: [10, 20, 30, 40, 50, 60],
        dropped: [
          {
            fields: ["analysis.maxWeight"],
            reason: "analysis.stepWeights run to their last weight, 60",
          },
        ],
      },
    ],
    [
      "stepWeights end at their last weight below the default maxWeight, nothing dropped",
      { provider: "nginx" },
      { stepWeights: [1, 2, 10, 80] },
      { strategy: "canary", maxWeight: 80, stepWeights: [1, 2, 10, 80], dropped: [] },
    ],
    [
      "maxWeight bounds stepWeight",
      { provider: "nginx" },
      { maxWeight: 50, stepWeight: 20 },
      { strategy: "canary", maxWeight: 50, stepWeights: [20, 40, 50], dropped: [] },
    ],
    [
      "kubernetes blue/green as written drops nothing",
      { provider: "kubernetes" },
      { iterations: 2 },
      { dropped: [] },
    ],
    [
      "iterations: maxWeight is never stepped up to, and says so",
      { provider: "nginx" },
      { iterations: 3, stepWeight: 10, maxWeight: 50, stepWeightPromotion: 50 },
      {
        strategy: "blue-green",
        dropped: [
          {
            fields: ["analysis.stepWeight", "analysis.maxWeight"],
            reason: "analysis.iterations selects blue/green",
          },
        ],
      },
    ],
    [
      "kubernetes never splits traffic: maxWeight and stepWeightPromotion dropped too",
      { provider: "kubernetes" },
      { stepWeight: 20, maxWeight: 60, stepWeightPromotion: 30 },
      {
        strategy: "blue-green",
        dropped: [
          {
            fields: ["analysis.stepWeight", "analysis.maxWeight", "analysis.stepWeightPromotion"],
            reason:
              "provider kubernetes switches all traffic at once (blue/green), run with analysis.iterations 10",
          },
        ],
      },
    ],
    [
      "gatewayapi mirrors during blue/green: kept",
      { provider: "gatewayapi" },
      { iterations: 3, mirror: true, mirrorWeight: 50 },
      { strategy: "blue-green", mirror: true, dropped: [] },
    ],
    [
      "gatewayapi does not mirror a canary analysis, as Flagger: dropped, with mirrorWeight",
      { provider: "gatewayapi" },
      { stepWeight: 20, mirror: true, mirrorWeight: 50 },
      {
        strategy: "canary",
        dropped: [
          {
            fields: ["analysis.mirror", "analysis.mirrorWeight"],
            reason:
              "provider gatewayapi mirrors requests during a blue/green analysis (analysis.iterations without match) only, not in a canary (stepWeight) analysis",
          },
        ],
      },
    ],
    [
      "gatewayapi does not mirror an A/B analysis, as Flagger: dropped",
      { provider: "gatewayapi" },
      { iterations: 3, match, mirror: true },
      {
        strategy: "ab-testing",
        dropped: [
          {
            fields: ["analysis.mirror"],
            reason:
              "provider gatewayapi mirrors requests during a blue/green analysis (analysis.iterations without match) only, not in an A/B (match) analysis",
          },
        ],
      },
    ],
    [
      "a router that cannot mirror drops nothing (unsupportedRouting stalls it)",
      { provider: "nginx" },
      { stepWeight: 20, mirror: true },
      { dropped: [] },
    ],
    [
      "kubernetes without iterations or weights: Flagger's 10 iterations, nothing dropped",
      { provider: "kubernetes" },
      {},
      { strategy: "blue-green", iterations: 10, dropped: [] },
    ],
  ])("%s", (_name, spec, analysis, expected) => {
    expect(resolveCanary({ ...base, ...spec, analysis })).toMatchObject(expected);
  });

  it.each<[string, CanarySpec["analysis"]["metrics"], object]>([
    [
      "success rate: threshold is the minimum",
      [{ name: "request-success-rate", threshold: 99 }],
      { min: 99 },
    ],
    [
      "duration: threshold is the maximum in ms",
      [{ name: "request-duration", threshold: 500 }],
      { max: 500 },
    ],
    ["inline query: threshold is the maximum", [{ name: "errors", query: "x", threshold: 5 }], { max: 5 }],
    [
      "template: threshold is the maximum",
      [{ name: "errors", templateRef: { name: "t" }, threshold: 0 }],
      { max: 0 },
    ],
  ])("Flagger's deprecated metric threshold (%s)", (_name, metrics, range) => {
    const r = resolveCanary({ ...base, provider: "nginx", analysis: { stepWeight: 25, metrics } });
    expect(r.metrics[0]?.thresholdRange).toEqual(range);
  });
});
