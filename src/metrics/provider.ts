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
  /** Aborts the request, e.g. when the caller's own deadline passes first. */
  signal?: AbortSignal;
}

/** One implementation per metric backend, picked by metrics/factory.ts from spec.provider.type. */
export interface MetricProvider {
  /** Runs an already-rendered query. Rejects on transport errors, timeouts and backend errors. */
  query(query: string, options: QueryOptions): Promise<QueryResult>;
  /** Cheap reachability check used before the first step; `signal` aborts it. */
  isOnline(timeoutMs: number, signal?: AbortSignal): Promise<void>;
}
