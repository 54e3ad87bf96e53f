import type { Canary, CheckResult, CheckStatus } from "../api/canary.ts";
import { API_VERSION, parseDuration } from "../api/common.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import {
  type MetricTemplate,
  type MetricTemplateSpec,
  metricTemplate,
  type Sigv4Spec,
} from "../api/metric-template.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import { credentialSecrets, displayUrl, redact, urlSecrets } from "../security/redact.ts";
import { primaryName } from "../workloads/primary.ts";
import { builtinQuery, ROUTER_SERIES, SERIES_NAMES, type Series } from "./builtin.ts";
import type { ComparisonVerdict } from "./judge/compare-check.ts";
import type { Credentials, MetricProvider, QueryResult } from "./provider.ts";
import type { Reducer } from "./providers/cloudwatch.ts";
import { renderQuery, type TemplateModel, templateModel } from "./template.ts";

type ProviderSpec = MetricTemplateSpec["provider"];
type ResolvedMetric = ResolvedCanary["metrics"][number];

/** Builds the provider for one check; factory.ts's createMetricProvider in production. */
export type ProviderLookup = (
  provider: ProviderSpec,
  credentials: Credentials,
  reduce?: Reducer,
) => MetricProvider;
/** Returns undefined when the MetricTemplate does not exist. */
export type TemplateLookup = (namespace: string, name: string) => Promise<MetricTemplate | undefined>;
/** The Secret's data, decoded; undefined when the Secret does not exist. */
export type SecretLookup = (namespace: string, name: string) => Promise<Credentials | undefined>;

export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;
export const DEFAULT_CHECK_CONCURRENCY = 4;

export interface RunChecksInput {
  canary: Pick<Canary, "metadata" | "spec">;
  /** The router (picks the built-in queries) and the metrics with their defaults applied. */
  resolved: Pick<ResolvedCanary, "provider" | "metrics">;
  /**
   * Whose series the built-in queries read (series.ts: the implementation serving the route); the
   * router's default when unset.
   */
  series?: Series | undefined;
  /** The controller's Prometheus, used when neither the MetricTemplate nor the Canary names one. */
  defaultMetricsServer?: string;
  /** How to sign requests to the default metrics server (AMP), when it needs SigV4. */
  defaultMetricsSigv4?: Sigv4Spec | undefined;
  providers: ProviderLookup;
  templates: TemplateLookup;
  secrets: SecretLookup;
  now: () => Date;
  /** Per query; a check that takes longer is an error. Default 10 s. */
  timeoutMs?: number;
  /** Queries in flight at once. Default 4. */
  concurrency?: number;
}

/**
 * Runs every metric check of one analysis step. Never rejects: whatever goes wrong in a check
 * (missing template or secret, render error, provider error, timeout) becomes that check's
 * `error` result, and an error is never a pass. "nodata" is returned as such; the controller
 * applies the metric's onNoData.
 */
export async function runChecks(input: RunChecksInput): Promise<CheckStatus[]> {
  const limit = Math.max(1, input.concurrency ?? DEFAULT_CHECK_CONCURRENCY);
  return mapLimit(input.resolved.metrics, limit, (metric) => runCheck(input, metric));
}

/**
 * Asks each metric provider a Canary uses (once per endpoint and credentials) whether it answers, before
 * any traffic goes to the canary. Returns one line per problem, empty when all answer; a metric whose
 * template or secret cannot be read is a problem too, since it could not be judged either.
 */
export async function offlineProviders(input: RunChecksInput): Promise<string[]> {
  const timeoutMs = input.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const probes = new Map<string, Promise<string | undefined>>();
  const problems: (string | undefined)[] = [];
  for (const metric of input.resolved.metrics) {
    let plan: Plan;
    try {
      plan = await planCheck(input, metric);
    } catch (err) {
      problems.push(redact(`${metric.name}: ${messageOf(err)}`));
      continue;
    }
    // One probe per endpoint and way of calling it: the same address with other credentials or
    // headers can answer differently.
    const key = JSON.stringify([plan.provider, plan.namespace]);
    if (!probes.has(key)) probes.set(key, probe(input, plan, describeEndpoint(plan), timeoutMs));
  }
  problems.push(...(await Promise.all(probes.values())));
  return problems.filter((p): p is string => p !== undefined);
}

