// `kanaria backtest --from-cluster`: the Canary and its MetricTemplate read from the test cluster's
// API server, the history from a Prometheus of our own with six hours of backfilled latency (and no
// request series at all, so the built-in success rate has no data in any window).
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../src/kube/types.ts";
import { seeded } from "../helpers/series.ts";
import { testClient } from "../support/canary-observer.ts";
import { useNamespace } from "../support/k8s.ts";
import { findPrometheus, type HistoryPrometheus, startHistoryPrometheus } from "./history-prometheus.ts";

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../..");
const bin = await findPrometheus();
const MINUTE = 60_000;
const BASE = Math.floor((Date.now() - 7 * 60 * MINUTE) / MINUTE) * MINUTE;
const END = BASE + 6 * 60 * MINUTE;

const ns = useNamespace("backtest-cluster");
const client = testClient();

describe.skipIf(!bin)("kanaria backtest --from-cluster", () => {
  let prometheus: HistoryPrometheus;

  beforeAll(async () => {
    const random = seeded(5);
    const samples: [number, number][] = [];
    for (let t = BASE; t <= END; t += 15_000)
      samples.push([t, Number((200 + (random() - 0.5) * 20).toFixed(2))]);
    prometheus = await startHistoryPrometheus(bin as NonNullable<typeof bin>, [
      { name: "app_latency_p99_ms", labels: { app: "web-primary" }, samples },
    ]);
    const text = await readFile(join(repoRoot, "examples/backtest/canary.yaml"), "utf8");
    for (const doc of parseAllDocuments(text)) {
      const object = doc.toJS() as KubeObject;
      await client.apply({ ...object, metadata: { ...object.metadata, namespace: ns } });
    }
  }, 240_000);

  afterAll(async () => {
    await prometheus?.stop();
  });

  it("reads the Canary and its MetricTemplate from the cluster and replays them", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        join(repoRoot, "src/cli/main.ts"),
        "backtest",
        "--from-cluster",
        "--kubeconfig",
        inject("kubeconfig"),
        "--canary",
        `${ns}/web`,
        "--from",
        new Date(BASE + 10 * MINUTE).toISOString(),
        "--to",
        new Date(END).toISOString(),
        "--metrics-server",
        prometheus.url,
        "-o",
        "json",
      ],
      { timeout: 60_000 },
    );
    const report = JSON.parse(stdout);
    expect(report.canary).toBe(`${ns}/web`);
    const [rate, latency] = report.metrics;
    expect(rate).toMatchObject({ name: "request-success-rate", windows: 351, noData: 351, values: null });
    // Every window without data fails (onNoData fail): every release is rolled back.
    expect(rate.rollbacks.rolledBack).toBe(rate.rollbacks.releases);
    expect(latency).toMatchObject({ name: "p99-latency", windows: 351, noData: 0, failed: 0 });
    expect(latency.query).toBe('max(app_latency_p99_ms{app="web-primary"})');
    expect(latency.suggested.max).toBeGreaterThan(205);
    expect(latency.suggested.max).toBeLessThanOrEqual(210);
  });

  it("names the Canary it cannot find", async () => {
    const failed = await run(
      process.execPath,
      [
        join(repoRoot, "src/cli/main.ts"),
        "backtest",
        "--from-cluster",
        "--kubeconfig",
        inject("kubeconfig"),
        "--canary",
        `${ns}/nope`,
        "--from",
        "now-1h",
      ],
      { timeout: 60_000 },
    ).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(`Canary ${ns}/nope not found in the cluster`);
  });
});
