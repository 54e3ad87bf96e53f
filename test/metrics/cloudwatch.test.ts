// The cloudwatch provider and runChecks against moto, the CloudWatch fake the test cluster runs:
// PutMetricData, then GetMetricData through our provider with each reducer.
import { randomBytes } from "node:crypto";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { AwsQueryProtocol } from "@aws-sdk/core/protocols";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import type { MetricTemplate } from "../../src/api/metric-template.ts";
import { runChecks } from "../../src/metrics/analysis.ts";
import { createMetricProvider } from "../../src/metrics/factory.ts";
import { createCloudWatchProvider, type Reducer } from "../../src/metrics/providers/cloudwatch.ts";
import { waitFor } from "../support/k8s.ts";

const endpoint = inject("cloudwatchEndpoint");
const region = "us-east-1";
// moto accepts any keys; passing them through the secret path exercises static credentials.
const secret = { aws_access_key_id: "testing", aws_secret_access_key: "testing" };
const provider = { type: "cloudwatch" as const, address: endpoint, region, secretRef: { name: "aws" } };

const namespace = `Kanaria/MetricsTest/${randomBytes(4).toString("hex")}`;
const dimensions = [{ Name: "Service", Value: "web" }];

const stat = (id: string, metricName: string, returnData = true) => ({
  Id: id,
  MetricStat: {
    Metric: { Namespace: namespace, MetricName: metricName, Dimensions: dimensions },
    Period: 60,
    Stat: "Average",
  },
  ...(returnData ? {} : { ReturnData: false }),
});
const latencyQuery = JSON.stringify([stat("latency", "Latency")]);

const window = () => ({ intervalMs: 5 * 60_000, timeoutMs: 10_000, now: new Date() });

describe.skipIf(!endpoint)("cloudwatch provider against moto", () => {
  beforeAll(async () => {
    const client = new CloudWatchClient({
      endpoint,
      region,
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
      protocol: AwsQueryProtocol,
    });
    // One datapoint in the middle of each of three minutes, so each 60 s period holds one value
    // however the query window's periods are aligned: 10 (oldest), 30, 20 (latest).
    const now = Date.now();
    const points = [
      { minutesAgo: 3.5, value: 10 },
      { minutesAgo: 2.5, value: 30 },
      { minutesAgo: 1.5, value: 20 },
    ];
    await client.send(
      new PutMetricDataCommand({
        Namespace: namespace,
        MetricData: points.map((p) => ({
          MetricName: "Latency",
          Dimensions: dimensions,
          Timestamp: new Date(now - p.minutesAgo * 60_000),
          Value: p.value,
          Unit: "Milliseconds",
        })),
      }),
    );
    await waitFor(() => createCloudWatchProvider(provider, secret).query(latencyQuery, window()), {
      description: "moto to return the put datapoints",
      timeoutMs: 30_000,
      until: (r) => r.kind === "value",
    });
  });

  it.each([
    ["latest", 20],
    ["avg", 20],
    ["min", 10],
    ["max", 30],
    ["sum", 60],
  ] as [Reducer, number][])("reduces the window's datapoints with %s", async (reduce, expected) => {
    expect(await createCloudWatchProvider(provider, secret, reduce).query(latencyQuery, window())).toEqual({
      kind: "value",
      value: expected,
    });
  });

  it("reads the query that returns data when the others have ReturnData false", async () => {
    const query = JSON.stringify([stat("hidden", "Missing", false), stat("latency", "Latency")]);
    expect(await createCloudWatchProvider(provider, secret, "max").query(query, window())).toEqual({
      kind: "value",
      value: 30,
    });
  });

  it("reports a metric without datapoints as no data", async () => {
    const query = JSON.stringify([stat("missing", "Missing")]);
    expect(await createCloudWatchProvider(provider, secret).query(query, window())).toMatchObject({
      kind: "nodata",
      reason: expect.stringContaining('query "missing" returned no datapoints'),
    });
  });

  it("reports datapoints outside the window as no data", async () => {
    const early = { ...window(), now: new Date(Date.now() - 60 * 60_000) };
    expect((await createCloudWatchProvider(provider, secret).query(latencyQuery, early)).kind).toBe("nodata");
  });

  it("roleArn: assumes the role once with STS (moto) and queries with its temporary credentials", async () => {
    const role = `arn:aws:iam::123456789012:role/cloudwatch-${randomBytes(3).toString("hex")}`;
    process.env.AWS_ENDPOINT_URL_STS = endpoint;
    const assumed = createCloudWatchProvider({ ...provider, roleArn: role }, secret);
    expect(await assumed.query(latencyQuery, window())).toMatchObject({ kind: "value" });
    // A second provider for the same role (the controller makes one per check) shares the credentials.
    await createCloudWatchProvider({ ...provider, roleArn: role }, secret).isOnline(10_000);
    const state = (await (await fetch(`${endpoint}/moto-api/data.json`)).json()) as {
      sts?: { AssumedRole?: { role_arn: string; session_name: string }[] };
    };
    const sessions = (state.sts?.AssumedRole ?? []).filter((r) => r.role_arn === role);
    expect(sessions.map((r) => r.session_name)).toEqual(["kanaria"]);
  });

  it("is online", async () => {
    await expect(createCloudWatchProvider(provider, secret).isOnline(5_000)).resolves.toBeUndefined();
  });

  it("reports an unreachable endpoint", async () => {
    const gone = createCloudWatchProvider({ ...provider, address: "http://127.0.0.1:1" }, secret);
    await expect(gone.isOnline(5_000)).rejects.toThrow("CloudWatch at http://127.0.0.1:1");
  });

  it("judges a MetricTemplate through runChecks, with credentials from the secret", async () => {
    const canary: Pick<Canary, "metadata" | "spec"> = {
      metadata: { name: "web", namespace: "shop" },
      spec: {
        targetRef: { name: "web" },
        service: { port: 80 },
        analysis: {
          iterations: 3,
          metrics: [
            {
              name: "latency-max",
              templateRef: { name: "latency", namespace: "monitoring" },
              thresholdRange: { max: 25 },
              interval: "5m",
            },
            {
              name: "latency-bad-query",
              templateRef: { name: "broken", namespace: "monitoring" },
              interval: "5m",
            },
          ],
        },
      },
    };
    const templates: Record<string, MetricTemplate> = {
      latency: {
        apiVersion: "kanaria.dev/v1alpha1",
        kind: "MetricTemplate",
        metadata: { name: "latency", namespace: "monitoring" },
        spec: { provider, query: latencyQuery, reduce: "max" },
      },
      broken: {
        apiVersion: "kanaria.dev/v1alpha1",
        kind: "MetricTemplate",
        metadata: { name: "broken", namespace: "monitoring" },
        spec: { provider, query: "[{ not json" },
      },
    };
    const checks = await runChecks({
      canary,
      resolved: resolveCanary(canary.spec),
      providers: createMetricProvider,
      templates: async (_, name) => templates[name],
      secrets: async (ns, name) => (ns === "monitoring" && name === "aws" ? secret : undefined),
      now: () => new Date(),
    });
    expect(checks[0]).toMatchObject({
      result: "fail",
      value: 30,
      provider: "cloudwatch",
      message: "latency-max 30.00 is above the maximum 25 (cloudwatch)",
    });
    expect(checks[1]).toMatchObject({ result: "error", provider: "cloudwatch" });
    expect(checks[1]?.message).toMatch(
      /^latency-bad-query: MetricTemplate monitoring\/broken \(cloudwatch\): the query is not valid JSON/,
    );
  });
});
