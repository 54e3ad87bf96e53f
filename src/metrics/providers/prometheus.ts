import { Agent } from "node:https";
import type {
  InstantVector,
  PrometheusDriver,
  QueryResult as PromResult,
  RangeVector,
} from "prometheus-query";
import type { MetricTemplateSpec } from "../../api/metric-template.ts";
import { lazy } from "../../lazy.ts";
import { credentialSecrets, displayUrl, redactor, urlSecrets } from "../../security/redact.ts";
import { awsCredentials, staticCredentials } from "../aws-credentials.ts";
import type { Credentials, QueryOptions, QueryResult } from "../provider.ts";
import type { RangeMetricProvider, RangeOptions, RangeResult, Sample } from "../range.ts";
import { type Signer, sigv4Signer } from "./sigv4.ts";

const ONLINE_QUERY = "vector(1)";
/**
 * Longer queries go as a POST form body: proxies and load balancers in front of Prometheus (and
 * Prometheus-compatible services) cap the URL length, often at 4 or 8 KiB.
 */
const MAX_GET_QUERY_LENGTH = 2048;
const FORM = "application/x-www-form-urlencoded";

type ProviderSpec = MetricTemplateSpec["provider"];

/**
 * Instant queries against the Prometheus HTTP API. Unlike Flagger, which takes one of several
 * returned series, a vector with more than one series is an error: which series wins would be
 * arbitrary, so the query must aggregate (`sum(...)`, `max(...)`) to one value.
 */
export function createPrometheusProvider(
  provider: ProviderSpec,
  credentials: Credentials,
): RangeMetricProvider {
  const address = provider.address;
  if (!address) {
    throw new Error(
      "prometheus needs an address: set the MetricTemplate's spec.provider.address, the Canary's spec.metricsServer or the controller's default metrics server",
    );
  }
  const where = `Prometheus at ${displayUrl(address)}`;
  const connect = connection(address, provider, credentials);
  const agent = provider.insecureSkipVerify ? new Agent({ rejectUnauthorized: false }) : undefined;
  // What each request carries, so an answer that echoes it (an error body quoting the
  // Authorization header, say) never reaches a message. Credentials the signer fetched (from STS,
  // say) join as they are used.
  const secrets = new Set([
    ...credentialSecrets(credentials),
    ...Object.values(provider.headers ?? {}).flat(),
    ...urlSecrets(address),
  ]);
  const scrub = (text: string) => redactor(secrets)(text);
  const sign = provider.sigv4
    ? sigv4Signer(provider.sigv4, awsCredentials(sigv4Source(provider, credentials)), (c) => {
        for (const value of [c.accessKeyId, c.secretAccessKey, c.sessionToken]) if (value) secrets.add(value);
      })
    : undefined;

  const driver = async (promql: string, timeoutMs: number, signal: AbortSignal | undefined) =>
    new (await prometheusQuery()).PrometheusDriver({
      ...connect,
      timeout: timeoutMs,
      preferPost: promql.length > MAX_GET_QUERY_LENGTH,
      requestInterceptor: {
        onFulfilled: async (config) => {
          withRequestOptions(config, agent, signal);
          return sign ? signed(config, sign) : config;
        },
      },
    });

  async function query(promql: string, options: QueryOptions): Promise<QueryResult> {
    const result = await call(where, scrub, async () =>
      (await driver(promql, options.timeoutMs, options.signal)).instantQuery(
        promql,
        options.now,
        evaluationTimeout(options.timeoutMs),
      ),
    );
    return interpret(result, where);
  }

  /** query_range: Prometheus evaluates the instant query at every step, as the controller would have. */
  async function queryRange(promql: string, options: RangeOptions): Promise<RangeResult> {
    const result = await call(where, scrub, async () =>
      (await driver(promql, options.timeoutMs, options.signal)).rangeQuery(
        promql,
        options.start,
        options.end,
        options.stepMs / 1000,
        evaluationTimeout(options.timeoutMs),
      ),
    );
    return interpretMatrix(result, where);
  }

  return {
    query,
    queryRange,
    async isOnline(timeoutMs: number, signal?: AbortSignal): Promise<void> {
      const result = await query(ONLINE_QUERY, {
        intervalMs: 0,
        timeoutMs,
        now: new Date(),
        ...(signal ? { signal } : {}),
      });
      if (result.kind !== "value" || result.value !== 1) {
        throw new Error(`${where} answered ${ONLINE_QUERY} with ${describe(result)} instead of 1`);
      }
    },
  };
}

/**
 * prometheus-query and axios, loaded on the first query: a controller whose Canaries use no
 * Prometheus check never holds them (about 10 MiB of code and heap).
 */
const prometheusQuery = lazy(() => import("prometheus-query"));