async function probe(
  input: RunChecksInput,
  plan: Plan,
  where: string,
  timeoutMs: number,
): Promise<string | undefined> {
  let credentials: Credentials = {};
  try {
    credentials = await loadCredentials(input, plan);
    const provider = input.providers(plan.provider, credentials, plan.reduce);
    await withTimeout((signal) => provider.isOnline(timeoutMs, signal), timeoutMs);
    return undefined;
  } catch (err) {
    return redact(`${where}: ${messageOf(err)}`, requestSecrets(plan, credentials));
  }
}

/** "prometheus at http://prom:9090 (secret shop/prom-auth)": never with the address's userinfo. */
function describeEndpoint(plan: Plan): string {
  const { type, address, region, secretRef } = plan.provider;
  const at = (address && displayUrl(address)) ?? region ?? "the default endpoint";
  return `${type} at ${at}${secretRef ? ` (secret ${plan.namespace}/${secretRef.name})` : ""}`;
}

/** What a check queries, and how to describe where the query came from in messages. */
export interface Plan {
  source: string;
  query: string;
  provider: ProviderSpec;
  reduce: Reducer | undefined;
  /** Namespace of the template's secretRef. */
  namespace: string;
  /** The query of the primary's side, for compare (built-ins differ per router; templates do not). */
  primaryQuery: string;
  /** Built-in queries of an implementation other than the router's default: whose ("Traefik's series"). */
  series?: string;
}

async function runCheck(input: RunChecksInput, metric: ResolvedMetric): Promise<CheckStatus> {
  const time = input.now();
  const base = {
    name: metric.name,
    ...(metric.thresholdRange ? { thresholdRange: metric.thresholdRange } : {}),
    time: time.toISOString(),
  };
  let plan: Plan | undefined;
  let credentials: Credentials = {};
  try {
    plan = await planCheck(input, metric);
    credentials = await loadCredentials(input, plan);
    const verdict = await judgeMetric(input, metric, plan, credentials, time);
    const series = plan.series ? { series: plan.series } : {};
    return redactCheck({ ...base, ...verdict, provider: plan.provider.type, ...series }, plan, credentials);
  } catch (err) {
    // Errors before a plan exists (template missing, unreadable) name the template themselves.
    const where = plan ? `${plan.source} (${providerLabel(plan)}): ` : "";
    const provider = plan
      ? { provider: plan.provider.type, ...(plan.series ? { series: plan.series } : {}) }
      : {};
    return redactCheck(
      { ...base, result: "error", message: `${metric.name}: ${where}${messageOf(err)}`, ...provider },
      plan,
      credentials,
    );
  }
}

/** The provider as messages name it, with whose series a built-in read when not the router's usual ones. */
function providerLabel(plan: Plan): string {
  return plan.series ? `${plan.provider.type}, ${plan.series}` : plan.provider.type;
}

/** thresholdRange on the instant value, compare against the primary, or both (the worse result counts). */
async function judgeMetric(
  input: RunChecksInput,
  metric: ResolvedMetric,
  plan: Plan,
  credentials: Credentials,
  now: Date,
): Promise<ComparisonVerdict> {
  const type = providerLabel(plan);
  const fixed =
    metric.compare && !metric.thresholdRange
      ? undefined
      : judge(metric, await runQuery(input, metric, plan, credentials, now), type, plan.source);
  if (!metric.compare) return fixed as Verdict;
  const model = templateModel(input.canary, metric);
  const primaryModel = { ...model, target: primaryName(input.canary.spec.targetRef.name) };
  // The judge and its statistics libraries load with the first comparison (most Canaries have none).
  const { compareWithPrimary, worseOf } = await import("./judge/compare-check.ts");
  const compared = await compareWithPrimary({
    name: metric.name,
    provider: input.providers(plan.provider, credentials, plan.reduce),
    type,
    source: plan.source,
    canaryQuery: render(plan.query, model),
    primaryQuery: render(plan.primaryQuery, primaryModel),
    compare: metric.compare,
    intervalMs: parseDuration(metric.interval),
    timeoutMs: input.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
    now,
  });
  return fixed ? worseOf(fixed, compared) : compared;
}

