// The prometheus provider and runChecks against the real Prometheus of the test cluster. The test
// serves metrics on 127.0.0.1, registers them through a file_sd file in PROMETHEUS_TARGETS_DIR,
// waits for the scrapes, then queries through our provider.
import { randomBytes } from "node:crypto";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import type { MetricTemplate } from "../../src/api/metric-template.ts";
import { runChecks } from "../../src/metrics/analysis.ts";
import { createMetricProvider } from "../../src/metrics/factory.ts";
import type { QueryResult } from "../../src/metrics/provider.ts";
import { createPrometheusProvider } from "../../src/metrics/providers/prometheus.ts";
import { waitFor } from "../support/k8s.ts";

const prometheusUrl = inject("prometheusUrl");
const targetsDir = inject("prometheusTargetsDir");

const run = randomBytes(4).toString("hex");
/** The namespace the served application metrics claim to come from; unique per run. */
const namespace = `metrics-${run}`;
const CANARY_POD = "web-7d9f8b6c4-x2k9p";
const PRIMARY_POD = "web-primary-5c8d7f9b6-q8z4m";

/**
 * What one scrape adds. The canary answers 7 requests with 200 and 1 with 500 (87.5% success),
 * 5 of them within 100 ms and all within 250 ms, so p99 interpolates to 246 ms. The primary
 * only fails: if the built-in query picked up its pods, the success rate would drop.
 */
const PER_SCRAPE = [
  { pod: CANARY_POD, status: "200", buckets: { "0.1": 5, "0.25": 7, "+Inf": 7 } },
  { pod: CANARY_POD, status: "500", buckets: { "0.1": 0, "0.25": 1, "+Inf": 1 } },
  { pod: PRIMARY_POD, status: "500", buckets: { "0.1": 0, "0.25": 3, "+Inf": 3 } },
];

