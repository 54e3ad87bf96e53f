// Pushes the simulated figures to a CloudWatch endpoint (moto in tests) with PutMetricData.
//
// Protocol: CloudWatch speaks awsQuery, awsJson1_0 and Smithy RPC v2 CBOR, and recent SDK releases
// pick the newer ones by default (3.1164 defaults to awsJson1_0). moto does not speak CBOR, so the
// client is pinned to awsQuery, the protocol every moto release (and real CloudWatch) accepts,
// instead of following whatever a future SDK release defaults to.
import {
  CloudWatchClient,
  type MetricDatum,
  PutMetricDataCommand,
  StandardUnit,
} from "@aws-sdk/client-cloudwatch";
import { AwsQueryProtocol } from "@aws-sdk/core/protocols";
import type { WindowFigures } from "./simulation.ts";
import type { Variant } from "./traffic.ts";

export interface CloudWatchOptions {
  endpoint: string;
  /** Default "Kanaria/Simulator". */
  namespace?: string;
  /** Default "us-east-1". */
  region?: string;
}

export interface MetricIdentity {
  /** Kubernetes namespace of the target (the Namespace dimension). */
  namespace: string;
  target: string;
}

export const DEFAULT_CLOUDWATCH_NAMESPACE = "Kanaria/Simulator";

export function cloudWatchClient(options: CloudWatchOptions): CloudWatchClient {
  return new CloudWatchClient({
    endpoint: options.endpoint,
    region: options.region ?? "us-east-1",
    // moto accepts any credentials; real ones must never be needed by a test tool.
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    protocol: new AwsQueryProtocol({
      defaultNamespace: "com.amazonaws.cloudwatch",
      xmlNamespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
      version: "2010-08-01",
    }),
  });
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/**
 * RequestCount, ErrorCount and LatencyP99 of one window, per variant. A variant without requests in the
 * window gets no datapoints, as real request metrics (ALB, API Gateway) publish nothing without traffic.
 */
export function metricData(
  id: MetricIdentity,
  window: Record<Variant, WindowFigures>,
  timestamp: Date,
): MetricDatum[] {
  const data: MetricDatum[] = [];
  for (const variant of Object.keys(window) as Variant[]) {
    const figures = window[variant];
    if (figures.requests === 0) continue;
    const Dimensions = [
      { Name: "Namespace", Value: id.namespace },
      { Name: "Target", Value: id.target },
      { Name: "Variant", Value: variant },
    ];
    const datum = (MetricName: string, Value: number, Unit: StandardUnit): MetricDatum => ({
      MetricName,
      Dimensions,
      Timestamp: timestamp,
      Value,
      Unit,
    });
    data.push(
      datum("RequestCount", figures.requests, StandardUnit.Count),
      datum("ErrorCount", figures.errors, StandardUnit.Count),
      datum("LatencyP99", percentile(figures.latenciesMs, 99), StandardUnit.Milliseconds),
    );
  }
  return data;
}

export async function putWindow(
  client: CloudWatchClient,
  namespace: string,
  data: MetricDatum[],
): Promise<void> {
  if (data.length === 0) return;
  await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data }));
}
