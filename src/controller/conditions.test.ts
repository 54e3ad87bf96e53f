import { describe, expect, it } from "vitest";
import { conditionsFor, sameStatus } from "./conditions.ts";

describe("sameStatus", () => {
  const now = "2026-01-01T00:00:00.000Z";
  const later = "2026-01-01T00:01:00.000Z";

  it("ignores key order, as the API server returns keys sorted", () => {
    expect(sameStatus({ phase: "Succeeded", canaryWeight: 0 }, { canaryWeight: 0, phase: "Succeeded" })).toBe(
      true,
    );
  });

  it("ignores lastUpdateTime but not a change of phase or message", () => {
    const a = {
      phase: "Progressing" as const,
      conditions: conditionsFor("Progressing", "weight 10", 1, now),
    };
    const b = {
      phase: "Progressing" as const,
      conditions: conditionsFor("Progressing", "weight 10", 1, later, a.conditions),
    };
    expect(sameStatus(a, b)).toBe(true);
    const c = {
      phase: "Progressing" as const,
      conditions: conditionsFor("Progressing", "weight 20", 1, later, a.conditions),
    };
    expect(sameStatus(a, c)).toBe(false);
  });
});

describe("conditionsFor", () => {
  it("keeps lastTransitionTime while a condition's status stays the same", () => {
    const first = conditionsFor("Progressing", "a", 1, "t1");
    const second = conditionsFor("Progressing", "b", 1, "t2", first);
    expect(second.find((c) => c.type === "Ready")?.lastTransitionTime).toBe("t1");
    const third = conditionsFor("Succeeded", "c", 1, "t3", second);
    expect(third.find((c) => c.type === "Ready")).toMatchObject({ status: "True", lastTransitionTime: "t3" });
  });
});
