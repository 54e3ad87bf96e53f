import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Canary } from "../../api/canary.ts";
import type { ResolvedCanary } from "../../api/defaults.ts";
import type { MetricTemplate } from "../../api/metric-template.ts";
import { validateSources } from "../../validate/index.ts";
import { type ProviderLookup, type RunChecksInput, runChecks } from "../analysis.ts";
import type { MetricProvider, QueryResult } from "../provider.ts";
import type { RangeMetricProvider, RangeOptions } from "../range.ts";
import { worseOf } from "./compare-check.ts";

type Metric = ResolvedCanary["metrics"][number];

const NOW = new Date("2026-03-01T12:00:00Z");

const canary: Pick<Canary, "metadata" | "spec"> = {
  metadata: { name: "web", namespace: "shop" },
  spec: {
    provider: "nginx",
    targetRef: { name: "web" },
    ingressRef: { name: "web" },
    service: { port: 80 },
    analysis: { interval: "1m", iterations: 1 },
  },
};

const latencyTemplate: MetricTemplate = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "MetricTemplate",
  metadata: { name: "latency", namespace: "shop" },
  spec: {
    provider: { type: "prometheus", address: "http://prom:9090" },
    query: 'avg(latency_ms{pod=~"{{ target }}-.*"})',
  },
};

interface RangeCall {
  query: string;
  options: RangeOptions;
}

/** Answers range queries with `values(query)` spread over the window, instant queries with `instant`. */
function rangeProviders(
  values: (query: string) => number[],
  calls: RangeCall[] = [],
  instant: QueryResult = { kind: "value", value: 1 },
): ProviderLookup {
  return () => {
    const provider: RangeMetricProvider = {
      async query() {
        return instant;
      },
      async isOnline() {},
      async queryRange(query, options) {
        calls.push({ query, options });
        const samples = values(query).map((value, i) => ({
          time: new Date(options.start.getTime() + i * options.stepMs),
          value,
        }));
        return { samples };
      },
    };
    return provider;
  };
}

function input(metrics: Metric[], providers: ProviderLookup): RunChecksInput {
  return {
    canary,
    resolved: { provider: "nginx", metrics },
    defaultMetricsServer: "http://prom:9090",
    providers,
    templates: async (_, name) => (name === "latency" ? latencyTemplate : undefined),
    secrets: async () => undefined,
    now: () => NOW,
  };
}

const slow = Array.from({ length: 11 }, (_, i) => 120 + (i % 3));
const fast = Array.from({ length: 11 }, (_, i) => 100 + (i % 3));

const compared = (extra: Partial<Metric> = {}): Metric => ({
  name: "latency",
  interval: "1m",
  onNoData: "fail",
  templateRef: { name: "latency" },
  compare: { direction: "increase", tolerance: 0.1, confidence: 0.98 },
  ...extra,
});