/** Prometheus also stops evaluating after this long, so a slow query does not linger there. */
function evaluationTimeout(timeoutMs: number): string {
  return `${Math.max(1, Math.ceil(timeoutMs / 1000))}s`;
}

type Connection = ConstructorParameters<typeof PrometheusDriver>[0];
type RequestConfig = Parameters<NonNullable<Connection["requestInterceptor"]>["onFulfilled"]>[0];
/** axios's response type, as prometheus-query's interceptors see it (axios is its dependency, not ours). */
type AxiosResponse = Parameters<NonNullable<Connection["responseInterceptor"]>["onFulfilled"]>[0];

/** With sigv4, secretRef holds AWS keys (else the SDK's default chain): the base for an optional role. */
function sigv4Source(provider: ProviderSpec, credentials: Credentials) {
  return {
    roleArn: provider.sigv4?.roleArn,
    region: provider.sigv4?.region,
    keys: provider.secretRef ? staticCredentials(provider.secretRef.name, credentials) : undefined,
  };
}

/**
 * Signs the request prometheus-query built: the query string and the form body are fixed here, in
 * the encoding they were signed in, so axios sends exactly the signed bytes.
 */
async function signed(config: RequestConfig, sign: Signer): Promise<RequestConfig> {
  const url = new URL(config.url ?? "", config.baseURL);
  for (const [key, value] of (config.params as URLSearchParams | undefined) ?? []) {
    url.searchParams.append(key, value);
  }
  const method = (config.method ?? "GET").toUpperCase();
  const body = method === "POST" ? String(config.data ?? "") : undefined;
  const request = await sign({
    method,
    url,
    headers: body !== undefined ? { "content-type": FORM } : {},
    body,
  });
  config.url = request.url;
  config.baseURL = undefined;
  config.params = undefined;
  config.data = body;
  for (const [name, value] of Object.entries(request.headers)) config.headers.set(name, value);
  return config;
}

/** Headers, bearer token or basic auth: the parts that do not change per query. */
function connection(address: string, provider: ProviderSpec, credentials: Credentials): Connection {
  // Flagger's form lists values per name; one comma-separated line means the same (RFC 9110, 5.3).
  const headers: Record<string, string> = Object.fromEntries(
    Object.entries(provider.headers ?? {}).map(([name, values]) => [name, values.join(", ")]),
  );
  let auth: Connection["auth"];
  // With sigv4 the secret holds AWS keys, which sign the request instead.
  if (provider.secretRef && !provider.sigv4) {
    // Same precedence as Flagger: a token wins over username/password. The secret's credentials
    // replace an Authorization header given in spec.provider.headers.
    if (credentials.token) headers.Authorization = `Bearer ${credentials.token}`;
    else if (credentials.username && credentials.password) {
      auth = { username: credentials.username, password: credentials.password };
    } else {
      throw new Error(
        `the secret ${provider.secretRef.name} has neither a "token" key nor both "username" and "password" keys`,
      );
    }
  }
  return {
    endpoint: address,
    baseURL: "/api/v1/",
    headers,
    ...(auth ? { auth } : {}),
    responseInterceptor: {
      onFulfilled: (response) => checkBody(response),
      onRejected: (error: { response?: AxiosResponse }) => {
        if (error.response) checkBody(error.response);
        throw error;
      },
    },
  };
}

/**
 * prometheus-query has no TLS or cancellation options; its axios request config takes both: an
 * https agent, and the signal that aborts the request when the caller gives up on it.
 */
function withRequestOptions(config: RequestConfig, agent?: Agent, signal?: AbortSignal): RequestConfig {
  if (agent) Object.assign(config, { httpsAgent: agent });
  if (signal) config.signal = signal;
  return config;
}

/**
 * A body that is not Prometheus API JSON (an HTML page from a proxy or login wall, say) is
 * reported with its HTTP status and an excerpt. prometheus-query itself loses both: it reports
 * such answers as "unexpected network error".
 */
class UnexpectedAnswer extends Error {}

function checkBody(response: AxiosResponse): AxiosResponse {
  const body: unknown = response.data;
  if (
    typeof body !== "object" ||
    body === null ||
    typeof (body as { status?: unknown }).status !== "string"
  ) {
    const aws = awsMessage(body);
    throw new UnexpectedAnswer(
      aws
        ? `HTTP ${response.status}: ${aws}`
        : `HTTP ${response.status}: the answer is not a Prometheus API response: ${excerpt(body)}`,
    );
  }
  return response;
}

/**
 * AWS's own error, as Amazon Managed Service for Prometheus answers a refused signature or token:
 * `{"message": "..."}`. Its first sentence names the cause; what follows a signature mismatch (the
 * canonical request and string to sign) is left out.
 */
