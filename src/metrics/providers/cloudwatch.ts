import type {
  CloudWatchClient,
  CloudWatchClientConfig,
  GetMetricDataCommandInput,
  GetMetricDataCommandOutput,
  MetricDataQuery,
} from "@aws-sdk/client-cloudwatch";
import { z } from "zod";
import type { MetricTemplateSpec, REDUCERS } from "../../api/metric-template.ts";
import { lazy } from "../../lazy.ts";
import { credentialSecrets, displayUrl, redactor, urlSecrets } from "../../security/redact.ts";
import { awsCredentials, staticCredentials } from "../aws-credentials.ts";
import type { Credentials, QueryOptions, QueryResult } from "../provider.ts";
import {
  type RangeMetricProvider,
  type RangeOptions,
  type RangeResult,
  type Sample,
  stepTimes,
} from "../range.ts";

export type Reducer = (typeof REDUCERS)[number];

type ProviderSpec = MetricTemplateSpec["provider"];

/** The two CloudWatch calls kanaria makes; the SDK in production, a fake in unit tests. */
export interface CloudWatchApi {
  getMetricData(input: GetMetricDataCommandInput, signal: AbortSignal): Promise<GetMetricDataCommandOutput>;
  listMetrics(signal: AbortSignal): Promise<void>;
}

/** Stops a runaway NextToken loop; 100 pages of up to 100,800 datapoints is far beyond one window. */
const MAX_PAGES = 100;

export function createCloudWatchProvider(
  provider: ProviderSpec,
  credentials: Credentials,
  reduce: Reducer = "latest",
): RangeMetricProvider {
  const where = `CloudWatch ${provider.address ? `at ${displayUrl(provider.address)}` : `in ${provider.region ?? "the default region"}`}`;
  const secrets = [...credentialSecrets(credentials), ...urlSecrets(provider.address)];
  return cloudWatchProvider(sdkApi(provider, credentials), reduce, where, secrets);
}

/**
 * The provider over any CloudWatchApi: parses the query, pages through GetMetricData, reduces.
 * `secrets` are what the requests carry; error messages never repeat them.
 */
export function cloudWatchProvider(
  api: CloudWatchApi,
  reduce: Reducer,
  where: string,
  secrets: string[] = [],
): RangeMetricProvider {
  const guard = guarded(where, redactor(secrets));
  return {
    /**
     * One GetMetricData over [start - interval, end], then each step t gets what an instant query at
     * t would have reduced: the datapoints in [t - interval, t).
     */
    async queryRange(query: string, options: RangeOptions): Promise<RangeResult> {
      const queries = parseCloudWatchQuery(query);
      const id = dataQueryId(queries);
      const from = new Date(options.start.getTime() - options.intervalMs);
      const signal = deadline(options.timeoutMs, options.signal);
      const series = await guard(options.timeoutMs, () =>
        fetchSeries(api, queries, id, from, options.end, signal),
      );
      return { samples: windowed(series, options, reduce) };
    },
    async query(query: string, options: QueryOptions): Promise<QueryResult> {
      const queries = parseCloudWatchQuery(query);
      const id = dataQueryId(queries);
      const end = options.now;
      const start = new Date(end.getTime() - options.intervalMs);
      const signal = deadline(options.timeoutMs, options.signal);
      const series = await guard(options.timeoutMs, () => fetchSeries(api, queries, id, start, end, signal));
      if (series.values.length === 0) {
        return {
          kind: "nodata",
          reason: `query "${id}" returned no datapoints between ${start.toISOString()} and ${end.toISOString()}`,
        };
      }
      return { kind: "value", value: reduceSeries(series, reduce) };
    },
    async isOnline(timeoutMs: number, signal?: AbortSignal): Promise<void> {
      await guard(timeoutMs, () => api.listMetrics(deadline(timeoutMs, signal)));
    },
  };
}

