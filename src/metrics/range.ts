import type { MetricProvider } from "./provider.ts";

/**
 * A metric over time, for the canary-vs-primary judge and `kanaria backtest`: the value the
 * provider's instant query would have returned at each step. Providers that can answer this
 * implement RangeMetricProvider besides MetricProvider; the instant interface stays as it is.
 */
export interface RangeOptions {
  start: Date;
  end: Date;
  /** Distance between the evaluation times start, start + step, ... up to end. */
  stepMs: number;
  /** The query's window (the metric's interval): CloudWatch reduces the datapoints in [t - interval, t). */
  intervalMs: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Sample {
  time: Date;
  value: number;
}

/**
 * The samples in time order. A time without a value (no series, NaN, no datapoints) is absent:
 * "no data" at that time, never a number.
 */
export interface RangeResult {
  samples: Sample[];
}

export interface RangeMetricProvider extends MetricProvider {
  /** Rejects on transport errors, timeouts, backend errors and results with several series. */
  queryRange(query: string, options: RangeOptions): Promise<RangeResult>;
}

export function isRangeProvider(provider: MetricProvider): provider is RangeMetricProvider {
  return typeof (provider as Partial<RangeMetricProvider>).queryRange === "function";
}

/** The evaluation times start, start + step, ... <= end. */
export function stepTimes(start: Date, end: Date, stepMs: number): Date[] {
  if (!(stepMs > 0)) throw new Error(`the step must be positive, got ${stepMs} ms`);
  const times: Date[] = [];
  for (let t = start.getTime(); t <= end.getTime(); t += stepMs) times.push(new Date(t));
  return times;
}
