import { describe, expect, it } from "vitest";
import { seeded } from "../../test/helpers/series.ts";
import type { Canary } from "../api/canary.ts";
import type { MetricTemplate } from "../api/metric-template.ts";
import type { ProviderLookup } from "../metrics/analysis.ts";
import type { RangeMetricProvider, RangeOptions } from "../metrics/range.ts";
import { formatJson, formatTable } from "./format.ts";
import { renderPlot } from "./plot.ts";
import { backtest } from "./run.ts";

const FROM = new Date("2026-11-01T00:00:00Z");
const DAY = 86_400_000;
const TO = new Date(FROM.getTime() + DAY - 60_000);
const OUTAGE = {
  from: new Date(FROM.getTime() + 10 * 3_600_000),
  to: new Date(FROM.getTime() + 11 * 3_600_000),
};

const canary: Pick<Canary, "metadata" | "spec"> = {
  metadata: { name: "web", namespace: "shop" },
  spec: {
    provider: "kubernetes",
    targetRef: { name: "web" },
    service: { port: 80 },
    analysis: {
      interval: "1m",
      threshold: 2,
      iterations: 5,
      metrics: [
        { name: "request-duration", thresholdRange: { max: 230 } },
        { name: "latency", templateRef: { name: "latency" }, thresholdRange: { max: 1000 } },
      ],
    },
  },
};

const template: MetricTemplate = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "MetricTemplate",
  metadata: { name: "latency", namespace: "shop" },
  spec: {
    provider: { type: "prometheus", address: "http://prom:9090" },
    query: 'latency{app="{{ target }}"}',
  },
};

/** A day of p99 latency around 200 ms with a one-hour outage at 900 ms and no data from 20:00 to 20:09. */
function fakeProviders(calls: { query: string; options: RangeOptions }[]): ProviderLookup {
  return () => {
    const provider: RangeMetricProvider = {
      async query() {
        throw new Error("not used");
      },
      async isOnline() {},
      async queryRange(query, options) {
        calls.push({ query, options });
        const random = seeded(7);
        const samples = [];
        for (let t = options.start.getTime(); t <= options.end.getTime(); t += options.stepMs) {
          const noise = (random() - 0.5) * 40;
          const hour = (t - FROM.getTime()) / 3_600_000;
          if (hour >= 20 && hour < 20 + 10 / 60) continue;
          const inOutage = t >= OUTAGE.from.getTime() && t < OUTAGE.to.getTime();
          samples.push({ time: new Date(t), value: inOutage ? 900 + noise : 200 + noise });
        }
        return { samples };
      },
    };
    return provider;
  };
}

