// The simulated requests in the metric formats of the real data planes, as Prometheus scrapes them:
//
// ingress-nginx (internal/ingress/metric/collectors/socket.go, rootfs/etc/nginx/lua/monitor.lua):
//   nginx_ingress_controller_requests and nginx_ingress_controller_request_duration_seconds
//   {status, method, path, namespace, ingress, service, canary, host} plus the const labels
//   controller_namespace/controller_class/controller_pod; `host` is there because --metrics-per-host
//   defaults to true. ingress-nginx merges a canary Ingress into the main Ingress' locations, so
//   canary requests are labelled ingress="<main ingress>", service="<main service>" and
//   canary="<namespace>-<canary service>-<port>" (the alternative upstream); primary ones canary="".
//   Duration buckets: --time-buckets, default prometheus.DefBuckets.
// Envoy (App Mesh sidecars; Prometheus relabelling adds the kubernetes_* and app labels):
//   envoy_cluster_upstream_rq{envoy_cluster_name, envoy_response_code, kubernetes_namespace,
//   kubernetes_pod_name, app} and envoy_cluster_upstream_rq_time (milliseconds, Envoy's default
//   histogram buckets) without the response code. Not behind a Gateway API router (`envoy: false`):
//   the Gateways played there (Envoy Gateway in the demo, the Istio gateway of Flagger's e2e) run no
//   sidecars in the pods, so a gatewayapi suite cannot pass on series such a data plane lacks.
// The application (podinfo; the built-in kubernetes and gatewayapi checks as Flagger's HttpObserver
//   reads them, and Flagger's nginx latency template): every
//   request it served in http_request_duration_seconds{method, path, status} (client_golang's default
//   buckets; podinfo labels "/" path="root", the value Flagger's nginx e2e template asks for), with the
//   kubernetes_namespace/kubernetes_pod_name labels that the kubernetes-pods scrape relabelling adds.
// Istio (the gateway in Flagger's gatewayapi e2e, reporter="source"): istio_requests_total and
//   istio_request_duration_milliseconds{destination_workload, destination_workload_namespace,
//   response_code}, the workload being the Deployment (or DaemonSet) that served the request.
import { Counter, Histogram, Registry } from "prom-client";
import type { NginxLabels, Pod } from "./cluster-state.ts";
import type { RequestOutcome } from "./traffic.ts";

/** prometheus.DefBuckets (client_golang), seconds. */
export const NGINX_TIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Envoy's HistogramSettingsImpl::defaultBuckets, milliseconds. */
export const ENVOY_TIME_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

const NGINX_CONST_LABELS = {
  controller_namespace: "ingress-nginx",
  controller_class: "k8s.io/ingress-nginx",
  controller_pod: "ingress-nginx-controller-simulator",
};
const NGINX_LABELS = ["status", "method", "path", "namespace", "ingress", "service", "canary", "host"];
const ENVOY_LABELS = ["envoy_cluster_name", "kubernetes_namespace", "kubernetes_pod_name", "app"];
const APP_LABELS = ["method", "path", "status", "kubernetes_namespace", "kubernetes_pod_name"];
const ISTIO_LABELS = ["reporter", "destination_workload", "destination_workload_namespace", "response_code"];

export class Exposition {
  readonly registry = new Registry();
  readonly #namespace: string;
  readonly #nginxRequests: Counter;
  readonly #nginxDuration: Histogram;
  readonly #envoyRequests: Counter;
  readonly #envoyTime: Histogram;
  readonly #appDuration: Histogram;
  readonly #istioRequests: Counter;
  readonly #istioDuration: Histogram;
  readonly #envoy: boolean;

