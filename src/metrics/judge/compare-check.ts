/**
 * The `compare` half of a metric check: samples the metric for the canary and the primary over the
 * metric's interval (a range query at a fixed resolution, the same query with `{{ target }}` set to
 * each) and judges them with the Mann-Whitney test of src/stats/compare.ts.
 */
import type { CheckResult, CheckStatus, MetricCompare } from "../../api/canary.ts";
import { type CompareSettings, compareSamples } from "../../stats/compare.ts";
import type { MetricProvider } from "../provider.ts";
import { isRangeProvider } from "../range.ts";

/** Samples per interval and side: [now - interval, now] at interval / 10, so 11 when all have data. */
export const SAMPLES_PER_INTERVAL = 10;
/** Prometheus steps below a second buy nothing: scrapes are seconds apart. */
const MIN_STEP_MS = 1000;

export const COMPARE_DEFAULTS = { direction: "either", tolerance: 0.25, confidence: 0.98 } as const;

export interface ComparisonRequest {
  name: string;
  provider: MetricProvider;
  /** Provider type and where the query came from, for messages. */
  type: string;
  source: string;
  /** The rendered queries: `{{ target }}` as the canary, and as the primary. */
  canaryQuery: string;
  primaryQuery: string;
  compare: MetricCompare;
  intervalMs: number;
  timeoutMs: number;
  now: Date;
}

export type ComparisonVerdict = Pick<CheckStatus, "result" | "message" | "value" | "comparison">;

export function compareSettings(compare: MetricCompare): CompareSettings {
  return {
    direction: compare.direction ?? COMPARE_DEFAULTS.direction,
    tolerance: compare.tolerance ?? COMPARE_DEFAULTS.tolerance,
    confidence: compare.confidence ?? COMPARE_DEFAULTS.confidence,
  };
}

/** Rejects on provider errors (the caller turns them into an error result, never a pass). */
export async function compareWithPrimary(req: ComparisonRequest): Promise<ComparisonVerdict> {
  const { provider } = req;
  if (!isRangeProvider(provider)) {
    throw new Error(`compare needs a provider that can sample a range; ${req.type} cannot`);
  }
  const options = {
    start: new Date(req.now.getTime() - req.intervalMs),
    end: req.now,
    stepMs: Math.max(MIN_STEP_MS, req.intervalMs / SAMPLES_PER_INTERVAL),
    intervalMs: req.intervalMs,
    timeoutMs: req.timeoutMs,
    signal: AbortSignal.timeout(req.timeoutMs),
  };
  const [canary, primary] = await Promise.all([
    provider.queryRange(req.canaryQuery, options),
    provider.queryRange(req.primaryQuery, options),
  ]);
  const settings = compareSettings(req.compare);
  const verdict = compareSamples(
    canary.samples.map((s) => s.value),
    primary.samples.map((s) => s.value),
    settings,
  );
  if (verdict.result === "nodata") {
    return {
      result: "nodata",
      message: `${req.name}: no data from ${req.source} (${req.type}) to compare the canary with the primary: ${verdict.reason}`,
    };
  }
  const c = verdict.comparison;
  const word = { increase: "higher", decrease: "lower", either: "different" }[settings.direction];
  const outcome =
    verdict.result === "fail"
      ? `significantly ${word} than the primary beyond the tolerance`
      : `not significantly ${word} beyond the tolerance`;
  return {
    result: verdict.result,
    value: c.canaryMedian,
    comparison: c,
    message:
      `${req.name}: canary median ${c.canaryMedian.toFixed(2)} vs primary median ${c.primaryMedian.toFixed(2)} ` +
      `(effect ${percent(c.effectSize)}, tolerance ${percent(settings.tolerance, false)}), ` +
      `p-value ${formatP(c.pValue)} (confidence ${settings.confidence}): ${outcome} (${req.type})`,
  };
}

const SEVERITY: Record<CheckResult, number> = { fail: 3, error: 2, nodata: 1, pass: 0 };

/** A metric with both thresholdRange and compare: the worse of the two results, both messages. */
export function worseOf<A extends ComparisonVerdict, B extends ComparisonVerdict>(fixed: A, compared: B) {
  const result = SEVERITY[compared.result] > SEVERITY[fixed.result] ? compared.result : fixed.result;
  return {
    ...compared,
    ...fixed,
    result,
    ...(compared.comparison ? { comparison: compared.comparison } : {}),
    message: `${fixed.message}; ${compared.message}`,
  };
}

function percent(value: number, signed = true): string {
  const text = `${(value * 100).toFixed(1)} %`;
  return signed && value >= 0 ? `+${text}` : text;
}

function formatP(p: number): string {
  return p < 0.0001 ? p.toExponential(1) : p.toFixed(4);
}
