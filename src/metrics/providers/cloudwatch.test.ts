import type { GetMetricDataCommandInput, GetMetricDataCommandOutput } from "@aws-sdk/client-cloudwatch";
import { describe, expect, it } from "vitest";
import type { QueryOptions } from "../provider.ts";
import { type CloudWatchApi, cloudWatchProvider, parseCloudWatchQuery, reduceSeries } from "./cloudwatch.ts";

const NOW = new Date("2026-03-01T12:00:00Z");
const options: QueryOptions = { intervalMs: 5 * 60_000, timeoutMs: 1_000, now: NOW };
const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000);

const latency = JSON.stringify([
  {
    Id: "latency",
    MetricStat: {
      Metric: { Namespace: "App", MetricName: "Latency", Dimensions: [{ Name: "Service", Value: "web" }] },
      Period: 60,
      Stat: "Average",
    },
  },
]);

/** Answers GetMetricData with the given pages in order and records the inputs. */
function fakeApi(
  pages: Partial<GetMetricDataCommandOutput>[],
  inputs: GetMetricDataCommandInput[] = [],
): CloudWatchApi {
  let page = 0;
  return {
    async getMetricData(input) {
      inputs.push(input);
      return { $metadata: {}, ...pages[page++] };
    },
    async listMetrics() {},
  };
}

const page = (id: string, timestamps: Date[], values: number[], nextToken?: string) => ({
  MetricDataResults: [
    {
      Id: id,
      Timestamps: timestamps,
      Values: values,
      StatusCode: nextToken ? ("PartialData" as const) : ("Complete" as const),
    },
  ],
  ...(nextToken ? { NextToken: nextToken } : {}),
});

describe("parseCloudWatchQuery", () => {
  it("accepts MetricStat and Expression queries", () => {
    const queries = parseCloudWatchQuery(
      JSON.stringify([
        {
          Id: "errors",
          MetricStat: { Metric: { Namespace: "A", MetricName: "E" }, Period: 60, Stat: "Sum" },
          ReturnData: false,
        },
        { Id: "rate", Expression: "errors / 60" },
      ]),
    );
    expect(queries.map((q) => q.Id)).toEqual(["errors", "rate"]);
  });

  it.each([
    ["not json", "the query is not valid JSON"],
    ["{}", "the query is not an array of MetricDataQuery"],
    ["[]", "the query is not an array of MetricDataQuery"],
    ['[{"MetricStat": {}}]', "the query is not an array of MetricDataQuery at [0].Id"],
    ['[{"Id": "a"}]', 'MetricDataQuery "a" needs exactly one of MetricStat and Expression'],
    [
      '[{"Id": "a", "Expression": "x", "MetricStat": {}}]',
      'MetricDataQuery "a" needs exactly one of MetricStat and Expression',
    ],
  ])("rejects %s", (query, message) => {
    expect(() => parseCloudWatchQuery(query)).toThrow(message);
  });
});

describe("reduceSeries", () => {
  // CloudWatch returns newest first by default, but nothing guarantees it across pages.
  const series = { timestamps: [at(2), at(0), at(4)], values: [20, 30, 10] };

  it.each([
    ["latest", 30],
    ["avg", 20],
    ["min", 10],
    ["max", 30],
    ["sum", 60],
  ] as const)("%s", (reduce, expected) => {
    expect(reduceSeries(series, reduce)).toBe(expected);
  });
});

