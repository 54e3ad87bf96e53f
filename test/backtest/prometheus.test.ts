// `kanaria backtest` against a real Prometheus holding two days of backfilled history (promtool),
// through the CLI as a user runs it, on examples/backtest/: a success rate whose fixed minimum is
// too tight for healthy history, with a marked incident, and a p99 latency with an unmarked outage
// the suggestion must set aside.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrometheusProvider } from "../../src/metrics/providers/prometheus.ts";
import { seeded } from "../helpers/series.ts";
import {
  findPrometheus,
  type HistoryPrometheus,
  type Series,
  startHistoryPrometheus,
} from "./history-prometheus.ts";

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../..");
const bin = await findPrometheus();

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const SCRAPE = 15_000;
// Two days ending an hour ago, on whole minutes (the windows fall on the samples' minutes).
const BASE = Math.floor((Date.now() - 49 * HOUR) / HOUR) * HOUR;
const END = BASE + 48 * HOUR;
const ERRORS = { from: BASE + 20 * HOUR, to: BASE + 23 * HOUR };
const SLOW = { from: BASE + 30 * HOUR, to: BASE + 31.5 * HOUR };
const GAP = { from: BASE + 40 * HOUR, to: BASE + 40 * HOUR + 20 * MINUTE };
const iso = (ms: number) => new Date(ms).toISOString();
const inside = (t: number, span: { from: number; to: number }) => t >= span.from && t < span.to;

/** Request counters of one pod: about 100 rps, `errorShare(t)` of them 5xx. */
function requests(
  pod: string,
  seed: number,
  errorShare: (t: number, random: () => number) => number,
): Series[] {
  const random = seeded(seed);
  const ok: [number, number][] = [];
  const failed: [number, number][] = [];
  let okTotal = 0;
  let failedTotal = 0;
  for (let t = BASE; t <= END; t += SCRAPE) {
    if (inside(t, GAP)) continue;
    const count = 1500 + (random() - 0.5) * 100;
    const share = Math.max(0, errorShare(t, random));
    okTotal += count * (1 - share);
    failedTotal += count * share;
    ok.push([t, Number(okTotal.toFixed(3))]);
    failed.push([t, Number(failedTotal.toFixed(3))]);
  }
  const labels = (status: string) => ({ kubernetes_namespace: "shop", kubernetes_pod_name: pod, status });
  const name = "http_request_duration_seconds_count";
  return [
    { name, labels: labels("200"), samples: ok },
    { name, labels: labels("500"), samples: failed },
  ];
}

function latency(app: string, seed: number, base: number): Series {
  const random = seeded(seed);
  const samples: [number, number][] = [];
  for (let t = BASE; t <= END; t += SCRAPE) {
    if (inside(t, GAP)) continue;
    const noise = (random() + random() + random() - 1.5) * 24;
    samples.push([t, Number((inside(t, SLOW) ? 1500 + noise : base + noise).toFixed(2))]);
  }
  return { name: "app_latency_p99_ms", labels: { app }, samples };
}

const history: Series[] = [
  // The primary: 0.08 % errors, give or take, so some healthy minutes dip under a 99.9 % minimum.
  ...requests("web-primary-5d8f7c9b4-x2k9p", 1, (t, r) =>
    inside(t, ERRORS) ? 0.2 : 0.0008 + (r() - 0.5) * 0.0012,
  ),
  // A canary pod with 2 % errors, for --target.
  ...requests("web-5d8f7c9b4-abcde", 2, () => 0.02),
  latency("web-primary", 3, 200),
  latency("web", 4, 260),
];

interface Report {
  target: string;
  metrics: {
    name: string;
    windows: number;
    noData: number;
    failed: number;
    excluded: number;
    values: { min: number; p50: number; p90: number; p99: number; max: number };
    threshold: { min?: number; max?: number };
    suggested: {
      min?: number;
      max?: number;
      failureRate: number;
      setAside: { from: string; to: string; windows: number }[];
    };
    rollbacks: { releases: number; rolledBack: number; rate: number };
    suggestedRollbacks: { releases: number; rolledBack: number; rate: number };
    incidents: { windows: number; failed: number; caught: boolean; caughtBySuggested: boolean }[];
  }[];
}

async function kanaria(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(repoRoot, "src/cli/main.ts"), ...args], {
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}