const metricDataQuery = z.looseObject({
  Id: z.string().min(1),
  Expression: z.string().optional(),
  MetricStat: z.looseObject({}).optional(),
  ReturnData: z.boolean().optional(),
});

/** The template's query: a JSON array of MetricDataQuery (MetricStat or Expression, metric math allowed). */
export function parseCloudWatchQuery(query: string): MetricDataQuery[] {
  let json: unknown;
  try {
    json = JSON.parse(query);
  } catch (err) {
    throw new Error(
      `the query is not valid JSON (${(err as Error).message}); expected an array of MetricDataQuery`,
    );
  }
  const parsed = z.array(metricDataQuery).min(1).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue?.path.length ? ` at [${issue.path.join("].")}` : "";
    throw new Error(`the query is not an array of MetricDataQuery${at}: ${issue?.message}`);
  }
  for (const q of parsed.data) {
    if ((q.MetricStat === undefined) === (q.Expression === undefined)) {
      throw new Error(`MetricDataQuery "${q.Id}" needs exactly one of MetricStat and Expression`);
    }
  }
  return parsed.data as MetricDataQuery[];
}

/** The one query whose result is judged: the only one with ReturnData true (the default). */
function dataQueryId(queries: MetricDataQuery[]): string {
  const returning = queries.filter((q) => q.ReturnData !== false).map((q) => q.Id as string);
  if (returning.length === 1) return returning[0] as string;
  if (returning.length === 0)
    throw new Error("no MetricDataQuery returns data: set ReturnData true on one of them");
  throw new Error(
    `${returning.length} MetricDataQuery entries return data (${returning.join(", ")}); set ReturnData false on all but the one to judge`,
  );
}

export interface Series {
  timestamps: Date[];
  values: number[];
}

/** All datapoints of one query in [start, end], following NextToken. */
async function fetchSeries(
  api: CloudWatchApi,
  queries: MetricDataQuery[],
  id: string,
  start: Date,
  end: Date,
  signal: AbortSignal,
): Promise<Series> {
  const series: Series = { timestamps: [], values: [] };
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await api.getMetricData(
      { StartTime: start, EndTime: end, MetricDataQueries: queries, NextToken: nextToken },
      signal,
    );
    const result = out.MetricDataResults?.find((r) => r.Id === id);
    if (result?.StatusCode === "Forbidden" || result?.StatusCode === "InternalError") {
      const detail = (result.Messages ?? []).map((m) => `${m.Code}: ${m.Value}`).join("; ");
      throw new Error(`query "${id}" failed with status ${result.StatusCode}${detail ? ` (${detail})` : ""}`);
    }
    series.timestamps.push(...(result?.Timestamps ?? []));
    series.values.push(...(result?.Values ?? []));
    nextToken = out.NextToken;
    if (!nextToken) return series;
  }
  throw new Error(`GetMetricData still returned a NextToken after ${MAX_PAGES} pages`);
}

function windowed(series: Series, options: RangeOptions, reduce: Reducer): Sample[] {
  const points = series.timestamps
    .map((ts, i) => ({ ms: ts.getTime(), value: series.values[i] as number }))
    .sort((a, b) => a.ms - b.ms);
  const samples: Sample[] = [];
  let first = 0;
  for (const time of stepTimes(options.start, options.end, options.stepMs)) {
    const since = time.getTime() - options.intervalMs;
    while (first < points.length && (points[first]?.ms ?? 0) < since) first++;
    let last = first;
    while (last < points.length && (points[last]?.ms ?? 0) < time.getTime()) last++;
    if (last === first) continue;
    const inWindow = points.slice(first, last);
    const window = { timestamps: inWindow.map((p) => new Date(p.ms)), values: inWindow.map((p) => p.value) };
    samples.push({ time, value: reduceSeries(window, reduce) });
  }
  return samples;
}

