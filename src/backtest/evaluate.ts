/**
 * What a metric configuration would have done on history: which windows fail the range, and how
 * many releases would have been rolled back, replaying decide()'s rules: a failed step is retried
 * (the weight does not advance) and counts towards `threshold`; a release is rolled back when the
 * failures reach it, promoted when every step passed.
 */
import { quantileSorted } from "simple-statistics";

export interface Range {
  min?: number;
  max?: number;
}

/** One analysis window: the value the check would have seen, or undefined for no data. */
export interface Window {
  time: Date;
  value: number | undefined;
}

export interface Distribution {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface Rollbacks {
  /** Releases that start at a window and end (promoted or rolled back) inside the range. */
  releases: number;
  rolledBack: number;
  /** rolledBack / releases; 0 without releases. */
  rate: number;
}

export interface ReleaseShape {
  /** Steps that must pass: canary weights, or blue/green iterations. */
  steps: number;
  threshold: number;
}

/** What a window is to the controller: a failed check, a pass, or (onNoData skip) neither. */
export type Outcome = "pass" | "fail" | "skip";

export function failsRange(value: number, range: Range | undefined): boolean {
  return (range?.min !== undefined && value < range.min) || (range?.max !== undefined && value > range.max);
}

export function outcome(window: Window, range: Range | undefined, onNoData: "fail" | "skip"): Outcome {
  if (window.value === undefined) return onNoData === "fail" ? "fail" : "skip";
  return failsRange(window.value, range) ? "fail" : "pass";
}

export function distribution(values: readonly number[]): Distribution | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] as number,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p99: quantileSorted(sorted, 0.99),
    max: sorted[sorted.length - 1] as number,
  };
}

/** The outcome at each window when several metrics are checked together: any failure fails the step. */
export function combine(perMetric: readonly Outcome[][]): Outcome[] {
  const length = Math.min(...perMetric.map((o) => o.length));
  return Array.from({ length }, (_, i) => {
    const all = perMetric.map((o) => o[i] as Outcome);
    if (all.includes("fail")) return "fail";
    return all.includes("skip") ? "skip" : "pass";
  });
}

/**
 * Replays one release starting at window `start`. undefined when it would run past the last window
 * or into a window marked unusable (an excluded span): such releases are not counted.
 */
export function replay(
  outcomes: readonly Outcome[],
  usable: readonly boolean[],
  start: number,
  shape: ReleaseShape,
): "promoted" | "rolledBack" | undefined {
  let passed = 0;
  let failures = 0;
  for (let i = start; i < outcomes.length; i++) {
    if (!usable[i]) return undefined;
    const o = outcomes[i] as Outcome;
    if (o === "fail") {
      failures++;
      if (failures >= shape.threshold) return "rolledBack";
    } else if (o === "pass" || passed < shape.steps - 1) {
      // No data with onNoData skip passes a step, but never the last one (promotion waits for data).
      passed++;
    }
    if (passed >= shape.steps) return "promoted";
  }
  return undefined;
}

/** Every release that starts at a usable window and ends inside the range. */
export function countRollbacks(
  outcomes: readonly Outcome[],
  usable: readonly boolean[],
  shape: ReleaseShape,
): Rollbacks {
  let releases = 0;
  let rolledBack = 0;
  for (let start = 0; start < outcomes.length; start++) {
    const end = replay(outcomes, usable, start, shape);
    if (end === undefined) continue;
    releases++;
    if (end === "rolledBack") rolledBack++;
  }
  return { releases, rolledBack, rate: releases === 0 ? 0 : rolledBack / releases };
}
