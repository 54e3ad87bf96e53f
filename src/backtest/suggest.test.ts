import { describe, expect, it } from "vitest";
import { normalSeries } from "../../test/helpers/series.ts";
import type { Window } from "./evaluate.ts";
import { roundDown, roundUp, suggestRange } from "./suggest.ts";

const WEEK = 7 * 24 * 60;

/** A week of a p99 latency around 200 ms (sd 15), with `outage` minutes at 2000 ms from minute 3000. */
function latencyWeek(outage: number): Window[] {
  return normalSeries(42, WEEK, 200, 15).map((w, i) =>
    i >= 3000 && i < 3000 + outage ? { ...w, value: 2000 + (i % 7) } : w,
  );
}

describe("suggestRange", () => {
  it("suggests a maximum that about 0.5 % of healthy windows exceed", () => {
    const s = suggestRange(latencyWeek(0), { min: false, max: true }, 0.005);
    // Normal(200, 15): the 99.5th percentile is 200 + 2.576 * 15 = 238.6.
    expect(s?.max).toBeGreaterThan(234);
    expect(s?.max).toBeLessThan(244);
    expect(s?.min).toBeUndefined();
    expect(s?.failureRate).toBeGreaterThan(0.002);
    expect(s?.failureRate).toBeLessThanOrEqual(0.005);
    expect(s?.setAside).toEqual([]);
  });

  it("is not dragged by an outage of a fifth of the range, and says which windows it set aside", () => {
    const healthy = suggestRange(latencyWeek(0), { min: false, max: true }, 0.005);
    const outage = Math.floor(WEEK / 5);
    const s = suggestRange(latencyWeek(outage), { min: false, max: true }, 0.005);
    expect(s?.max).toBeGreaterThan((healthy?.max ?? 0) - 5);
    expect(s?.max).toBeLessThan((healthy?.max ?? 0) + 5);
    expect(s?.setAside).toEqual([
      {
        from: new Date(3000 * 60_000).toISOString(),
        to: new Date((3000 + outage - 1) * 60_000).toISOString(),
        windows: outage,
      },
    ]);
  });

  it("suggests a minimum for a success rate that sits at 100 most of the time, outage set aside", () => {
    const windows: Window[] = Array.from({ length: 1000 }, (_, i) => ({
      time: new Date(i * 60_000),
      // 60 % of windows at 100, the rest a little lower, and 150 windows of an outage at about 60.
      value: i >= 500 && i < 650 ? 60 - (i % 5) : i % 5 < 3 ? 100 : 99.9 - (i % 7) * 0.05,
    }));
    const s = suggestRange(windows, { min: true, max: false }, 0.005);
    expect(s?.min).toBeGreaterThanOrEqual(99.5);
    expect(s?.min).toBeLessThanOrEqual(99.6);
    expect(s?.setAside.reduce((n, r) => n + r.windows, 0)).toBe(150);
  });

  it("splits the rate between two sides and says nothing without data", () => {
    const s = suggestRange(latencyWeek(0), { min: true, max: true }, 0.01);
    expect(s?.min).toBeLessThan(170);
    expect(s?.max).toBeGreaterThan(230);
    expect(
      suggestRange([{ time: new Date(0), value: undefined }], { min: true, max: true }, 0.01),
    ).toBeUndefined();
  });
});

describe("rounding outwards to a tenth of the variation", () => {
  it("keeps the digits the noise leaves meaningful, and values already on the grid", () => {
    expect(roundUp(238.61, 15)).toBe(239);
    expect(roundUp(238.61, 150)).toBe(240);
    expect(roundDown(99.8724, 0.0185)).toBe(99.872);
    expect(roundDown(99.9, 0.02)).toBe(99.9);
    expect(roundUp(0.3, 0.05)).toBe(0.3);
    expect(roundUp(0.01234, 0.003)).toBe(0.0124);
    expect(roundUp(123.4, 0)).toBe(123.4);
  });
});
