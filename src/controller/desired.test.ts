import { describe, expect, it } from "vitest";
import type { CanarySpec, CanaryStatus } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { desiredState } from "./desired.ts";

const spec = (analysis: CanarySpec["analysis"]): CanarySpec => ({
  targetRef: { name: "podinfo" },
  service: { port: 9898 },
  analysis,
});
const STARTED = "2026-01-01T00:00:00Z";

describe("desiredState: mirroring", () => {
  const blueGreenMirror = resolveCanary(
    spec({ iterations: 3, mirror: true, mirrorWeight: 50 }),
    "gatewayapi",
  );
  const cases: [string, CanaryStatus, boolean][] = [
    ["not before the analysis starts", { phase: "Progressing", canaryWeight: 0 }, false],
    ["while the canary is judged", { phase: "Progressing", canaryWeight: 0, lastStepTime: STARTED }, true],
    [
      "no longer once all traffic switches to the canary",
      { phase: "Promoting", canaryWeight: 100, lastStepTime: STARTED },
      false,
    ],
    ["not after the release", { phase: "Succeeded", canaryWeight: 0, lastStepTime: STARTED }, false],
    ["not after a rollback", { phase: "Failed", canaryWeight: 0, lastStepTime: STARTED }, false],
  ];
  it.each(cases)("blue/green with mirror: %s", (_name, status, mirrored) => {
    const routes = desiredState(status, blueGreenMirror).routes;
    expect(routes.mirrored).toBe(mirrored);
    expect(routes.matched).toBe(false);
  });

  it("is off without analysis.mirror and for the canary and A/B strategies", () => {
    const status: CanaryStatus = { phase: "Progressing", canaryWeight: 0, lastStepTime: STARTED };
    for (const analysis of [
      { iterations: 3 },
      { stepWeight: 10, mirror: true },
      { iterations: 3, mirror: true, match: [{ headers: { "x-canary": { exact: "1" } } }] },
    ]) {
      expect(desiredState(status, resolveCanary(spec(analysis), "gatewayapi")).routes.mirrored).toBe(false);
    }
  });
});
