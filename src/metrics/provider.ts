import type { MetricTemplateSpec } from "../api/metric-template.ts";

/**
 * What a query returned. "no data" is its own outcome, never a number: an empty vector, a matrix,
 * NaN or +-Inf from Prometheus, or no datapoints from CloudWatch.
 */
export type QueryResult = { kind: "value"; value: number } | { kind: "nodata"; reason: string };

/** Credentials resolved from the template's secretRef; values never reach logs, events or status. */
export type Credentials = Readonly<Record<string, string>>;

export interface QueryOptions {
  /** Window of the query, e.g. "1m"; CloudWatch reads [now - interval, now]. */
  intervalMs: number;
  timeoutMs: number;
  now: Date;
}

/** One implementation per metric backend, picked by metrics/factory.ts from spec.provider.type. */
export interface MetricProvider {
  /** Runs an already-rendered query. Rejects on transport errors, timeouts and backend errors. */
  query(query: string, options: QueryOptions): Promise<QueryResult>;
  /** Cheap reachability check used when a Canary is initialised. */
  isOnline(timeoutMs: number): Promise<void>;
}

export type MetricProviderFactory = (
  provider: MetricTemplateSpec["provider"],
  credentials: Credentials,
) => MetricProvider;