describe("compare in runChecks", () => {
  it("samples both sides over the interval and fails a canary 20 % slower, naming medians, p-value and effect", async () => {
    const calls: RangeCall[] = [];
    const providers = rangeProviders((q) => (q.includes('"web-primary-') ? fast : slow), calls);
    const [check] = await runChecks(input([compared()], providers));

    expect(calls.map((c) => c.query).sort()).toEqual([
      'avg(latency_ms{pod=~"web-.*"})',
      'avg(latency_ms{pod=~"web-primary-.*"})',
    ]);
    for (const { options } of calls) {
      expect(options).toMatchObject({ stepMs: 6000, intervalMs: 60_000, end: NOW });
      expect(options.start).toEqual(new Date(NOW.getTime() - 60_000));
    }
    expect(check).toMatchObject({ name: "latency", result: "fail", value: 121, provider: "prometheus" });
    expect(check?.comparison).toMatchObject({
      canaryMedian: 121,
      primaryMedian: 101,
      canarySamples: 11,
      primarySamples: 11,
    });
    expect(check?.comparison?.effectSize).toBeCloseTo(20 / 101, 6);
    expect(check?.comparison?.pValue).toBeLessThan(0.001);
    expect(check?.message).toMatch(
      /^latency: canary median 121\.00 vs primary median 101\.00 \(effect \+19\.8 %, tolerance 10\.0 %\), p-value \S+ \(confidence 0\.98\): significantly higher than the primary beyond the tolerance \(prometheus\)$/,
    );
  });

  it("passes an equal canary", async () => {
    const [check] = await runChecks(
      input(
        [compared()],
        rangeProviders(() => fast),
      ),
    );
    expect(check?.result).toBe("pass");
    expect(check?.message).toContain("not significantly higher beyond the tolerance");
  });

  it('reads the primary\'s requests of the built-in nginx query by canary=""', async () => {
    const calls: RangeCall[] = [];
    const metric: Metric = {
      name: "request-duration",
      interval: "30s",
      onNoData: "fail",
      compare: { direction: "increase" },
    };
    const [check] = await runChecks(
      input(
        [metric],
        rangeProviders(() => fast, calls),
      ),
    );
    expect(check?.result).toBe("pass");
    const queries = calls.map((c) => c.query);
    expect(queries.some((q) => q.includes('canary!=""'))).toBe(true);
    expect(queries.some((q) => q.includes('canary=""'))).toBe(true);
    expect(calls[0]?.options.stepMs).toBe(3000);
  });

  it("is no data, never a pass, when a side has too few samples", async () => {
    const providers = rangeProviders((q) => (q.includes("primary") ? fast : slow.slice(0, 3)));
    const [check] = await runChecks(input([compared()], providers));
    expect(check?.result).toBe("nodata");
    expect(check?.message).toMatch(
      /^latency: no data from MetricTemplate shop\/latency \(prometheus\) to compare the canary with the primary: too few samples to compare \(canary 3, primary 11/,
    );
  });

  it("is an error when the range query fails or the provider cannot sample a range", async () => {
    const failing: ProviderLookup = () => ({
      async query() {
        return { kind: "value", value: 1 };
      },
      async isOnline() {},
      async queryRange() {
        throw new Error("Prometheus at http://prom:9090: HTTP 503");
      },
    });
    const [error] = await runChecks(input([compared()], failing));
    expect(error).toMatchObject({ result: "error" });
    expect(error?.message).toContain("HTTP 503");

    const instantOnly: ProviderLookup = (): MetricProvider => ({
      async query() {
        return { kind: "value", value: 1 };
      },
      async isOnline() {},
    });
    const [unsupported] = await runChecks(input([compared()], instantOnly));
    expect(unsupported?.result).toBe("error");
    expect(unsupported?.message).toContain("compare needs a provider that can sample a range");
  });

  it("with thresholdRange too, judges both and the worse result counts", async () => {
    const both = compared({ thresholdRange: { max: 500 } });
    const providers = rangeProviders((q) => (q.includes("primary") ? fast : slow), [], {
      kind: "value",
      value: 130,
    });
    const [check] = await runChecks(input([both], providers));
    expect(check?.result).toBe("fail");
    expect(check?.value).toBe(130);
    expect(check?.message).toMatch(
      /^latency 130\.00 is within the range \(maximum 500\) \(prometheus\); latency: canary median/,
    );
    expect(check?.comparison?.canaryMedian).toBe(121);
  });
});

describe("worseOf", () => {
  it("orders fail over error over no data over pass", () => {
    const v = (result: "pass" | "fail" | "nodata" | "error") => ({ result, message: result });
    expect(worseOf(v("pass"), v("nodata")).result).toBe("nodata");
    expect(worseOf(v("error"), v("nodata")).result).toBe("error");
    expect(worseOf(v("nodata"), v("fail")).result).toBe("fail");
    expect(worseOf(v("pass"), v("pass"))).toMatchObject({ result: "pass", message: "pass; pass" });
  });
});

describe("kanaria validate and compare", () => {
  it("accepts compare and names a wrong direction or a misspelt field with the fix", () => {
    const text = readFileSync(new URL("../../../examples/backtest/canary.yaml", import.meta.url), "utf8");
    expect(validateSources([{ file: "canary.yaml", text }]).errors).toBe(0);
    const bad = text
      .replace("direction: increase", "direction: up")
      .replace("tolerance: 0.1", "tolerence: 0.1");
    const messages = validateSources([{ file: "canary.yaml", text: bad }]).problems.map(
      (p) => `${p.path}: ${p.message}`,
    );
    expect(messages).toEqual([
      'spec.analysis.metrics[1].compare.direction: must be one of "increase", "decrease", "either"; got the string "up"',
      'spec.analysis.metrics[1].compare.tolerence: unknown field "tolerence" (did you mean "tolerance"?)',
    ]);
  });
});
