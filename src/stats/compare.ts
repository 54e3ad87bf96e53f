/**
 * The canary-vs-primary judge: a Mann-Whitney U test with an effect-size tolerance, the idea of
 * Kayenta's MannWhitneyClassifier (NetflixACAJudge). A difference must be both significant (the
 * one-sided p-value in the harmful direction below 1 - confidence) and large (the canary's median
 * differs from the primary's by more than `tolerance` of the primary's median) to fail the canary:
 * significance alone would fail it on differences too small to matter, which many samples always
 * find.
 */
import { median } from "simple-statistics";
import { type Alternative, mannWhitneyU } from "./mann-whitney.ts";

/** Which change is harmful: increase (latency, errors), decrease (success rate), either. */
export type Direction = "increase" | "decrease" | "either";

/** Fewer samples than this on either side is "no data", never a pass. */
export const MIN_SAMPLES = 5;

export interface CompareSettings {
  direction: Direction;
  /** Relative difference of the medians that is tolerated, e.g. 0.25. */
  tolerance: number;
  /** e.g. 0.98: a difference counts when its p-value is below 0.02. */
  confidence: number;
}

export interface Comparison {
  canaryMedian: number;
  primaryMedian: number;
  /** (canary median - primary median) / |primary median|; from a median of 0 any change is +-1 (100 %). */
  effectSize: number;
  pValue: number;
  canarySamples: number;
  primarySamples: number;
}

export type CompareVerdict =
  | { result: "pass" | "fail"; comparison: Comparison }
  | { result: "nodata"; reason: string };

const ALTERNATIVE: Record<Direction, Alternative> = {
  increase: "greater",
  decrease: "less",
  either: "two-sided",
};

export function compareSamples(
  canary: readonly number[],
  primary: readonly number[],
  settings: CompareSettings,
): CompareVerdict {
  if (canary.length < MIN_SAMPLES || primary.length < MIN_SAMPLES) {
    return {
      result: "nodata",
      reason: `too few samples to compare (canary ${canary.length}, primary ${primary.length}; at least ${MIN_SAMPLES} each)`,
    };
  }
  const canaryMedian = median([...canary]);
  const primaryMedian = median([...primary]);
  const { pValue } = mannWhitneyU(canary, primary, { alternative: ALTERNATIVE[settings.direction] });
  const effectSize = relativeDifference(canaryMedian, primaryMedian);
  const comparison = {
    canaryMedian,
    primaryMedian,
    effectSize,
    pValue,
    canarySamples: canary.length,
    primarySamples: primary.length,
  };
  const significant = pValue < 1 - settings.confidence;
  return { result: significant && beyond(effectSize, settings) ? "fail" : "pass", comparison };
}

function relativeDifference(value: number, base: number): number {
  if (base !== 0) return (value - base) / Math.abs(base);
  // Finite, so the status (JSON) can hold it: a change from nothing counts as 100 %.
  return Math.sign(value);
}

function beyond(effect: number, { direction, tolerance }: CompareSettings): boolean {
  if (direction === "increase") return effect > tolerance;
  if (direction === "decrease") return effect < -tolerance;
  return Math.abs(effect) > tolerance;
}