/** latest (by timestamp, whatever order CloudWatch returned), avg, min, max or sum of the datapoints. */
export function reduceSeries(series: Series, reduce: Reducer): number {
  const { values, timestamps } = series;
  switch (reduce) {
    case "latest": {
      let latest = 0;
      for (let i = 1; i < values.length; i++) {
        if ((timestamps[i]?.getTime() ?? 0) > (timestamps[latest]?.getTime() ?? 0)) latest = i;
      }
      return values[latest] as number;
    }
    case "avg":
      return values.reduce((a, b) => a + b, 0) / values.length;
    case "min":
      return Math.min(...values);
    case "max":
      return Math.max(...values);
    case "sum":
      return values.reduce((a, b) => a + b, 0);
  }
}

/** Our own timeout, and the caller's signal when it gives up first. */
function deadline(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** Prefixes errors with the endpoint, turns an abort into a timeout message, redacts the rest. */
function guarded(where: string, scrub: (text: string) => string) {
  return async <T>(timeoutMs: number, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      const e = err as Error;
      if (e.name === "AbortError" || e.name === "TimeoutError") {
        throw new Error(`${where}: no answer within ${timeoutMs / 1000}s`);
      }
      throw new Error(scrub(`${where}: ${e.name && e.name !== "Error" ? `${e.name}: ` : ""}${e.message}`));
    }
  };
}

type Sdk = typeof import("@aws-sdk/client-cloudwatch");

/**
 * The AWS SDK, loaded on the first CloudWatch call: a controller whose Canaries query no CloudWatch
 * never holds it (about 25 MiB of code and heap).
 */
const loadSdk = lazy(() =>
  Promise.all([import("@aws-sdk/client-cloudwatch"), import("@aws-sdk/core/protocols")]),
);

function sdkApi(provider: ProviderSpec, credentials: Credentials): CloudWatchApi {
  // Credentials are checked now, so a Secret without the keys fails at creation, not at the first call.
  const config = clientConfig(provider, credentials);
  const connected = lazy(async (): Promise<[CloudWatchClient, Sdk]> => {
    const [sdk, { AwsQueryProtocol }] = await loadSdk();
    return [
      // CloudWatch speaks awsQuery, awsJson1_0 and Smithy RPC v2 CBOR, and the SDK's default has
      // changed between releases (CBOR for a while, awsJson1_0 now). moto and other CloudWatch fakes
      // do not speak CBOR, so the protocol is pinned to awsQuery: the protocol every CloudWatch
      // endpoint understands and the one Flagger (aws-sdk-go) uses. Passing the class, not an
      // instance, lets the client construct it with its own settings (XML namespace, API version,
      // error type registry), so modeled errors are still recognised.
      new sdk.CloudWatchClient({ ...config, protocol: AwsQueryProtocol }),
      sdk,
    ];
  });
  return {
    async getMetricData(input, signal) {
      const [cw, sdk] = await connected();
      return cw.send(new sdk.GetMetricDataCommand(input), { abortSignal: signal });
    },
    async listMetrics(signal) {
      const [cw, sdk] = await connected();
      // A namespace nobody writes to: the answer is small, yet it proves reachability and that the
      // credentials are accepted (the IAM policy needs cloudwatch:ListMetrics next to GetMetricData).
      await cw.send(new sdk.ListMetricsCommand({ Namespace: "Kanaria/OnlineCheck" }), {
        abortSignal: signal,
      });
    },
  };
}

/**
 * Everything but the wire protocol, which comes with the SDK (see sdkApi). Credentials come from the
 * process-wide cache (aws-credentials.ts), not a chain per client: a client is made per check, and
 * each would otherwise ask STS (IRSA, an assumed role) again.
 */
function clientConfig(provider: ProviderSpec, credentials: Credentials): CloudWatchClientConfig {
  const keys = provider.secretRef ? staticCredentials(provider.secretRef.name, credentials) : undefined;
  return {
    ...(provider.region ? { region: provider.region } : {}),
    ...(provider.address ? { endpoint: provider.address } : {}),
    credentials: awsCredentials({ roleArn: provider.roleArn, region: provider.region, keys }),
    maxAttempts: 3,
  };
}
