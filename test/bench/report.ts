// The benchmark's outputs: results.json, a table with the kanaria/Flagger ratios, and CPU and RSS
// over time for both controllers as SVG (vega-lite compiled to vega, rendered without a browser).
import { writeFileSync } from "node:fs";
import { quantile } from "simple-statistics";
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import type { ProcessSample, ReleasePhases, VerbCounts } from "./measure.ts";

export interface WindowLoad {
  /** 1-minute load average at the start, the end and its mean over the window's samples. */
  start: number;
  end: number;
  mean: number;
}

export interface ControllerResult {
  idleCpuCores: number;
  releaseCpuCores: number;
  /** CPU time over the whole release (cores x seconds): the work, whatever the release took. */
  releaseCpuSeconds: number;
  rssMiBSteady: number;
  rssMiBPeak: number;
  /** RssAnon, steady and peak: the RSS less the executable's mapped pages (Node's binary is ~50 MiB of them). */
  rssAnonMiBSteady: number;
  rssAnonMiBPeak: number;
  /** Requests per Canary per analysis interval in the idle window, minus the no-controller baseline. */
  apiRequestsPerCanaryTick: number;
  apiRequestsPerCanaryTickByVerb: VerbCounts;
  apiWritesIdle: number;
  /** The idle window's writes by "VERB resource" (the control plane's own included), to attribute them. */
  apiWritesIdleByResource?: VerbCounts;
  /** Every write from the release to all Succeeded, by "VERB resource" (the control plane's own included). */
  apiWritesReleaseByResource?: VerbCounts;
  initSeconds: number | null;
  releaseSeconds: number | null;
  /** kanaria only: reconciles per Canary per interval in the idle window, and per Canary over the release. */
  reconcilesPerCanaryTickIdle?: number;
  reconcilesPerRelease?: number;
  /** kanaria only, over the release: p99 of the wait for a worker and of a reconcile (bucket bounds), event loop lag. */
  releaseQueueWaitP99Seconds?: number | null;
  releaseReconcileP99Seconds?: number | null;
  releaseEventLoopLagP99Seconds?: number | null;
  releaseEventLoopLagMaxSeconds?: number | null;
  /** Median seconds each release spent from the new revision to Progressing, to the first step, to Promoting, to Succeeded. */
  releasePhaseMedians?: ReleasePhases;
  /** How late a step was decided after its due time (the controller's own definition of it), p99. */
  tickLatenessP99Seconds: number | null;
  /** Time between consecutive steps minus the interval, p99: the same measure for both controllers. */
  stepGapP99Seconds: number | null;
  /** The rollback phase: from its release until every Canary was Failed (rolled back). */
  rollbackSeconds?: number | null;
  /** From a Canary's first failed check to its rollback, p99 and worst over the Canaries (Infinity: one never rolled back). */
  rollbackAfterFailedCheckP99Seconds?: number | null;
  rollbackAfterFailedCheckMaxSeconds?: number | null;
  /** Soak mode: RSS growth over the idle window (least-squares slope), MiB per hour. */
  rssGrowthMiBPerHour?: number;
  loadAverage: { init: WindowLoad; idle: WindowLoad; release: WindowLoad; rollback?: WindowLoad };
}

export interface BenchResults {
  n: number;
  date: string;
  machine: string;
  command: string;
  windows: { baselineSeconds: number; idleSeconds: number; intervalSeconds: number };
  controllers: Partial<Record<"kanaria" | "flagger", ControllerResult>>;
}

export function p99(values: number[]): number | null {
  return values.length === 0 ? null : quantile(values, 0.99);
}

export function median(values: number[]): number {
  return values.length === 0 ? 0 : quantile(values, 0.5);
}

