import { describe, expect, it } from "vitest";
import { driftMode, driftModeError } from "./drift-mode.ts";

describe("drift mode", () => {
  it("corrects unless the Canary says warn", () => {
    expect(driftMode(undefined)).toBe("correct");
    expect(driftMode({ "kanaria.dev/drift": "warn" })).toBe("warn");
    expect(driftMode({ "kanaria.dev/drift": "correct" })).toBe("correct");
  });

  it("names a wrong value and the ones allowed", () => {
    expect(driftModeError("warn")).toBeUndefined();
    expect(driftModeError("off")).toMatch(/must be "correct" .* or "warn" .*, got "off"/);
  });
});
