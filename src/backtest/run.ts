/**
 * `kanaria backtest` as a library: replays each metric of a Canary over a time range exactly as the
 * controller would have queried it (one window per analysis interval, the same templates and
 * built-in queries, `{{ target }}` the primary unless told otherwise), and reports what the current
 * thresholds would have done and what thresholds the history suggests.
 */
import type { Canary, ProviderName } from "../api/canary.ts";
import { parseDuration } from "../api/common.ts";
import { type ResolvedCanary, resolveCanary } from "../api/defaults.ts";
import type { Sigv4Spec } from "../api/metric-template.ts";
import {
  loadCredentials,
  type ProviderLookup,
  planCheck,
  type SecretLookup,
  type TemplateLookup,
} from "../metrics/analysis.ts";
import type { Series } from "../metrics/builtin.ts";
import { isRangeProvider, stepTimes } from "../metrics/range.ts";
import { renderQuery, templateModel } from "../metrics/template.ts";
import { primaryName } from "../workloads/primary.ts";
import {
  combine,
  countRollbacks,
  type Distribution,
  distribution,
  failsRange,
  type Outcome,
  outcome,
  type Range,
  type ReleaseShape,
  type Rollbacks,
  replay,
  type Window,
} from "./evaluate.ts";
import { type Sides, type Suggestion, suggestRange } from "./suggest.ts";
import { type Span, within } from "./time.ts";

/** Prometheus answers at most 11,000 points per series and query_range; stay well below. */
export const MAX_STEPS_PER_QUERY = 10_000;
export const DEFAULT_FALSE_FAILURE_RATE = 0.005;

export interface BacktestInput {
  canary: Pick<Canary, "metadata" | "spec">;
  templates: TemplateLookup;
  secrets: SecretLookup;
  providers: ProviderLookup;
  defaultProvider?: ProviderName;
  metricsServer?: string;
  /** How to sign requests to metricsServer (Amazon Managed Service for Prometheus). */
  metricsSigv4?: Sigv4Spec | undefined;
  /** Whose series the built-in metrics read (metrics/series.ts); the router's default when unset. */
  series?: Series | undefined;
  from: Date;
  to: Date;
  /** `{{ target }}`; default the primary (`<target>-primary`), whose history is production's. */
  target?: string;
  falseFailureRate?: number;
  exclude?: Span[];
  incidents?: Span[];
  timeoutMs?: number;
  /** Progress lines for long ranges (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface IncidentReport {
  from: string;
  to: string;
  windows: number;
  /** Windows in the incident the current / suggested range fails. */
  failed: number;
  failedBySuggested: number | null;
  /** Would a release started when the incident began have been rolled back? */
  caught: boolean;
  caughtBySuggested: boolean | null;
}

export interface MetricReport {
  name: string;
  provider: string;
  source: string;
  query: string;
  /** Windows evaluated: the range's windows minus the excluded and incident ones. */
  windows: number;
  noData: number;
  excluded: number;
  /** Evaluated windows outside the current thresholdRange. */
  failed: number;
  values: Distribution | null;
  threshold: Range | null;
  suggested: Suggestion | null;
  rollbacks: Rollbacks;
  suggestedRollbacks: Rollbacks | null;
  incidents: IncidentReport[];
  /** Set when the metric could not be replayed; the other fields are then empty. */
  error?: string;
  /** The windows themselves, for --plot; not part of the JSON output. */
  series: Window[];
}

export interface BacktestReport {
  canary: string;
  from: string;
  to: string;
  interval: string;
  target: string;
  falseFailureRate: number;
  release: ReleaseShape;
  metrics: MetricReport[];
  /** All metrics together, as the controller checks them. */
  rollbacks: Rollbacks;
}

type Metric = ResolvedCanary["metrics"][number];

export async function backtest(input: BacktestInput): Promise<BacktestReport> {
  const resolved = resolveCanary(input.canary.spec, input.defaultProvider);
  const shape = releaseShape(resolved);
  const times = stepTimes(input.from, input.to, resolved.intervalMs);
  const target = input.target ?? primaryName(input.canary.spec.targetRef.name);
  const usable = times.map((t) => !(input.exclude ?? []).some((s) => within(t, s)));
  const healthy = times.map(
    (t, i) => usable[i] === true && !(input.incidents ?? []).some((s) => within(t, s)),
  );
  const rate = input.falseFailureRate ?? DEFAULT_FALSE_FAILURE_RATE;
  const metrics: MetricReport[] = [];
  const outcomes: Outcome[][] = [];
  for (const [index, metric] of resolved.metrics.entries()) {
    const where = `${metric.name} (${index + 1}/${resolved.metrics.length})`;
    try {
      const replayed = await replayMetric(input, resolved, metric, times, target, where);
      const report = evaluate(metric, replayed, {
        shape,
        usable,
        healthy,
        rate,
        incidents: input.incidents ?? [],
      });
      metrics.push(report);
      outcomes.push(replayed.series.map((w) => outcome(w, metric.thresholdRange, metric.onNoData)));
    } catch (err) {
      metrics.push(failed(metric, err instanceof Error ? err.message : String(err)));
    }
  }
  return {
    canary: `${input.canary.metadata.namespace ?? "default"}/${input.canary.metadata.name}`,
    from: input.from.toISOString(),
    to: input.to.toISOString(),
    interval: `${resolved.intervalMs / 1000}s`,
    target,
    falseFailureRate: rate,
    release: shape,
    metrics,
    rollbacks: outcomes.length > 0 ? countRollbacks(combine(outcomes), healthy, shape) : none(),
  };
}

