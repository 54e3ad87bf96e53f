/**
 * A threshold that healthy history fails in about `rate` of its windows, robust to outages in that
 * history. Outages first: windows further than OUTLIER_SIGMAS robust standard deviations from the
 * median (scale from the median absolute deviation, which up to half the windows being an outage
 * cannot drag) on a side being suggested are set aside; then the bound is the rate-quantile of
 * the rest, rounded outwards to a tenth of the typical variation (229 ms for a p99 that varies by
 * 12 ms; 99.872 % for a success rate that varies by 0.02).
 */
import { medianSorted, quantileSorted } from "simple-statistics";
import type { Range, Window } from "./evaluate.ts";

/** Far enough out that a healthy tail stays in, close enough that an outage does not. */
export const OUTLIER_SIGMAS = 5;
/** Makes the MAD a standard deviation for normally distributed values. */
const MAD_TO_SIGMA = 1.4826;

export interface SetAside {
  from: string;
  to: string;
  windows: number;
}

export interface Suggestion extends Range {
  /** Share of the kept windows the suggested range fails. */
  failureRate: number;
  /** Runs of consecutive windows set aside as outliers. */
  setAside: SetAside[];
}

export interface Sides {
  min: boolean;
  max: boolean;
}

/** Values with data, in time order; returns undefined when there is nothing to learn from. */
export function suggestRange(windows: readonly Window[], sides: Sides, rate: number): Suggestion | undefined {
  const data = windows.filter((w): w is { time: Date; value: number } => w.value !== undefined);
  if (data.length === 0 || (!sides.min && !sides.max)) return undefined;
  const sorted = data.map((w) => w.value).sort((a, b) => a - b);
  const center = medianSorted(sorted);
  const sigma = robustSigma(sorted, center);
  const outlier = (v: number) =>
    sigma > 0 &&
    ((sides.max && v > center + OUTLIER_SIGMAS * sigma) ||
      (sides.min && v < center - OUTLIER_SIGMAS * sigma));
  const kept = sorted.filter((v) => !outlier(v));
  // Each side gets its share of the rate when both are suggested.
  const share = sides.min && sides.max ? rate / 2 : rate;
  const range: Range = {
    ...(sides.min ? { min: roundDown(quantileSorted(kept, share), sigma) } : {}),
    ...(sides.max ? { max: roundUp(quantileSorted(kept, 1 - share), sigma) } : {}),
  };
  const failing = kept.filter(
    (v) => (range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max),
  ).length;
  return { ...range, failureRate: failing / kept.length, setAside: runs(data, outlier) };
}

/**
 * 1.4826 x MAD. When more than half the values are equal (a success rate at 100 most of the
 * time) the MAD is 0; then the deviations of the values that differ from the median stand in.
 */
function robustSigma(sorted: readonly number[], center: number): number {
  const deviations = sorted.map((v) => Math.abs(v - center)).sort((a, b) => a - b);
  const mad = medianSorted(deviations);
  if (mad > 0) return MAD_TO_SIGMA * mad;
  const nonzero = deviations.filter((d) => d > 0);
  return nonzero.length === 0 ? 0 : MAD_TO_SIGMA * medianSorted(nonzero);
}

function runs(data: readonly { time: Date; value: number }[], outlier: (v: number) => boolean): SetAside[] {
  const out: SetAside[] = [];
  let current: { from: Date; to: Date; windows: number } | undefined;
  for (const w of data) {
    if (outlier(w.value)) {
      if (current) {
        current.to = w.time;
        current.windows++;
      } else current = { from: w.time, to: w.time, windows: 1 };
    } else if (current) {
      out.push(iso(current));
      current = undefined;
    }
  }
  if (current) out.push(iso(current));
  return out;
}

const iso = (r: { from: Date; to: Date; windows: number }): SetAside => ({
  from: r.from.toISOString(),
  to: r.to.toISOString(),
  windows: r.windows,
});

/** Rounded up to a grid of a tenth of `spread`'s order of magnitude, so the bound never tightens. */
export function roundUp(value: number, spread: number): number {
  return round(value, spread, Math.ceil);
}

export function roundDown(value: number, spread: number): number {
  return round(value, spread, Math.floor);
}

function round(value: number, spread: number, direction: (x: number) => number): number {
  if (!(spread > 0) || !Number.isFinite(value)) return value;
  const unit = 10 ** (Math.floor(Math.log10(spread)) - 1);
  const steps = value / unit;
  // A value already on the grid stays (float noise such as 998.9999999 must not move it a step).
  const nearest = Math.round(steps);
  const rounded = Math.abs(steps - nearest) < 1e-6 ? nearest : direction(steps);
  // toPrecision drops the float noise of the multiplication (0.1 * 3 = 0.30000000000000004).
  return Number((rounded * unit).toPrecision(12));
}
