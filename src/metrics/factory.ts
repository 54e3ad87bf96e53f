import { METRIC_PROVIDER_TYPES, type MetricTemplateSpec } from "../api/metric-template.ts";
import type { Credentials, MetricProvider } from "./provider.ts";
import { createCloudWatchProvider, type Reducer } from "./providers/cloudwatch.ts";
import { createPrometheusProvider } from "./providers/prometheus.ts";

/**
 * Picks the provider implementation by spec.provider.type. `reduce` (the template's spec.reduce)
 * only matters for providers that return series (cloudwatch).
 */
export function createMetricProvider(
  provider: MetricTemplateSpec["provider"],
  credentials: Credentials,
  reduce?: Reducer,
): MetricProvider {
  // The schema restricts the type, but objects stored before a type was removed, or written
  // past validation, still reach the controller: name what was asked for.
  const type: string = provider.type;
  switch (type) {
    case "prometheus":
      return createPrometheusProvider(provider, credentials);
    case "cloudwatch":
      return createCloudWatchProvider(provider, credentials, reduce);
    default:
      throw new Error(
        `unknown metric provider type "${type}": supported are ${METRIC_PROVIDER_TYPES.join(", ")}`,
      );
  }
}
