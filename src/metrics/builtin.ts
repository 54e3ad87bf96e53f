import { BUILTIN_METRICS, type ProviderName } from "../api/canary.ts";

export type BuiltinMetric = (typeof BUILTIN_METRICS)[number];

/** PromQL of request-success-rate (percent of non-5xx responses) and request-duration (p99, ms). */
export type BuiltinQueries = Readonly<Record<BuiltinMetric, string>>;

/**
 * Canary pods only: `<target>-<replicaset hash>-<pod suffix>`. The primary's pods are
 * `<target>-primary-<hash>-<suffix>` and do not match, because the pattern allows exactly two
 * segments after the target name (Flagger uses the same pattern).
 */
const CANARY_POD = "{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)";
/**
 * A DaemonSet's pods are `<daemonset>-<suffix>`, one segment after its name. CANARY_POD misses them
 * and matches the primary's `<target>-primary-<suffix>` pods instead (so Flagger, which uses it for
 * every target, judges a DaemonSet's primary); this one matches the canary's pods alone.
 */
const DAEMONSET_POD = "{{ target }}-[0-9a-zA-Z]+";

/** Share of non-5xx responses in percent; `selector` picks the canary's series, `status` the code label. */
function successRate(metric: string, selector: string, status: string): string {
  return `sum(rate(${metric}{${selector}, ${status}!~"5.*"}[{{ interval }}]))
/
sum(rate(${metric}{${selector}}[{{ interval }}]))
* 100`;
}

function p99(bucket: string, selector: string, toMilliseconds: string): string {
  return `histogram_quantile(0.99, sum(rate(${bucket}{${selector}}[{{ interval }}])) by (le))${toMilliseconds}`;
}

/**
 * ingress-nginx labels every request with the Ingress that routed it (the main one: the
 * `<ingress>-canary` clone is merged into its locations) and sets `canary` to the canary
 * backend's name when the canary served it, so `canary!=""` selects the canary's requests.
 * Flagger's nginx observer reads the ingress as a whole and the deprecated upstream-latency
 * summary; kanaria judges the canary alone, with the request-duration histogram.
 */
const nginxSelector = 'namespace="{{ namespace }}", ingress="{{ ingress }}", canary!=""';
const nginx: BuiltinQueries = {
  "request-success-rate": successRate("nginx_ingress_controller_requests", nginxSelector, "status"),
  "request-duration": p99(
    "nginx_ingress_controller_request_duration_seconds_bucket",
    nginxSelector,
    " * 1000",
  ),
};

/**
 * kubernetes (blue/green without a router): the application's own HTTP histogram, as Flagger's
 * kubernetes observer reads it: `http_request_duration_seconds` with a `status` label, the pod
 * labels `kubernetes_namespace` and `kubernetes_pod_name` added by the usual kubernetes-pods
 * scrape relabeling. The success rate uses the histogram's `_count` so both checks see the same
 * requests. Other label conventions need a MetricTemplate.
 */
const podSelector = `kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"${CANARY_POD}"`;
const kubernetes: BuiltinQueries = {
  "request-success-rate": successRate("http_request_duration_seconds_count", podSelector, "status"),
  "request-duration": p99("http_request_duration_seconds_bucket", podSelector, " * 1000"),
};

/**
 * Envoy sidecars in the canary pods (App Mesh; Gateway API implementations whose data plane
 * runs as sidecars): upstream requests and their times, already in milliseconds. Like Flagger's
 * App Mesh observer. A Gateway whose Envoy runs outside the pods needs a MetricTemplate.
 */
const envoy: BuiltinQueries = {
  "request-success-rate": successRate("envoy_cluster_upstream_rq", podSelector, "envoy_response_code"),
  "request-duration": p99("envoy_cluster_upstream_rq_time_bucket", podSelector, ""),
};

/** Built-in queries per router; a new router adds its row here. */
export const BUILTIN_QUERIES: Readonly<Record<ProviderName, BuiltinQueries>> = {
  kubernetes,
  nginx,
  gatewayapi: envoy,
  appmesh: envoy,
};

/** The primary's requests through ingress-nginx: those no canary backend served. */
const nginxPrimarySelector = 'namespace="{{ namespace }}", ingress="{{ ingress }}", canary=""';

/**
 * The primary's side of the built-in queries, for `compare` and `kanaria backtest`. Pod-based
 * queries select the primary with `{{ target }}` rendered as `<target>-primary` (its pods are
 * `<target>-primary-<hash>-<suffix>`); only routers whose series do not carry the pod name need
 * a query of their own here.
 */
const PRIMARY_QUERIES: Readonly<Partial<Record<ProviderName, BuiltinQueries>>> = {
  nginx: {
    "request-success-rate": successRate("nginx_ingress_controller_requests", nginxPrimarySelector, "status"),
    "request-duration": p99(
      "nginx_ingress_controller_request_duration_seconds_bucket",
      nginxPrimarySelector,
      " * 1000",
    ),
  },
};

export function isBuiltinMetric(name: string): name is BuiltinMetric {
  return (BUILTIN_METRICS as readonly string[]).includes(name);
}

/**
 * The query template of a built-in metric for a router; undefined for other metric names. `side`
 * primary: the query that reads the primary's requests when `{{ target }}` is the primary.
 * `targetKind` DaemonSet: pod names are matched as a DaemonSet's pods are named.
 */
export function builtinQuery(
  router: ProviderName,
  metric: string,
  side: "canary" | "primary" = "canary",
  targetKind = "Deployment",
): string | undefined {
  if (!isBuiltinMetric(metric)) return undefined;
  const queries = (side === "primary" ? PRIMARY_QUERIES[router] : undefined) ?? BUILTIN_QUERIES[router];
  const query = queries[metric];
  return targetKind === "DaemonSet" ? query.replaceAll(CANARY_POD, DAEMONSET_POD) : query;
}