function render(query: string, model: TemplateModel): string {
  try {
    return renderQuery(query, model);
  } catch (err) {
    throw new Error(`rendering the query failed: ${messageOf(err)}`);
  }
}

async function runQuery(
  input: RunChecksInput,
  metric: ResolvedMetric,
  plan: Plan,
  credentials: Credentials,
  now: Date,
): Promise<QueryResult> {
  const provider = input.providers(plan.provider, credentials, plan.reduce);
  const rendered = render(plan.query, templateModel(input.canary, metric));
  const timeoutMs = input.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const options = { intervalMs: parseDuration(metric.interval), timeoutMs, now };
  // The providers time out themselves too; this bounds one that does not, and cancels its request.
  return withTimeout((signal) => provider.query(rendered, { ...options, signal }), timeoutMs);
}

/** Where a metric's query comes from and which provider answers it (also used by `kanaria backtest`). */
export async function planCheck(
  input: Pick<
    RunChecksInput,
    "canary" | "resolved" | "defaultMetricsServer" | "defaultMetricsSigv4" | "templates" | "series"
  >,
  metric: ResolvedMetric,
): Promise<Plan> {
  const canaryNamespace = input.canary.metadata.namespace ?? "default";
  const metricsServer = input.canary.spec.metricsServer ?? input.defaultMetricsServer;
  // The controller's signing settings belong to its own metrics server, not to a Canary's.
  const signsDefault = input.defaultMetricsSigv4 && !input.canary.spec.metricsServer;
  const sigv4 = signsDefault ? { sigv4: input.defaultMetricsSigv4 } : {};
  const prometheus = {
    type: "prometheus" as const,
    ...(metricsServer ? { address: metricsServer } : {}),
    ...sigv4,
  };
  if (metric.query !== undefined) {
    // Flagger's deprecated inline query: run as written against the Canary's (or the default) Prometheus.
    return {
      source: "the inline query (spec.analysis.metrics[].query)",
      query: metric.query,
      primaryQuery: metric.query,
      provider: prometheus,
      reduce: undefined,
      namespace: canaryNamespace,
    };
  }
  if (!metric.templateRef) {
    const router = input.resolved.provider;
    const kind = input.canary.spec.targetRef.kind;
    const series = input.series ?? ROUTER_SERIES[router];
    const query = builtinQuery(router, metric.name, "canary", series, kind);
    if (query === undefined) throw new Error("not a built-in metric and no templateRef is set");
    const other = series !== ROUTER_SERIES[router];
    return {
      source: `built-in query for ${router}`,
      query,
      primaryQuery: builtinQuery(router, metric.name, "primary", series, kind) ?? query,
      ...(other ? { series: SERIES_NAMES[series] } : {}),
      provider: prometheus,
      reduce: undefined,
      namespace: canaryNamespace,
    };
  }
  const namespace = metric.templateRef.namespace ?? canaryNamespace;
  const source = `MetricTemplate ${namespace}/${metric.templateRef.name}`;
  const template = await input.templates(namespace, metric.templateRef.name).catch((err: unknown) => {
    throw new Error(`reading ${source} failed: ${messageOf(err)}`);
  });
  if (!template) throw new Error(`${source} not found`);
  const spec = template.spec;
  // Prometheus falls back to the Canary's metricsServer, then the controller's, and then signs as
  // the controller signs for that server; a CloudWatch address is an endpoint override and has no
  // fallback.
  const fallback = spec.provider.type === "prometheus" && !spec.provider.address;
  const address = fallback ? metricsServer : spec.provider.address;
  return {
    source,
    query: spec.query,
    primaryQuery: spec.query,
    provider: {
      ...spec.provider,
      ...(address ? { address } : {}),
      ...(fallback && !spec.provider.sigv4 ? sigv4 : {}),
    },
    reduce: spec.reduce,
    namespace,
  };
}

