import { API_VERSION } from "../api/common.ts";
import type { MetricTemplate } from "../api/metric-template.ts";

/**
 * USE-method checks (saturation and errors of the canary's containers) as MetricTemplates that a
 * Canary references by templateRef; examples/metric-templates/use.yaml holds the same objects for
 * `kubectl apply`. They read cAdvisor (kubelet) and kube-state-metrics series, which carry
 * `namespace`, `pod` and `container` labels themselves, unlike application metrics whose pod
 * labels come from scrape relabeling. No address: the Canary's metricsServer or the controller's
 * default Prometheus answers.
 */

/** The canary's pods, `<target>-<replicaset hash>-<suffix>`; the primary's have one more segment. */
const CANARY_PODS = 'namespace="{{ namespace }}", pod=~"{{ target }}-[0-9a-zA-Z]+-[0-9a-zA-Z]+"';

function template(name: string, description: string, query: string): MetricTemplate {
  return {
    apiVersion: API_VERSION,
    kind: "MetricTemplate",
    metadata: { name, annotations: { "kanaria.dev/description": description } },
    spec: { provider: { type: "prometheus" }, query },
  };
}

export const cpuThrottling = template(
  "use-cpu-throttling",
  "Percent of CFS periods in which the canary's containers were throttled (saturation). No data without CPU limits. Suggested thresholdRange.max: 25.",
  `sum(increase(container_cpu_cfs_throttled_periods_total{${CANARY_PODS}, container!=""}[{{ interval }}]))
/
sum(increase(container_cpu_cfs_periods_total{${CANARY_PODS}, container!=""}[{{ interval }}]))
* 100`,
);

export const memoryUtilization = template(
  "use-memory-utilization",
  "Working set of the canary's fullest container in percent of its memory limit (saturation). Suggested thresholdRange.max: 90.",
  `max(
  sum by (pod, container) (container_memory_working_set_bytes{${CANARY_PODS}, container!=""})
  / on (pod, container)
  sum by (pod, container) (kube_pod_container_resource_limits{${CANARY_PODS}, resource="memory"})
) * 100`,
);

export const containerRestarts = template(
  "use-container-restarts",
  "Container restarts of the canary's pods in the metric interval (errors). Suggested thresholdRange.max: 0.",
  `sum(increase(kube_pod_container_status_restarts_total{${CANARY_PODS}}[{{ interval }}]))`,
);

export const USE_TEMPLATES: readonly MetricTemplate[] = [cpuThrottling, memoryUtilization, containerRestarts];