describe("cloudwatch provider", () => {
  it("queries [now - interval, now] and reduces the datapoints (latest by default)", async () => {
    const inputs: GetMetricDataCommandInput[] = [];
    const provider = cloudWatchProvider(
      fakeApi([page("latency", [at(1), at(3)], [120, 80])], inputs),
      "latest",
      "CloudWatch",
    );
    expect(await provider.query(latency, options)).toEqual({ kind: "value", value: 120 });
    expect(inputs[0]).toMatchObject({ StartTime: at(5), EndTime: NOW, NextToken: undefined });
    expect(inputs[0]?.MetricDataQueries?.[0]?.Id).toBe("latency");
  });

  it("follows NextToken and uses every page's datapoints", async () => {
    const inputs: GetMetricDataCommandInput[] = [];
    const api = fakeApi(
      [page("latency", [at(1)], [100], "t1"), page("latency", [at(2), at(3)], [50, 30])],
      inputs,
    );
    expect(await cloudWatchProvider(api, "sum", "CloudWatch").query(latency, options)).toEqual({
      kind: "value",
      value: 180,
    });
    expect(inputs.map((i) => i.NextToken)).toEqual([undefined, "t1"]);
  });

  it("judges the one query that returns data, with metric math", async () => {
    const query = JSON.stringify([
      {
        Id: "errors",
        MetricStat: { Metric: { Namespace: "A", MetricName: "E" }, Period: 60, Stat: "Sum" },
        ReturnData: false,
      },
      {
        Id: "requests",
        MetricStat: { Metric: { Namespace: "A", MetricName: "R" }, Period: 60, Stat: "Sum" },
        ReturnData: false,
      },
      { Id: "ratio", Expression: "100 * errors / requests" },
    ]);
    const api = fakeApi([
      {
        MetricDataResults: [
          { Id: "ratio", Timestamps: [at(1), at(2)], Values: [2, 4], StatusCode: "Complete" },
        ],
      },
    ]);
    expect(await cloudWatchProvider(api, "avg", "CloudWatch").query(query, options)).toEqual({
      kind: "value",
      value: 3,
    });
  });

  it("rejects several queries that return data, naming them", async () => {
    const query = JSON.stringify([
      { Id: "a", Expression: "1" },
      { Id: "b", Expression: "2" },
    ]);
    await expect(
      cloudWatchProvider(fakeApi([]), "latest", "CloudWatch").query(query, options),
    ).rejects.toThrow(
      "2 MetricDataQuery entries return data (a, b); set ReturnData false on all but the one to judge",
    );
  });

  it("reports no datapoints as no data", async () => {
    const provider = cloudWatchProvider(fakeApi([page("latency", [], [])]), "latest", "CloudWatch");
    expect(await provider.query(latency, options)).toEqual({
      kind: "nodata",
      reason:
        'query "latency" returned no datapoints between 2026-03-01T11:55:00.000Z and 2026-03-01T12:00:00.000Z',
    });
  });

  it("turns a Forbidden result into an error with CloudWatch's messages", async () => {
    const api = fakeApi([
      {
        MetricDataResults: [
          {
            Id: "latency",
            StatusCode: "Forbidden",
            Messages: [{ Code: "AccessDenied", Value: "no access" }],
          },
        ],
      },
    ]);
    await expect(
      cloudWatchProvider(api, "latest", "CloudWatch in eu-west-1").query(latency, options),
    ).rejects.toThrow(
      'CloudWatch in eu-west-1: query "latency" failed with status Forbidden (AccessDenied: no access)',
    );
  });

  it("names the SDK error", async () => {
    const api: CloudWatchApi = {
      getMetricData: async () => {
        throw Object.assign(new Error("The security token included in the request is invalid."), {
          name: "InvalidClientTokenId",
        });
      },
      listMetrics: async () => {},
    };
    await expect(cloudWatchProvider(api, "latest", "CloudWatch").query(latency, options)).rejects.toThrow(
      "CloudWatch: InvalidClientTokenId: The security token included in the request is invalid.",
    );
  });

  it("never repeats the credentials when an error quotes the request", async () => {
    const api: CloudWatchApi = {
      getMetricData: async () => {
        throw Object.assign(
          new Error(
            "Credential=AKIDSEEDEDVALUE0001/20260301/eu-west-1/monitoring/aws4_request token sess-tok-0001 key wJalr-seeded",
          ),
          { name: "SignatureDoesNotMatch" },
        );
      },
      listMetrics: async () => {},
    };
    const secrets = ["AKIDSEEDEDVALUE0001", "wJalr-seeded", "sess-tok-0001"];
    const err = String(
      await cloudWatchProvider(api, "latest", "CloudWatch", secrets)
        .query(latency, options)
        .catch((e: Error) => e),
    );
    expect(err).toContain("CloudWatch: SignatureDoesNotMatch: Credential=[redacted]");
    for (const secret of secrets) expect(err).not.toContain(secret);
  });

  it("aborts when the caller's signal does, before its own timeout", async () => {
    const api: CloudWatchApi = {
      getMetricData: (_, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
        ),
      listMetrics: async () => {},
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new DOMException("caller gave up", "AbortError")), 30);
    const started = Date.now();
    await expect(
      cloudWatchProvider(api, "latest", "CloudWatch").query(latency, {
        ...options,
        timeoutMs: 10_000,
        signal: controller.signal,
      }),
    ).rejects.toThrow("CloudWatch: no answer within 10s");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("aborts at the timeout", async () => {
    const api: CloudWatchApi = {
      getMetricData: (_, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
        ),
      listMetrics: (signal) =>
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    };
    const provider = cloudWatchProvider(api, "latest", "CloudWatch");
    await expect(provider.query(latency, { ...options, timeoutMs: 50 })).rejects.toThrow(
      "CloudWatch: no answer within 0.05s",
    );
    await expect(provider.isOnline(50)).rejects.toThrow("CloudWatch: no answer within 0.05s");
  });
});
