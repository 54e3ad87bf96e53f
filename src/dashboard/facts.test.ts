import { describe, expect, it } from "vitest";
import type { CanaryObject } from "../cli/canaries.ts";
import { canaryRow } from "./facts.ts";

function canary(status: CanaryObject["status"], extra: Partial<CanaryObject["spec"]> = {}): CanaryObject {
  return {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "Canary",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      provider: "nginx",
      ingressRef: { name: "web" },
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      service: { port: 80 },
      analysis: { stepWeight: 10, maxWeight: 50, threshold: 2 },
      ...extra,
    },
    status,
  } as CanaryObject;
}

describe("canaryRow", () => {
  it("says what the status command says: phase, weight, checks against their range", () => {
    const row = canaryRow(
      canary({
        phase: "Progressing",
        canaryWeight: 20,
        failedChecks: 1,
        lastAppliedSpec: "abc",
        checks: [
          {
            name: "latency",
            result: "fail",
            value: 812.345,
            thresholdRange: { max: 500 },
            message: "high",
            time: "",
          },
        ],
      }),
    );
    expect(row).toMatchObject({
      key: "shop/web",
      phase: "Progressing",
      canaryWeight: 20,
      maxWeight: 50,
      failedChecks: 1,
      threshold: 2,
      checks: [{ name: "latency", result: "fail", value: "812.35", range: "max 500" }],
      actions: ["promote", "abort"],
    });
  });

  it("names the gates holding a release, and offers resume when suspended", () => {
    const row = canaryRow(
      canary(
        {
          phase: "WaitingPromotion",
          lastAppliedSpec: "abc",
          webhooks: [
            {
              name: "approve",
              type: "confirm-promotion",
              result: "fail",
              message: "no",
              time: "",
              revision: "abc",
            },
          ],
        },
        {
          suspend: true,
          analysis: {
            stepWeight: 10,
            freezeWindows: [{ schedule: "0 0 * * *", duration: "24h" }],
          },
        },
      ),
      new Date("2026-12-06T12:00:00Z"),
    );
    // The words of `kanaria status` (src/cli/release-facts.ts): a gate that said no holds the
    // release before the freeze window does.
    expect(row.holding).toEqual(["suspended: spec.suspend is true", "confirm-promotion approve: no"]);
    expect(row.actions).toEqual(["promote", "abort", "resume"]);
  });

  it("names the freeze window holding a promotion once no gate holds it", () => {
    const row = canaryRow(
      canary(
        { phase: "WaitingPromotion", lastAppliedSpec: "abc" },
        { analysis: { stepWeight: 10, freezeWindows: [{ schedule: "0 0 * * *", duration: "24h" }] } },
      ),
      new Date("2026-12-06T12:00:00Z"),
    );
    expect(row.holding).toEqual([expect.stringMatching(/freeze/)]);
  });

  it("offers retry on a failed release, nothing on one not reconciled", () => {
    expect(canaryRow(canary({ phase: "Failed", lastAppliedSpec: "abc" })).actions).toEqual(["retry"]);
    expect(canaryRow(canary(undefined)).actions).toEqual([]);
  });
});