/** Steps a release must pass: the canary's weights, or blue/green and A/B iterations. */
function releaseShape(resolved: ResolvedCanary): ReleaseShape {
  const steps = resolved.strategy === "canary" ? resolved.stepWeights.length : resolved.iterations;
  return { steps: Math.max(1, steps), threshold: resolved.threshold };
}

interface Replayed {
  provider: string;
  source: string;
  query: string;
  series: Window[];
}

async function replayMetric(
  input: BacktestInput,
  resolved: ResolvedCanary,
  metric: Metric,
  times: Date[],
  target: string,
  where: string,
): Promise<Replayed> {
  const plan = await planCheck(
    {
      canary: input.canary,
      resolved,
      defaultMetricsServer: input.metricsServer,
      defaultMetricsSigv4: input.metricsSigv4,
      templates: input.templates,
      series: input.series,
    },
    metric,
  );
  const credentials = await loadCredentials({ secrets: input.secrets }, plan);
  const provider = input.providers(plan.provider, credentials, plan.reduce);
  if (!isRangeProvider(provider)) throw new Error(`${plan.provider.type} cannot replay a range`);
  const isPrimary = target === primaryName(input.canary.spec.targetRef.name);
  const model = { ...templateModel(input.canary, metric), target };
  const query = renderQuery(isPrimary ? plan.primaryQuery : plan.query, model);
  const byTime = new Map<number, number>();
  const chunks = chunk(times, MAX_STEPS_PER_QUERY);
  for (const [i, part] of chunks.entries()) {
    if (chunks.length > 1)
      input.progress?.(`${where}: chunk ${i + 1}/${chunks.length} (${part.length} windows)`);
    const { samples } = await provider.queryRange(query, {
      start: part[0] as Date,
      end: part[part.length - 1] as Date,
      stepMs: resolved.intervalMs,
      intervalMs: parseDuration(metric.interval),
      timeoutMs: input.timeoutMs ?? 60_000,
    });
    for (const s of samples) byTime.set(s.time.getTime(), s.value);
  }
  const series = times.map((time) => ({ time, value: byTime.get(time.getTime()) }));
  return { provider: plan.provider.type, source: plan.source, query, series };
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface Context {
  shape: ReleaseShape;
  usable: boolean[];
  healthy: boolean[];
  rate: number;
  incidents: Span[];
}

function evaluate(metric: Metric, replayed: Replayed, ctx: Context): MetricReport {
  const { series } = replayed;
  const evaluated = series.filter((_, i) => ctx.healthy[i]);
  const values = evaluated.flatMap((w) => (w.value === undefined ? [] : [w.value]));
  const range = metric.thresholdRange;
  const suggested = suggestRange(evaluated, sidesFor(metric), ctx.rate) ?? null;
  const current = series.map((w) => outcome(w, range, metric.onNoData));
  const proposed = suggested ? series.map((w) => outcome(w, suggested, metric.onNoData)) : undefined;
  return {
    name: metric.name,
    provider: replayed.provider,
    source: replayed.source,
    query: replayed.query,
    windows: evaluated.length,
    noData: evaluated.length - values.length,
    excluded: series.filter((_, i) => !ctx.usable[i]).length,
    failed: values.filter((v) => failsRange(v, range)).length,
    values: distribution(values),
    threshold: range ?? null,
    suggested,
    rollbacks: countRollbacks(current, ctx.healthy, ctx.shape),
    suggestedRollbacks: proposed ? countRollbacks(proposed, ctx.healthy, ctx.shape) : null,
    incidents: ctx.incidents.map((span) => incident(span, series, current, proposed, suggested, ctx)),
    series,
  };
}

/** The sides a suggestion is for: those the range has, else what the metric's kind implies. */
function sidesFor(metric: Metric): Sides {
  const r = metric.thresholdRange;
  if (r) return { min: r.min !== undefined, max: r.max !== undefined };
  if (metric.name === "request-success-rate" || metric.compare?.direction === "decrease") {
    return { min: true, max: false };
  }
  if (metric.name === "request-duration" || metric.compare?.direction === "increase") {
    return { min: false, max: true };
  }
  return { min: true, max: true };
}

function incident(
  span: Span,
  series: Window[],
  current: Outcome[],
  proposed: Outcome[] | undefined,
  suggested: Range | null,
  ctx: Context,
): IncidentReport {
  const inside = series.flatMap((w, i) => (within(w.time, span) ? [i] : []));
  const count = (outcomes: Outcome[]) => inside.filter((i) => outcomes[i] === "fail").length;
  const start = inside[0];
  const caught = (outcomes: Outcome[]) =>
    start !== undefined && replay(outcomes, ctx.usable, start, ctx.shape) === "rolledBack";
  return {
    from: span.from.toISOString(),
    to: span.to.toISOString(),
    windows: inside.length,
    failed: count(current),
    failedBySuggested: proposed && suggested ? count(proposed) : null,
    caught: caught(current),
    caughtBySuggested: proposed ? caught(proposed) : null,
  };
}

function none(): Rollbacks {
  return { releases: 0, rolledBack: 0, rate: 0 };
}

function failed(metric: Metric, error: string): MetricReport {
  return {
    name: metric.name,
    provider: "",
    source: "",
    query: "",
    windows: 0,
    noData: 0,
    excluded: 0,
    failed: 0,
    values: null,
    threshold: metric.thresholdRange ?? null,
    suggested: null,
    rollbacks: none(),
    suggestedRollbacks: null,
    incidents: [],
    error,
    series: [],
  };
}
