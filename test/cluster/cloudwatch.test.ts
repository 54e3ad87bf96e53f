// moto (the CloudWatch fake) accepts PutMetricData and answers GetMetricData from the AWS SDK v3.
//
// Protocol: CloudWatch speaks awsQuery, awsJson1_0 and Smithy RPC v2 CBOR. @aws-sdk/client-cloudwatch
// picks its default protocol itself (awsJson1_0 in 3.1164); moto does not speak CBOR, so the protocol is
// set explicitly here rather than left to whatever a future SDK release defaults to. moto 5.2 accepts
// both awsJson1_0 and awsQuery; both are checked.
import { randomBytes } from "node:crypto";
import { CloudWatchClient, GetMetricDataCommand, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { AwsJson1_0Protocol, AwsQueryProtocol } from "@aws-sdk/core/protocols";
import { describe, expect, inject, it } from "vitest";
import { waitFor } from "../support/k8s.ts";

const endpoint = inject("cloudwatchEndpoint");

function total(results: { Id?: string; Values?: number[] }[], id: string): number {
  return (results.find((r) => r.Id === id)?.Values ?? []).reduce((a, b) => a + b, 0);
}

// Protocol classes: the client instantiates them with its own CloudWatch protocol settings.
const protocols = { awsJson1_0: AwsJson1_0Protocol, awsQuery: AwsQueryProtocol };

describe.skipIf(!endpoint)("cloudwatch (moto)", () => {
  it.each(Object.keys(protocols) as (keyof typeof protocols)[])(
    "accepts PutMetricData and returns it from GetMetricData (%s)",
    async (protocol) => {
      const client = new CloudWatchClient({
        endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
        protocol: protocols[protocol],
      });
      const id = randomBytes(4).toString("hex");
      const namespace = `Kanaria/ClusterTest/${id}`;
      // Unique dimension value too: moto 5.2's GetMetricData ignores the Namespace when a query has
      // Dimensions, so datapoints of another test with the same name and dimensions would count.
      const dimensions = [{ Name: "Service", Value: `web-${id}` }];
      const now = new Date();
      await client.send(
        new PutMetricDataCommand({
          Namespace: namespace,
          MetricData: [
            {
              MetricName: "Latency",
              Dimensions: dimensions,
              Timestamp: now,
              Value: 120,
              Unit: "Milliseconds",
            },
            {
              MetricName: "Latency",
              Dimensions: dimensions,
              Timestamp: now,
              Value: 80,
              Unit: "Milliseconds",
            },
          ],
        }),
      );
      const query = (id: string, stat: string) => ({
        Id: id,
        MetricStat: {
          Metric: { Namespace: namespace, MetricName: "Latency", Dimensions: dimensions },
          Period: 60,
          Stat: stat,
        },
      });
      const results = await waitFor(
        async () => {
          const out = await client.send(
            new GetMetricDataCommand({
              StartTime: new Date(now.getTime() - 5 * 60_000),
              EndTime: new Date(now.getTime() + 60_000),
              MetricDataQueries: [query("sum", "Sum"), query("count", "SampleCount")],
            }),
          );
          return out.MetricDataResults ?? [];
        },
        {
          description: "GetMetricData to return both datapoints",
          until: (r) => total(r, "count") === 2,
        },
      );
      // Summed over the returned periods: independent of how the fake aligns its periods.
      expect(total(results, "sum"), JSON.stringify(results)).toBe(200);
    },
  );
});
