import { describe, expect, it } from "vitest";
import { type CompareSettings, compareSamples, MIN_SAMPLES } from "./compare.ts";

/** Seeded normal samples (mulberry32 + Box-Muller): the same on every run. */
function normals(seed: number, n: number, mean: number, sd: number): number[] {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => {
    const u = 1 - uniform();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  });
}

const latency: CompareSettings = { direction: "increase", tolerance: 0.1, confidence: 0.98 };

describe("compareSamples", () => {
  it("fails a canary 20 % slower than the primary", () => {
    const v = compareSamples(normals(1, 20, 120, 5), normals(2, 20, 100, 5), latency);
    expect(v.result).toBe("fail");
    if (v.result === "nodata") throw new Error("unreachable");
    expect(v.comparison.effectSize).toBeGreaterThan(0.15);
    expect(v.comparison.pValue).toBeLessThan(0.001);
    expect(v.comparison).toMatchObject({ canarySamples: 20, primarySamples: 20 });
  });

  it("passes a significant difference within the tolerance", () => {
    const v = compareSamples(normals(3, 40, 105, 1), normals(4, 40, 100, 1), latency);
    expect(v.result).toBe("pass");
    if (v.result === "nodata") throw new Error("unreachable");
    expect(v.comparison.pValue).toBeLessThan(0.001);
    expect(v.comparison.effectSize).toBeCloseTo(0.05, 1);
  });

  it("passes a large but insignificant difference", () => {
    const v = compareSamples([50, 300, 90, 200, 60], [100, 80, 70, 250, 90], latency);
    expect(v.result).toBe("pass");
  });

  it("looks only in the harmful direction", () => {
    const faster = compareSamples(normals(5, 20, 80, 5), normals(6, 20, 100, 5), latency);
    expect(faster.result).toBe("pass");
    const either = compareSamples(normals(5, 20, 80, 5), normals(6, 20, 100, 5), {
      ...latency,
      direction: "either",
    });
    expect(either.result).toBe("fail");
    const lowerSuccess = compareSamples(normals(7, 20, 90, 1), normals(8, 20, 99.9, 0.05), {
      direction: "decrease",
      tolerance: 0.01,
      confidence: 0.98,
    });
    expect(lowerSuccess.result).toBe("fail");
  });

  it("is no data, never a pass, with too few samples on either side", () => {
    const few = Array.from({ length: MIN_SAMPLES - 1 }, (_, i) => 100 + i);
    const enough = normals(9, 20, 100, 5);
    for (const [canary, primary] of [
      [few, enough],
      [enough, few],
      [[], []],
    ] as const) {
      const v = compareSamples(canary, primary, latency);
      expect(v.result).toBe("nodata");
      if (v.result === "nodata") expect(v.reason).toMatch(/too few samples/);
    }
  });

  it("promotes a noisy but equal canary in at least 19 of 20 seeded runs", () => {
    let passes = 0;
    for (let seed = 0; seed < 20; seed++) {
      // Noisy: a coefficient of variation of 15 %, 11 samples a side as the controller takes them.
      const canary = normals(1000 + seed, 11, 100, 15);
      const primary = normals(2000 + seed, 11, 100, 15);
      if (compareSamples(canary, primary, latency).result === "pass") passes++;
    }
    expect(passes).toBeGreaterThanOrEqual(19);
  });

  it("rolls back the same noisy canary when it is 20 % slower in most seeded runs", () => {
    let failures = 0;
    for (let seed = 0; seed < 20; seed++) {
      const canary = normals(3000 + seed, 11, 120, 15);
      const primary = normals(4000 + seed, 11, 100, 15);
      if (compareSamples(canary, primary, latency).result === "fail") failures++;
    }
    expect(failures).toBeGreaterThanOrEqual(12);
  });
});
