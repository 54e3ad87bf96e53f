import type { GetMetricDataCommandInput } from "@aws-sdk/client-cloudwatch";
import { describe, expect, it } from "vitest";
import { type CloudWatchApi, cloudWatchProvider } from "./cloudwatch.ts";

const query = JSON.stringify([
  {
    Id: "p99",
    MetricStat: {
      Metric: { Namespace: "App", MetricName: "Latency", Dimensions: [{ Name: "Service", Value: "web" }] },
      Period: 60,
      Stat: "p99",
    },
  },
]);

const T0 = Date.parse("2026-03-01T12:00:00Z");
const minute = (n: number) => new Date(T0 + n * 60_000);

/** Datapoints at 12:00, 12:01, ... (newest first, as CloudWatch sorts them), with a gap at 12:03. */
function api(calls: GetMetricDataCommandInput[]): CloudWatchApi {
  const times = [0, 1, 2, 4, 5].map(minute).reverse();
  return {
    async getMetricData(input) {
      calls.push(input);
      return {
        MetricDataResults: [
          { Id: "p99", Timestamps: times, Values: times.map((t) => (t.getTime() - T0) / 60_000 + 10) },
        ],
        $metadata: {},
      };
    },
    async listMetrics() {},
  };
}

describe("cloudwatch queryRange", () => {
  it("reads the range once and gives each step the reduced datapoints of [t - interval, t)", async () => {
    const calls: GetMetricDataCommandInput[] = [];
    const provider = cloudWatchProvider(api(calls), "avg", "CloudWatch");
    const { samples } = await provider.queryRange(query, {
      start: minute(1),
      end: minute(6),
      stepMs: 60_000,
      intervalMs: 120_000,
      timeoutMs: 5_000,
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ StartTime: minute(-1), EndTime: minute(6) });
    expect(samples).toEqual([
      { time: minute(1), value: 10 }, // [11:59, 12:01): 12:00
      { time: minute(2), value: 10.5 }, // 12:00, 12:01
      { time: minute(3), value: 11.5 }, // 12:01, 12:02
      { time: minute(4), value: 12 }, // 12:02 (12:03 is missing)
      { time: minute(5), value: 14 }, // 12:04
      { time: minute(6), value: 14.5 }, // 12:04, 12:05
    ]);
  });

  it("leaves out steps whose window has no datapoints: no data there, never a number", async () => {
    const provider = cloudWatchProvider(api([]), "latest", "CloudWatch");
    const { samples } = await provider.queryRange(query, {
      start: minute(1),
      end: minute(5),
      stepMs: 60_000,
      intervalMs: 60_000,
      timeoutMs: 5_000,
    });
    expect(samples.map((s) => s.time)).toEqual([minute(1), minute(2), minute(3), minute(5)]);
    expect(samples.map((s) => s.value)).toEqual([10, 11, 12, 14]);
  });
});
