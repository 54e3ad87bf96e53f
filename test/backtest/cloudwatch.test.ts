// `kanaria backtest` against moto (the CloudWatch fake of the test cluster): three hours of a
// latency metric under dimensions of its own, replayed through GetMetricData over the range.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { AwsQueryProtocol } from "@aws-sdk/core/protocols";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { stringify } from "yaml";
import { seeded } from "../helpers/series.ts";

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../..");
const endpoint = inject("cloudwatchEndpoint");
const region = "us-east-1";
const namespace = `Kanaria/BacktestTest/${randomBytes(4).toString("hex")}`;
const dimensions = [{ Name: "Service", Value: `web-primary-${randomBytes(3).toString("hex")}` }];

const MINUTE = 60_000;
// Three hours on whole minutes, ending ten minutes ago; datapoints in the middle of each minute.
const BASE = Math.floor((Date.now() - 190 * MINUTE) / MINUTE) * MINUTE;
const MINUTES = 180;
const OUTAGE = { from: BASE + 60 * MINUTE, to: BASE + 90 * MINUTE };

function manifests(): string {
  const query = JSON.stringify([
    {
      Id: "latency",
      MetricStat: {
        Metric: { Namespace: namespace, MetricName: "Latency", Dimensions: dimensions },
        Period: 60,
        Stat: "Average",
      },
    },
  ]);
  const docs = [
    {
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "Canary",
      metadata: { name: "web", namespace: "shop" },
      spec: {
        provider: "kubernetes",
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
        service: { port: 80 },
        analysis: {
          interval: "1m",
          threshold: 2,
          iterations: 5,
          metrics: [{ name: "latency", templateRef: { name: "latency" }, thresholdRange: { max: 300 } }],
        },
      },
    },
    {
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "MetricTemplate",
      metadata: { name: "latency", namespace: "shop" },
      spec: {
        provider: { type: "cloudwatch", address: endpoint, region, secretRef: { name: "aws" } },
        query,
        reduce: "avg",
      },
    },
    // moto accepts any keys; a Secret among the files is how backtest finds credentials offline.
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "aws", namespace: "shop" },
      stringData: { aws_access_key_id: "testing", aws_secret_access_key: "testing" },
    },
  ];
  return docs.map((d) => stringify(d)).join("---\n");
}

describe.skipIf(!endpoint)("kanaria backtest against CloudWatch (moto)", () => {
  let dir: string;
  let report: {
    metrics: {
      name: string;
      provider: string;
      windows: number;
      noData: number;
      failed: number;
      values: { p50: number; max: number };
      suggested: { max: number; setAside: { from: string; to: string; windows: number }[] };
      error?: string;
    }[];
  };

  beforeAll(async () => {
    const client = new CloudWatchClient({
      endpoint,
      region,
      credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
      protocol: AwsQueryProtocol,
    });
    const random = seeded(11);
    const points = Array.from({ length: MINUTES }, (_, i) => {
      const t = BASE + i * MINUTE + 30_000;
      const outage = t >= OUTAGE.from && t < OUTAGE.to;
      return { t, value: (outage ? 900 : 100) + (random() - 0.5) * 20 };
    });
    for (let i = 0; i < points.length; i += 20) {
      await client.send(
        new PutMetricDataCommand({
          Namespace: namespace,
          MetricData: points.slice(i, i + 20).map((p) => ({
            MetricName: "Latency",
            Dimensions: dimensions,
            Timestamp: new Date(p.t),
            Value: Number(p.value.toFixed(3)),
            Unit: "Milliseconds",
          })),
        }),
      );
    }
    dir = await mkdtemp(join(tmpdir(), "kanaria-backtest-cw-"));
    await writeFile(join(dir, "canary.yaml"), manifests());
    const { stdout } = await run(
      process.execPath,
      [
        join(repoRoot, "src/cli/main.ts"),
        "backtest",
        dir,
        "--from",
        new Date(BASE + MINUTE).toISOString(),
        "--to",
        new Date(BASE + MINUTES * MINUTE).toISOString(),
        "-o",
        "json",
      ],
      { timeout: 60_000 },
    );
    report = JSON.parse(stdout);
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("gives each window the datapoints an instant check at that time would have read", () => {
    const m = report.metrics[0];
    expect(m?.error).toBeUndefined();
    expect(m).toMatchObject({ name: "latency", provider: "cloudwatch", windows: MINUTES, noData: 0 });
    expect(m?.values.p50).toBeGreaterThan(95);
    expect(m?.values.p50).toBeLessThan(105);
    expect(m?.values.max).toBeGreaterThan(890);
    expect(m?.failed).toBe(30);
  });

  it("sets the outage aside and suggests a maximum from the healthy minutes", () => {
    const m = report.metrics[0];
    expect(m?.suggested.max).toBeGreaterThan(105);
    expect(m?.suggested.max).toBeLessThan(115);
    expect(m?.suggested.setAside).toEqual([
      {
        from: new Date(OUTAGE.from + MINUTE).toISOString(),
        to: new Date(OUTAGE.to).toISOString(),
        windows: 30,
      },
    ]);
  });
});