describe.skipIf(!bin)("kanaria backtest against Prometheus with backfilled history", () => {
  let prometheus: HistoryPrometheus;
  let dir: string;
  let report: Report;
  const range = ["--from", iso(BASE + 10 * MINUTE), "--to", iso(END - MINUTE)];

  beforeAll(async () => {
    prometheus = await startHistoryPrometheus(bin as NonNullable<typeof bin>, history);
    dir = await mkdtemp(join(tmpdir(), "kanaria-backtest-"));
    const { stdout } = await kanaria([
      "backtest",
      join(repoRoot, "examples/backtest"),
      ...range,
      "--metrics-server",
      prometheus.url,
      "--include-incident",
      `${iso(ERRORS.from)}/${iso(ERRORS.to)}`,
      "-o",
      "json",
      "--plot",
      join(dir, "plot.svg"),
    ]);
    report = JSON.parse(stdout);
  }, 240_000);

  afterAll(async () => {
    await prometheus?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const metric = (name: string) => {
    const m = report.metrics.find((x) => x.name === name);
    if (!m) throw new Error(`no ${name} in the report`);
    return m;
  };
  // 47h50m of windows, one a minute, less the marked incident (3 h, both ends inclusive).
  const healthyWindows = 47 * 60 + 50 - (3 * 60 + 1);

  it("replays the built-in success rate of the primary's pods: a 99.9 % minimum fails healthy minutes", () => {
    const m = metric("request-success-rate");
    expect(report.target).toBe("web-primary");
    expect(m.windows).toBe(healthyWindows);
    // rate() over [1m] has no data while the scrapes are missing (20 minutes, and the first after).
    expect(m.noData).toBeGreaterThanOrEqual(20);
    expect(m.noData).toBeLessThanOrEqual(22);
    expect(m.values.p50).toBeGreaterThan(99.88);
    expect(m.values.p50).toBeLessThan(99.96);
    expect(m.values.min).toBeGreaterThan(99.7);
    expect(m.failed).toBeGreaterThan(50);
    expect(m.rollbacks.releases).toBeGreaterThan(2000);
    expect(m.rollbacks.rolledBack).toBeGreaterThan(50);
  });

  it("suggests a minimum that fails about 0.5 % of healthy windows and would still have caught the incident", () => {
    const m = metric("request-success-rate");
    expect(m.suggested.min).toBeLessThan(99.9);
    expect(m.suggested.min).toBeGreaterThan(99.7);
    expect(m.suggested.failureRate).toBeLessThanOrEqual(0.006);
    expect(m.suggestedRollbacks.rate).toBeLessThan(m.rollbacks.rate);
    expect(m.incidents).toHaveLength(1);
    expect(m.incidents[0]).toMatchObject({ windows: 181, caught: true, caughtBySuggested: true });
    expect(m.incidents[0]?.failed).toBeGreaterThanOrEqual(178);
  });

  it("sets the unmarked latency outage aside and suggests a maximum from the healthy minutes", () => {
    const m = metric("p99-latency");
    expect(m.windows).toBe(healthyWindows);
    // An instant query finds a sample up to 5 minutes back: 15 minutes of the gap have no data.
    expect(m.noData).toBeGreaterThanOrEqual(14);
    expect(m.noData).toBeLessThanOrEqual(16);
    expect(m.values.p50).toBeGreaterThan(195);
    expect(m.values.p50).toBeLessThan(205);
    expect(m.values.max).toBeGreaterThan(1400);
    expect(m.failed).toBeGreaterThanOrEqual(90);
    expect(m.suggested.max).toBeGreaterThan(215);
    expect(m.suggested.max).toBeLessThan(240);
    expect(m.suggested.setAside).toEqual([{ from: iso(SLOW.from), to: iso(SLOW.to - MINUTE), windows: 90 }]);
  });

  it("draws the plot as SVG", async () => {
    const svg = await readFile(join(dir, "plot.svg"), "utf8");
    expect(svg).toMatch(/^<svg/);
    for (const text of ["request-success-rate", "p99-latency", "suggested", "current"])
      expect(svg).toContain(text);
  });

  it("queryRange: one value per step, NaN steps left out, several series an error naming the fix", async () => {
    const provider = createPrometheusProvider({ type: "prometheus", address: prometheus.url }, {});
    const options = {
      start: new Date(BASE + HOUR),
      end: new Date(BASE + 2 * HOUR),
      stepMs: MINUTE,
      intervalMs: MINUTE,
      timeoutMs: 10_000,
    };
    const one = await provider.queryRange('app_latency_p99_ms{app="web"}', options);
    expect(one.samples).toHaveLength(61);
    expect(one.samples[0]?.time).toEqual(new Date(BASE + HOUR));
    expect((await provider.queryRange("vector(0) / vector(0)", options)).samples).toEqual([]);
    await expect(provider.queryRange("app_latency_p99_ms", options)).rejects.toThrow(
      /returned 2 series, but a check needs exactly one value: aggregate it, e\.g\. sum\(\.\.\.\)/,
    );
  });

  it("replays another target with --target, as a table", async () => {
    const { stdout } = await kanaria([
      "backtest",
      join(repoRoot, "examples/backtest/canary.yaml"),
      ...range,
      "--metrics-server",
      prometheus.url,
      "--target",
      "web",
    ]);
    expect(stdout).toContain("{{ target }} = web");
    const row = stdout.split("\n").find((l) => l.startsWith("request-success-rate"));
    expect(row).toMatch(/^request-success-rate +2870 +\d+ +98(\.00)? /);
    expect(stdout.split("\n").find((l) => l.startsWith("p99-latency"))).toMatch(
      /^p99-latency +2870 +\d+ +2\d\d\.\d /,
    );
  });
});
