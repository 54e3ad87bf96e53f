import { describe, expect, it } from "vitest";
import { closest, didYouMean, editDistance } from "./suggest.ts";

describe("editDistance", () => {
  it.each([
    ["threshold", "threshold", 0],
    ["treshold", "threshold", 1],
    ["thersholds", "threshold", 2],
    ["stpeWeight", "stepWeight", 1],
    ["", "abc", 3],
    ["kitten", "sitting", 3],
  ])("%s -> %s = %i", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });
});

describe("closest", () => {
  const fields = ["interval", "threshold", "maxWeight", "stepWeight", "stepWeights", "iterations"];

  it("prefers a case-insensitive match, then the smallest distance", () => {
    expect(closest("MAXWEIGHT", fields)).toBe("maxWeight");
    expect(closest("stepweigth", fields)).toBe("stepWeight");
  });

  it("allows one edit for short words and two for longer ones", () => {
    expect(closest("min", ["max", "min"])).toBe("min");
    expect(closest("mx", ["max"])).toBe("max");
    expect(closest("mzz", ["max", "min"])).toBeUndefined();
    expect(closest("itrations", fields)).toBe("iterations");
  });

  it("suggests nothing for unrelated words", () => {
    expect(closest("replicas", fields)).toBeUndefined();
    expect(didYouMean("replicas", fields)).toBe("");
    expect(didYouMean("intervall", fields)).toBe(' (did you mean "interval"?)');
  });
});