describe("backtest", () => {
  it("replays each metric as the controller renders it, over the primary, and reports what thresholds would have done", async () => {
    const calls: { query: string; options: RangeOptions }[] = [];
    const progress: string[] = [];
    const report = await backtest({
      canary,
      templates: async (_, name) => (name === "latency" ? template : undefined),
      secrets: async () => undefined,
      providers: fakeProviders(calls),
      metricsServer: "http://prom:9090",
      from: FROM,
      to: TO,
      incidents: [OUTAGE],
      progress: (line) => progress.push(line),
    });

    expect(report).toMatchObject({
      canary: "shop/web",
      target: "web-primary",
      interval: "60s",
      release: { steps: 5, threshold: 2 },
    });
    // Built-in: the primary's pods; the template: {{ target }} = the primary.
    expect(calls[0]?.query).toContain('kubernetes_pod_name=~"web-primary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"');
    expect(calls.at(-1)?.query).toBe('latency{app="web-primary"}');
    expect(calls[0]?.options).toMatchObject({ stepMs: 60_000, intervalMs: 60_000, start: FROM, end: TO });
    expect(progress).toEqual([]);

    const duration = report.metrics[0];
    expect(duration?.windows).toBe(1440 - 61); // the incident hour (both ends inclusive) is not healthy history
    expect(duration?.noData).toBe(10);
    expect(duration?.values?.p50).toBeGreaterThan(190);
    expect(duration?.values?.max).toBeLessThan(221);
    expect(duration?.failed).toBe(0);
    // Ten minutes without data fail (onNoData fail): releases starting just before them roll back.
    expect(duration?.rollbacks.rolledBack).toBeGreaterThan(0);
    expect(duration?.rollbacks.releases).toBeGreaterThan(1300);
    expect(duration?.suggested?.max).toBeGreaterThan(215);
    expect(duration?.suggested?.max).toBeLessThanOrEqual(221);
    expect(duration?.incidents).toEqual([
      {
        from: OUTAGE.from.toISOString(),
        to: OUTAGE.to.toISOString(),
        windows: 61,
        failed: 60,
        failedBySuggested: 60,
        caught: true,
        caughtBySuggested: true,
      },
    ]);

    const json = JSON.parse(formatJson(report));
    expect(Object.keys(json.metrics[0]).sort()).toEqual(
      [
        "excluded",
        "failed",
        "incidents",
        "name",
        "noData",
        "provider",
        "query",
        "rollbacks",
        "source",
        "suggested",
        "suggestedRollbacks",
        "threshold",
        "values",
        "windows",
      ].sort(),
    );
    const table = formatTable(report);
    expect(table).toMatch(/^METRIC +WINDOWS +NO DATA/m);
    expect(table).toMatch(/^request-duration +1379 +10 /m);
    expect(table).toContain(
      "incident 2026-11-01T10:00:00.000Z to 2026-11-01T11:00:00.000Z (61 window(s)): current range: 60 failing, caught",
    );

    const svg = await renderPlot(report);
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain("request-duration");
    expect(svg).toContain("suggested");
  });

  for (const { title, series, reads, notRead } of [
    {
      title: "replays the built-ins from the series given (Traefik's): the -primary backend's",
      series: "traefik-gateway" as const,
      reads:
        'traefik_service_request_duration_seconds_bucket{service=~"shop-web-primary-http-[0-9]+@kubernetesgateway|',
      notRead: "web-canary",
    },
    {
      title:
        "replays gatewayapi built-ins without a series from the primary pods' own histogram, as Flagger reads them",
      series: undefined,
      reads:
        'http_request_duration_seconds_bucket{kubernetes_namespace="shop", kubernetes_pod_name=~"web-primary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}',
      notRead: "envoy",
    },
  ]) {
    it(title, async () => {
      const calls: { query: string; options: RangeOptions }[] = [];
      await backtest({
        canary: { ...canary, spec: { ...canary.spec, provider: "gatewayapi" } },
        templates: async (_, name) => (name === "latency" ? template : undefined),
        secrets: async () => undefined,
        providers: fakeProviders(calls),
        metricsServer: "http://prom:9090",
        ...(series === undefined ? {} : { series }),
        from: FROM,
        to: new Date(FROM.getTime() + 3_600_000),
      });
      expect(calls[0]?.query).toContain(reads);
      expect(calls[0]?.query).not.toContain(notRead);
    });
  }

  it("sets an outage aside when nobody marked it, and chunks long ranges with progress", async () => {
    const calls: { query: string; options: RangeOptions }[] = [];
    const progress: string[] = [];
    const week = new Date(FROM.getTime() + 7 * DAY);
    const report = await backtest({
      canary: {
        ...canary,
        spec: {
          ...canary.spec,
          analysis: {
            ...canary.spec.analysis,
            metrics: [{ name: "request-duration", thresholdRange: { max: 230 } }],
          },
        },
      },
      templates: async () => undefined,
      secrets: async () => undefined,
      providers: fakeProviders(calls),
      metricsServer: "http://prom:9090",
      from: FROM,
      to: week,
      progress: (line) => progress.push(line),
    });
    expect(calls).toHaveLength(2);
    expect(progress).toEqual([
      "request-duration (1/1): chunk 1/2 (10000 windows)",
      "request-duration (1/1): chunk 2/2 (81 windows)",
    ]);
    const m = report.metrics[0];
    expect(m?.windows).toBe(10081);
    expect(m?.failed).toBe(60);
    expect(m?.suggested?.setAside).toEqual([
      {
        from: OUTAGE.from.toISOString(),
        to: new Date(OUTAGE.to.getTime() - 60_000).toISOString(),
        windows: 60,
      },
    ]);
    expect(m?.suggested?.max).toBeLessThanOrEqual(221);
  });

  it("reports a metric it cannot replay instead of failing the whole run", async () => {
    const report = await backtest({
      canary,
      templates: async () => undefined,
      secrets: async () => undefined,
      providers: fakeProviders([]),
      metricsServer: "http://prom:9090",
      from: FROM,
      to: new Date(FROM.getTime() + 3_600_000),
    });
    expect(report.metrics[1]?.error).toBe("MetricTemplate shop/latency not found");
    expect(report.metrics[0]?.error).toBeUndefined();
    expect(formatTable(report)).toContain(
      "latency: could not be replayed: MetricTemplate shop/latency not found",
    );
  });
});