export async function loadCredentials(
  input: Pick<RunChecksInput, "secrets">,
  plan: Plan,
): Promise<Credentials> {
  const ref = plan.provider.secretRef;
  if (!ref) return {};
  const secret = await input.secrets(plan.namespace, ref.name).catch((err: unknown) => {
    throw new Error(`reading the secret ${plan.namespace}/${ref.name} failed: ${messageOf(err)}`);
  });
  if (!secret)
    throw new Error(`the secret ${plan.namespace}/${ref.name} (spec.provider.secretRef) was not found`);
  return secret;
}

type Verdict = { result: CheckResult; message: string; value?: number };

/** Compares a value with thresholdRange (inclusive on both ends). */
export function judge(
  metric: Pick<ResolvedMetric, "name" | "thresholdRange">,
  result: QueryResult,
  provider: string,
  source: string,
): Verdict {
  if (result.kind === "nodata") {
    return {
      result: "nodata",
      message: `${metric.name}: no data from ${source} (${provider}): ${result.reason}`,
    };
  }
  const { value } = result;
  const shown = formatValue(value);
  const range = metric.thresholdRange;
  if (range?.min !== undefined && value < range.min) {
    return {
      result: "fail",
      value,
      message: `${metric.name} ${shown} is below the minimum ${range.min} (${provider})`,
    };
  }
  if (range?.max !== undefined && value > range.max) {
    return {
      result: "fail",
      value,
      message: `${metric.name} ${shown} is above the maximum ${range.max} (${provider})`,
    };
  }
  const bounds = [
    ...(range?.min !== undefined ? [`minimum ${range.min}`] : []),
    ...(range?.max !== undefined ? [`maximum ${range.max}`] : []),
  ];
  const within =
    bounds.length > 0
      ? `is within the range (${bounds.join(", ")})`
      : "has no thresholdRange to judge against";
  return { result: "pass", value, message: `${metric.name} ${shown} ${within} (${provider})` };
}

/** Two decimals, as in status messages ("87.50"). */
export function formatValue(value: number): string {
  return value.toFixed(2);
}

/** Rejects after timeoutMs and aborts the signal given to run, so the request itself stops too. */
async function withTimeout<T>(run: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`no answer within ${timeoutMs / 1000}s`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything a check's requests carry: the secret's values, the extra headers, the URL's userinfo. */
function requestSecrets(plan: Plan | undefined, credentials: Credentials): string[] {
  return [
    ...credentialSecrets(credentials),
    ...Object.values(plan?.provider.headers ?? {}).flat(),
    ...urlSecrets(plan?.provider.address),
  ];
}

/** Secret values must never reach status, events or logs, even if a backend echoes them. */
function redactCheck(check: CheckStatus, plan: Plan | undefined, credentials: Credentials): CheckStatus {
  return { ...check, message: redact(check.message, requestSecrets(plan, credentials)) };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Template and secret lookups over the Kubernetes API. */
/** A MetricTemplate as read from the cluster, checked against the schema. */
export function parseTemplate(object: KubeObject): MetricTemplate {
  const parsed = metricTemplate.safeParse(object);
  if (!parsed.success) {
    const { namespace, name } = object.metadata;
    throw new Error(`MetricTemplate ${namespace}/${name} is invalid: ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

export function kubeLookups(kube: KubeClient): { templates: TemplateLookup; secrets: SecretLookup } {
  return {
    async templates(namespace, name) {
      const object = await kube.get<KubeObject>({
        apiVersion: API_VERSION,
        kind: "MetricTemplate",
        namespace,
        name,
      });
      return object && parseTemplate(object);
    },
    async secrets(namespace, name) {
      const secret = await kube.get<KubeObject & { data?: Record<string, string> }>({
        apiVersion: "v1",
        kind: "Secret",
        namespace,
        name,
      });
      if (!secret) return undefined;
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
      );
    },
  };
}