  /** `envoy`: write the Envoy sidecar series (default true; false behind a Gateway API router). */
  constructor(namespace: string, options: { envoy?: boolean } = {}) {
    this.#namespace = namespace;
    this.#envoy = options.envoy ?? true;
    const registers = [this.registry];
    this.#nginxRequests = new Counter({
      name: "nginx_ingress_controller_requests",
      help: "The total number of client requests",
      labelNames: [...Object.keys(NGINX_CONST_LABELS), ...NGINX_LABELS],
      registers,
    });
    this.#nginxDuration = new Histogram({
      name: "nginx_ingress_controller_request_duration_seconds",
      help: "The request processing time in milliseconds",
      labelNames: [...Object.keys(NGINX_CONST_LABELS), ...NGINX_LABELS],
      buckets: NGINX_TIME_BUCKETS,
      registers,
    });
    this.#envoyRequests = new Counter({
      name: "envoy_cluster_upstream_rq",
      help: "Total upstream requests by response code",
      labelNames: [...ENVOY_LABELS, "envoy_response_code"],
      registers,
    });
    this.#envoyTime = new Histogram({
      name: "envoy_cluster_upstream_rq_time",
      help: "Upstream request time in milliseconds",
      labelNames: ENVOY_LABELS,
      buckets: ENVOY_TIME_BUCKETS_MS,
      registers,
    });
    this.#appDuration = new Histogram({
      name: "http_request_duration_seconds",
      help: "Seconds spent serving HTTP requests.",
      labelNames: APP_LABELS,
      buckets: NGINX_TIME_BUCKETS,
      registers,
    });
    this.#istioRequests = new Counter({
      name: "istio_requests_total",
      help: "Requests seen by the Istio gateway",
      labelNames: ISTIO_LABELS,
      registers,
    });
    this.#istioDuration = new Histogram({
      name: "istio_request_duration_milliseconds",
      help: "Request durations seen by the Istio gateway",
      labelNames: ISTIO_LABELS,
      // Istio's proxies use Envoy's default histogram buckets.
      buckets: ENVOY_TIME_BUCKETS_MS,
      registers,
    });
  }

  /** Records one request; the nginx series only when the router in front is ingress-nginx. */
  record(outcome: RequestOutcome, nginx: NginxLabels | undefined): void {
    if (nginx) {
      const labels = {
        ...NGINX_CONST_LABELS,
        status: String(outcome.status),
        method: "GET",
        path: nginx.path,
        namespace: this.#namespace,
        ingress: nginx.ingress,
        service: nginx.service,
        canary: outcome.variant === "canary" ? nginx.canaryUpstream : "",
        host: nginx.host,
      };
      this.#nginxRequests.inc(labels);
      this.#nginxDuration.observe(labels, outcome.latencyMs / 1000);
    }
    if (this.#envoy) {
      const envoy = this.#envoyLabels(outcome.pod);
      this.#envoyRequests.inc({ ...envoy, envoy_response_code: String(outcome.status) });
      this.#envoyTime.observe(envoy, outcome.latencyMs);
    }
    const status = String(outcome.status);
    this.#appDuration.observe(
      {
        method: "GET",
        path: "root",
        status,
        kubernetes_namespace: this.#namespace,
        kubernetes_pod_name: outcome.pod.name,
      },
      outcome.latencyMs / 1000,
    );
    const istio = {
      reporter: "source",
      destination_workload: outcome.pod.deployment,
      destination_workload_namespace: this.#namespace,
      response_code: status,
    };
    this.#istioRequests.inc(istio);
    this.#istioDuration.observe(istio, outcome.latencyMs);
  }

  /**
   * App Mesh names the inbound cluster of a virtual node "cds_ingress_<mesh>_<virtual node>_<protocol>_<port>";
   * the simulator has no mesh, so the namespace and Deployment stand in for mesh and virtual node.
   */
  #envoyLabels(pod: Pod): Record<string, string> {
    return {
      envoy_cluster_name: `cds_ingress_${this.#namespace}_${pod.deployment}_http_${pod.port}`,
      kubernetes_namespace: this.#namespace,
      kubernetes_pod_name: pod.name,
      app: pod.app,
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