function exposition(scrapes: number): string {
  const lines = [
    "# TYPE kanaria_metrics_test_gauge gauge",
    'kanaria_metrics_test_gauge{kind="answer"} 42.5',
    'kanaria_metrics_test_gauge{kind="other"} 1',
    "# TYPE http_request_duration_seconds histogram",
  ];
  for (const { pod, status, buckets } of PER_SCRAPE) {
    const labels = `kubernetes_namespace="${namespace}",kubernetes_pod_name="${pod}",status="${status}"`;
    for (const [le, n] of Object.entries(buckets)) {
      lines.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${n * scrapes}`);
    }
    lines.push(`http_request_duration_seconds_count{${labels}} ${buckets["+Inf"] * scrapes}`);
  }
  return `${lines.join("\n")}\n`;
}

describe.skipIf(!prometheusUrl || !targetsDir)("prometheus provider against Prometheus", () => {
  const targetFile = path.join(targetsDir, `metrics-test-${run}.json`);
  let server: Server;
  let scrapes = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      scrapes++;
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" }).end(exposition(scrapes));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    // write + rename, so Prometheus never reads a half-written file
    writeFileSync(
      `${targetFile}.tmp`,
      JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: "kanaria-metrics-test", run } }]),
    );
    renameSync(`${targetFile}.tmp`, targetFile);
    // rate() needs two samples in the window: wait until the success rate is a number.
    const provider = createPrometheusProvider({ type: "prometheus", address: prometheusUrl }, {});
    await waitFor(
      () =>
        provider.query(
          `sum(rate(http_request_duration_seconds_count{kubernetes_namespace="${namespace}"}[1m]))`,
          options(),
        ),
      {
        description: "Prometheus to have scraped the test target twice",
        timeoutMs: 60_000,
        intervalMs: 500,
        until: (r: QueryResult) => r.kind === "value" && r.value > 0,
      },
    );
  });

  afterAll(async () => {
    rmSync(targetFile, { force: true });
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  const options = () => ({ intervalMs: 60_000, timeoutMs: 5_000, now: new Date() });
  const provider = () => createPrometheusProvider({ type: "prometheus", address: prometheusUrl }, {});

  it("returns the scraped value", async () => {
    expect(
      await provider().query(`kanaria_metrics_test_gauge{run="${run}", kind="answer"}`, options()),
    ).toEqual({
      kind: "value",
      value: 42.5,
    });
  });

  it("reports an empty vector and NaN as no data", async () => {
    const empty = await provider().query(
      `kanaria_metrics_test_gauge{run="${run}", kind="missing"}`,
      options(),
    );
    expect(empty).toMatchObject({ kind: "nodata", reason: expect.stringContaining("empty vector") });
    const nan = await provider().query(
      `kanaria_metrics_test_gauge{run="${run}", kind="answer"} * 0 / 0`,
      options(),
    );
    expect(nan).toMatchObject({ kind: "nodata", reason: expect.stringContaining("NaN") });
    const matrix = await provider().query(
      `kanaria_metrics_test_gauge{run="${run}", kind="answer"}[10s]`,
      options(),
    );
    expect(matrix).toMatchObject({ kind: "nodata", reason: expect.stringContaining("range vector") });
  });

  it("rejects a query that returns several series", async () => {
    await expect(provider().query(`kanaria_metrics_test_gauge{run="${run}"}`, options())).rejects.toThrow(
      "the query returned 2 series",
    );
  });

  it("reports Prometheus's own error for an invalid query", async () => {
    await expect(provider().query("sum(", options())).rejects.toThrow(/HTTP 400 \(bad_data\)/);
  });

  it("is online", async () => {
    await expect(provider().isOnline(5_000)).resolves.toBeUndefined();
  });

  it("judges the built-in kubernetes checks of the canary's pods: the success rate fails, the duration passes", async () => {
    const canary: Pick<Canary, "metadata" | "spec"> = {
      metadata: { name: "web", namespace },
      spec: {
        provider: "kubernetes",
        targetRef: { name: "web" },
        service: { port: 80 },
        analysis: {
          iterations: 3,
          metrics: [
            { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
            { name: "request-duration", thresholdRange: { max: 500 }, interval: "1m" },
            {
              name: "queue-depth",
              templateRef: { name: "queue-depth" },
              thresholdRange: { max: 10 },
              onNoData: "skip",
            },
          ],
        },
      },
    };
    const queueDepth: MetricTemplate = {
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "MetricTemplate",
      metadata: { name: "queue-depth", namespace },
      spec: {
        provider: { type: "prometheus" },
        query: 'sum(kanaria_queue_depth{namespace="{{ namespace }}"})',
      },
    };
    const checks = await runChecks({
      canary,
      resolved: resolveCanary(canary.spec),
      defaultMetricsServer: prometheusUrl,
      providers: createMetricProvider,
      templates: async (ns, name) => (ns === namespace && name === "queue-depth" ? queueDepth : undefined),
      secrets: async () => undefined,
      now: () => new Date(),
    });
    expect(checks.map((c) => [c.name, c.result])).toEqual([
      ["request-success-rate", "fail"],
      ["request-duration", "pass"],
      ["queue-depth", "nodata"],
    ]);
    expect(checks[0]?.message).toBe("request-success-rate 87.50 is below the minimum 99 (prometheus)");
    expect(checks[0]?.value).toBeCloseTo(87.5, 6);
    expect(checks[1]?.value).toBeCloseTo(246, 0);
    expect(checks[2]?.message).toBe(
      `queue-depth: no data from MetricTemplate ${namespace}/queue-depth (prometheus): the query returned an empty vector (no series matched in the window)`,
    );
  });

  it("reads a target that answered only 5xx as 0 %, and one that answered nothing as no data", async () => {
    // {{ target }} web-primary: the built-in pod pattern selects the primary's pods, which only fail,
    // so no non-5xx series exists at all.
    const judge = async (name: string) => {
      const canary: Pick<Canary, "metadata" | "spec"> = {
        metadata: { name, namespace },
        spec: {
          provider: "kubernetes",
          targetRef: { name },
          service: { port: 80 },
          analysis: {
            iterations: 3,
            metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
          },
        },
      };
      const [check] = await runChecks({
        canary,
        resolved: resolveCanary(canary.spec),
        defaultMetricsServer: prometheusUrl,
        providers: createMetricProvider,
        templates: async () => undefined,
        secrets: async () => undefined,
        now: () => new Date(),
      });
      return check;
    };
    const failing = await judge("web-primary");
    expect([failing?.result, failing?.value]).toEqual(["fail", 0]);
    expect(failing?.message).toBe("request-success-rate 0.00 is below the minimum 99 (prometheus)");
    const silent = await judge("absent");
    expect(silent?.result).toBe("nodata");
    expect(silent?.message).toContain("empty vector");
  });
});