const ROWS: [keyof ControllerResult, string, number][] = [
  ["idleCpuCores", "idle CPU (cores)", 3],
  ["releaseCpuCores", "release CPU (cores)", 3],
  ["releaseCpuSeconds", "release CPU time (core-s)", 1],
  ["rssMiBSteady", "RSS steady (MiB)", 0],
  ["rssMiBPeak", "RSS peak (MiB)", 0],
  ["rssAnonMiBSteady", "RSS anon steady (MiB)", 0],
  ["rssAnonMiBPeak", "RSS anon peak (MiB)", 0],
  ["apiRequestsPerCanaryTick", "API requests per canary-tick", 2],
  ["apiWritesIdle", "API writes, idle window", 0],
  ["initSeconds", "all Initialized (s)", 1],
  ["releaseSeconds", "all Succeeded after release (s)", 1],
  ["tickLatenessP99Seconds", "step decided after due, p99 (s)", 2],
  ["stepGapP99Seconds", "step gap minus interval, p99 (s)", 2],
  ["rollbackSeconds", "all rolled back after release (s)", 1],
  ["rollbackAfterFailedCheckP99Seconds", "rollback after failed check, p99 (s)", 2],
  ["rollbackAfterFailedCheckMaxSeconds", "rollback after failed check, max (s)", 2],
];

const fmt = (v: unknown, digits: number) => (typeof v === "number" ? v.toFixed(digits) : "-");

/** A plain-text table, one row per figure, with kanaria/Flagger. */
export function table(results: BenchResults): string {
  const k = results.controllers.kanaria;
  const f = results.controllers.flagger;
  const lines = [["", "kanaria", "flagger", "kanaria/flagger"]];
  for (const [key, label, digits] of ROWS) {
    const a = k?.[key];
    const b = f?.[key];
    const ratio = typeof a === "number" && typeof b === "number" && b !== 0 ? (a / b).toFixed(2) : "-";
    lines.push([label, fmt(a, digits), fmt(b, digits), ratio]);
  }
  for (const window of ["init", "idle", "release", "rollback"] as const) {
    lines.push([
      `load average, ${window} (mean)`,
      fmt(k?.loadAverage[window]?.mean, 1),
      fmt(f?.loadAverage[window]?.mean, 1),
      "",
    ]);
  }
  const widths = lines[0]?.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length))) ?? [];
  return lines.map((l) => l.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

export interface Series {
  controller: string;
  samples: ProcessSample[];
}

/** CPU (cores, from consecutive samples) and RSS over time for every controller, as one SVG. */
export async function chart(
  series: Series[],
  marks: { t: number; label: string }[],
  file: string,
): Promise<void> {
  const rows = series.flatMap(({ controller, samples }) =>
    samples.slice(1).map((s, i) => {
      const prev = samples[i] as ProcessSample;
      const cores = (s.cpuSeconds - prev.cpuSeconds) / Math.max(0.001, s.t - prev.t);
      return {
        controller,
        t: Number(s.t.toFixed(1)),
        cores: Number(cores.toFixed(3)),
        rss: Number(s.rssMiB.toFixed(1)),
      };
    }),
  );
  const rule = {
    data: { values: marks },
    mark: { type: "rule", strokeDash: [4, 4], color: "#888" },
    encoding: { x: { field: "t", type: "quantitative" } },
  };
  const panel = (field: string, title: string) => ({
    layer: [
      {
        data: { values: rows },
        mark: { type: "line", strokeWidth: 1.2 },
        encoding: {
          x: { field: "t", type: "quantitative", title: "seconds" },
          y: { field, type: "quantitative", title },
          color: { field: "controller", type: "nominal" },
        },
      },
      rule,
      {
        data: { values: marks },
        mark: { type: "text", align: "left", dx: 3, dy: -4, baseline: "top", fontSize: 9 },
        encoding: { x: { field: "t", type: "quantitative" }, y: { value: 0 }, text: { field: "label" } },
      },
    ],
    width: 720,
    height: 200,
  });
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "kanaria and Flagger: CPU and RSS over the benchmark",
    vconcat: [panel("cores", "CPU (cores)"), panel("rss", "RSS (MiB)")],
  };
  const compiled = vegaLite.compile(spec as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  writeFileSync(file, await view.toSVG());
  view.finalize();
}
