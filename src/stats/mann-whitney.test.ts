import { describe, expect, it } from "vitest";
import { mannWhitneyU, rank } from "./mann-whitney.ts";

describe("rank", () => {
  it("gives tied values their average rank and counts the ties", () => {
    expect(rank([10, 20, 20, 30, 20])).toEqual({ ranks: [1, 3, 3, 5, 3], tieTerm: 24 });
  });
});

describe("mannWhitneyU", () => {
  it("counts the pairs the first sample wins, ties as halves", () => {
    expect(mannWhitneyU([3, 4], [1, 2]).u).toBe(4);
    expect(mannWhitneyU([1, 2], [3, 4]).u).toBe(0);
    expect(mannWhitneyU([2], [2, 1]).u).toBe(1.5);
  });

  it("has the exact null distribution: complete separation of 3 vs 3 is 1 in 20", () => {
    const r = mannWhitneyU([4, 5, 6], [1, 2, 3], { alternative: "greater", method: "exact" });
    expect(r.pValue).toBeCloseTo(1 / 20, 12);
    expect(mannWhitneyU([4, 5, 6], [1, 2, 3], { method: "exact" }).pValue).toBeCloseTo(2 / 20, 12);
    expect(mannWhitneyU([4, 5, 6], [1, 2, 3], { alternative: "less", method: "exact" }).pValue).toBe(1);
  });

  it("picks exact for small samples without ties and the normal approximation otherwise", () => {
    expect(mannWhitneyU([1, 2, 3], [4, 5, 6]).method).toBe("exact");
    expect(mannWhitneyU([1, 2, 2], [4, 5, 6]).method).toBe("asymptotic");
    const big = Array.from({ length: 9 }, (_, i) => i);
    expect(
      mannWhitneyU(
        big,
        big.map((v) => v + 0.5),
      ).method,
    ).toBe("asymptotic");
  });

  it("answers p = 1 when every value is the same", () => {
    expect(mannWhitneyU([5, 5, 5, 5], [5, 5, 5]).pValue).toBe(1);
  });

  it("rejects empty samples and non-finite values", () => {
    expect(() => mannWhitneyU([], [1])).toThrow(/at least one value/);
    expect(() => mannWhitneyU([1, Number.NaN], [1])).toThrow(/finite/);
  });
});
