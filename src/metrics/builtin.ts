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

/**
 * Share of non-5xx responses in percent; `selector` picks the canary's series, `status` the code label.
 * A canary that answered nothing but 5xx has no non-5xx series at all, so the numerator falls back to
 * 0 (`or on() vector(0)`): the check reads 0 %, not "no data" (Flagger's queries read no data there).
 * No requests at all still leave the denominator empty: no data.
 */
function successRate(metric: string, selector: string, status: string): string {
  return `(sum(rate(${metric}{${selector}, ${status}!~"5.*"}[{{ interval }}])) or on() vector(0))
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
 * kubernetes (blue/green without a router), and gatewayapi unless the implementation serving the route
 * is known (series.ts): the application's own HTTP histogram, as Flagger's HttpObserver reads it for
 * both providers: `http_request_duration_seconds` with a `status` label, the pod labels
 * `kubernetes_namespace` and `kubernetes_pod_name` added by the usual kubernetes-pods scrape
 * relabeling. The success rate uses the histogram's `_count` so both checks see the same requests.
 * Other label conventions need a MetricTemplate.
 */
const podSelector = `kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"${CANARY_POD}"`;
const kubernetes: BuiltinQueries = {
  "request-success-rate": successRate("http_request_duration_seconds_count", podSelector, "status"),
  "request-duration": p99("http_request_duration_seconds_bucket", podSelector, " * 1000"),
};

/**
 * Envoy sidecars in the canary pods (App Mesh): upstream requests and their times, already in
 * milliseconds. Like Flagger's App Mesh observer.
 */
const envoy: BuiltinQueries = {
  "request-success-rate": successRate("envoy_cluster_upstream_rq", podSelector, "envoy_response_code"),
  "request-duration": p99("envoy_cluster_upstream_rq_time_bucket", podSelector, ""),
};

/**
 * Traefik (v3), Gateway API provider: one `service` label per backendRef's load balancer, suffixed with
 * the provider (`@kubernetesgateway`). Traefik v3.6 to v3.7.5 name it `<namespace>-<Service>-http-<port>`;
 * from v3.7.6 it is `<route key>-svc-<namespace>-<Service>-<backend index>`, the route key being
 * `httproute-<route namespace>-<route name>-gw-...` (a name per route rule, gateway and entrypoint, so
 * `sum` adds up every rule and listener that sends requests to the backend). The selector accepts
 * both; it names the -canary (or -primary) Service whole, so another Service's series never match.
 */
function traefikGatewaySelector(backend: string): string {
  const old = `{{ namespace }}-${backend}-http-[0-9]+@kubernetesgateway`;
  const keyed = `httproute-.+-svc-{{ namespace }}-${backend}-[0-9]+@kubernetesgateway`;
  return `service=~"${old}|${keyed}"`;
}

/**
 * Traefik (v3.7), ingress-nginx provider: the primary Ingress's backend is
 * `<namespace>-<ingress>-<Service>-<port>` and the canary Ingress's backend (the `canary-*`
 * annotations) is served as that name plus `-canary`, both `@kubernetesingressnginx`. The port is
 * the Ingress's port number or name.
 */
const traefikIngressCanary =
  'service=~"{{ namespace }}-{{ ingress }}-{{ service }}-[0-9a-z-]+-canary@kubernetesingressnginx"';
const traefikIngressPrimary =
  'service=~"{{ namespace }}-{{ ingress }}-{{ service }}-[0-9a-z-]+@kubernetesingressnginx", service!~".+-canary@kubernetesingressnginx"';

/** Traefik's per-service counter and histogram (seconds); `code` is the response status. */
function traefik(selector: string): BuiltinQueries {
  return {
    "request-success-rate": successRate("traefik_service_requests_total", selector, "code"),
    "request-duration": p99("traefik_service_request_duration_seconds_bucket", selector, " * 1000"),
  };
}

/**
 * Istio's standard metrics as reported by the destination's proxy, by workload (the Deployment), as
 * Flagger's istio observer reads them; durations are already in milliseconds.
 */
const istioSelector =
  'reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}"';
const istio: BuiltinQueries = {
  "request-success-rate": successRate("istio_requests_total", istioSelector, "response_code"),
  "request-duration": p99("istio_request_duration_milliseconds_bucket", istioSelector, ""),
};

/**
 * Whose series the built-in queries read: the implementation that serves the route (series.ts picks
 * it from the GatewayClass or IngressClass), or the router's default.
 */
export const SERIES = [
  "ingress-nginx",
  "app",
  "envoy-sidecar",
  "traefik-gateway",
  "traefik-ingress-nginx",
  "istio",
] as const;
export type Series = (typeof SERIES)[number];

/** How messages name each implementation's series. */
export const SERIES_NAMES: Readonly<Record<Series, string>> = {
  "ingress-nginx": "ingress-nginx's series",
  app: "the application's own histogram (http_request_duration_seconds)",
  "envoy-sidecar": "Envoy sidecar series",
  "traefik-gateway": "Traefik's series",
  "traefik-ingress-nginx": "Traefik's series",
  istio: "Istio's series",
};

/** The canary's side of every implementation's queries; a new implementation adds its row here. */
export const SERIES_QUERIES: Readonly<Record<Series, BuiltinQueries>> = {
  "ingress-nginx": nginx,
  app: kubernetes,
  "envoy-sidecar": envoy,
  "traefik-gateway": traefik(traefikGatewaySelector("{{ service }}-canary")),
  "traefik-ingress-nginx": traefik(traefikIngressCanary),
  istio,
};

/**
 * The series each router reads when nothing tells which implementation serves its routes. gatewayapi
 * reads the application's histogram, as Flagger does for its gatewayapi providers (the HttpObserver of
 * its metrics observer factory): a Flagger Canary judges the same requests here. A known implementation
 * (series.ts) measures at the proxy instead.
 */
export const ROUTER_SERIES: Readonly<Record<ProviderName, Series>> = {
  kubernetes: "app",
  nginx: "ingress-nginx",
  gatewayapi: "app",
  appmesh: "envoy-sidecar",
};

/** Built-in queries per router, by its default series. */
export const BUILTIN_QUERIES: Readonly<Record<ProviderName, BuiltinQueries>> = {
  kubernetes: SERIES_QUERIES.app,
  nginx: SERIES_QUERIES["ingress-nginx"],
  gatewayapi: SERIES_QUERIES.app,
  appmesh: SERIES_QUERIES["envoy-sidecar"],
};

/** The primary's requests through ingress-nginx: those no canary backend served. */
const nginxPrimarySelector = 'namespace="{{ namespace }}", ingress="{{ ingress }}", canary=""';

/**
 * The primary's side of the built-in queries, for `compare` and `kanaria backtest`. Pod- and
 * workload-based queries select the primary with `{{ target }}` rendered as `<target>-primary` (its
 * pods are `<target>-primary-<hash>-<suffix>`); only series that do not carry the pod or workload
 * name need a query of their own here.
 */
const PRIMARY_QUERIES: Readonly<Partial<Record<Series, BuiltinQueries>>> = {
  "ingress-nginx": {
    "request-success-rate": successRate("nginx_ingress_controller_requests", nginxPrimarySelector, "status"),
    "request-duration": p99(
      "nginx_ingress_controller_request_duration_seconds_bucket",
      nginxPrimarySelector,
      " * 1000",
    ),
  },
  "traefik-gateway": traefik(traefikGatewaySelector("{{ service }}-primary")),
  "traefik-ingress-nginx": traefik(traefikIngressPrimary),
};

export function isBuiltinMetric(name: string): name is BuiltinMetric {
  return (BUILTIN_METRICS as readonly string[]).includes(name);
}

/**
 * The query template of a built-in metric for a router; undefined for other metric names. `side`
 * primary: the query that reads the primary's requests when `{{ target }}` is the primary. `series`:
 * the implementation serving the route, when known (series.ts); the router's default otherwise.
 * `targetKind` DaemonSet: pod names are matched as a DaemonSet's pods are named.
 */
export function builtinQuery(
  router: ProviderName,
  metric: string,
  side: "canary" | "primary" = "canary",
  series: Series = ROUTER_SERIES[router],
  targetKind = "Deployment",
): string | undefined {
  if (!isBuiltinMetric(metric)) return undefined;
  const queries = (side === "primary" ? PRIMARY_QUERIES[series] : undefined) ?? SERIES_QUERIES[series];
  const query = queries[metric];
  return targetKind === "DaemonSet" ? query.replaceAll(CANARY_POD, DAEMONSET_POD) : query;
}