function awsMessage(body: unknown): string | undefined {
  const message = (body as { message?: unknown } | null)?.message;
  if (typeof message !== "string" || message.trim() === "") return undefined;
  const first = message.trim().split(/\.\s|\n/)[0] ?? "";
  return first.replace(/\.$/, "");
}

/**
 * Turns what prometheus-query rejects with (plain objects, not Errors) into an Error that says what
 * happened, without what the request carried.
 */
async function call<T>(where: string, scrub: (text: string) => string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new Error(scrub(`${where}: ${describeFailure(err)}`));
  }
}

interface DriverFailure {
  original?: unknown;
  errorType?: string;
  error?: string;
  httpStatus?: number;
  code?: string;
  prometheus?: { errorType?: string; error?: string };
}

function describeFailure(err: unknown): string {
  if (err instanceof Error) return `malformed answer: ${err.message}`;
  const f = (typeof err === "object" && err !== null ? err : {}) as DriverFailure;
  if (f.original instanceof UnexpectedAnswer) return f.original.message;
  switch (f.errorType) {
    case "timeout_error":
      return `no answer in time (${f.error ?? "timeout"})`;
    case "http_error": {
      const kind = f.prometheus?.errorType ? ` (${f.prometheus.errorType})` : "";
      return `HTTP ${f.httpStatus ?? "error"}${kind}: ${f.error ?? "no error message"}`;
    }
    default:
      return `request failed: ${f.error ?? f.code ?? String(err)}`;
  }
}

function interpret(result: PromResult | undefined, where: string): QueryResult {
  switch (result?.resultType) {
    case "vector":
      return fromVector(result.result as InstantVector[], where);
    case "scalar":
      return fromSample(result.result as unknown, where);
    case "matrix":
      return {
        kind: "nodata",
        reason:
          "the query returned a range vector (matrix), not an instant value: aggregate it over time, e.g. rate(x[1m])",
      };
    default:
      throw new Error(
        `${where}: the query returned a ${result?.resultType ?? "missing"} result, not a number`,
      );
  }
}

/** One series over time; NaN and +-Inf steps are left out (no data at that time), as is a missing series. */
function interpretMatrix(result: PromResult | undefined, where: string): RangeResult {
  if (result?.resultType !== "matrix") {
    throw new Error(
      `${where}: the range query returned a ${result?.resultType ?? "missing"} result, not a matrix`,
    );
  }
  const series = result.result as RangeVector[];
  if (!Array.isArray(series)) throw new Error(`${where}: malformed answer: the matrix has no result list`);
  if (series.length > 1) {
    throw tooManySeries(where, series.length);
  }
  const values = (series[0]?.values ?? []) as { time: Date; value: number }[];
  const samples: Sample[] = values
    .filter((v) => Number.isFinite(v.value))
    .map((v) => ({ time: v.time, value: v.value }));
  return { samples };
}

function tooManySeries(where: string, count: number): Error {
  return new Error(
    `${where}: the query returned ${count} series, but a check needs exactly one value: aggregate it, e.g. sum(...) or max(...)`,
  );
}

function fromVector(series: InstantVector[], where: string): QueryResult {
  if (!Array.isArray(series)) throw new Error(`${where}: malformed answer: the vector has no result list`);
  if (series.length === 0) {
    return { kind: "nodata", reason: "the query returned an empty vector (no series matched in the window)" };
  }
  if (series.length > 1) {
    throw tooManySeries(where, series.length);
  }
  const value = series[0]?.value?.value;
  if (typeof value !== "number") throw new Error(`${where}: malformed answer: the series has no value`);
  return finite(value);
}

/** A scalar is `[time, "value"]`; prometheus-query passes it through unparsed. */
function fromSample(sample: unknown, where: string): QueryResult {
  if (!Array.isArray(sample) || typeof sample[1] !== "string") {
    throw new Error(`${where}: malformed answer: the scalar is not [time, "value"]`);
  }
  return finite(Number(sample[1]));
}

/**
 * NaN and +-Inf (prometheus-query parses "+Inf" as NaN too) typically come from 0/0 or x/0: no
 * requests in the window. They are "no data", never a number to compare.
 */
function finite(value: number): QueryResult {
  if (Number.isFinite(value)) return { kind: "value", value };
  return {
    kind: "nodata",
    reason: "the query returned NaN or ±Inf (e.g. a division by zero when there was no traffic)",
  };
}

function describe(result: QueryResult): string {
  return result.kind === "value" ? String(result.value) : `no data (${result.reason})`;
}

function excerpt(data: unknown): string {
  const text = typeof data === "string" ? data : (JSON.stringify(data) ?? "empty body");
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > 120 ? `${oneLine.slice(0, 120)}...` : oneLine || "empty body";
}
