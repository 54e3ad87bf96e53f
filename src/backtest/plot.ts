/**
 * `--plot OUT.svg`: each metric over time with its current and suggested threshold bands, the
 * windows the current range fails and those set aside as outages, as a Vega-Lite chart rendered to
 * SVG in Node (Vega's headless view, no browser).
 */
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { failsRange } from "./evaluate.ts";
import type { BacktestReport, MetricReport } from "./run.ts";

type Layer = Record<string, unknown>;

export async function renderPlot(report: BacktestReport): Promise<string> {
  const x = timeAxis(report);
  const charts = report.metrics.filter((m) => !m.error && m.series.length > 0).map((m) => metricChart(m, x));
  if (charts.length === 0) throw new Error("nothing to plot: no metric could be replayed");
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `kanaria backtest: ${report.canary} (${report.from} to ${report.to})`,
    vconcat: charts,
  } as unknown as TopLevelSpec;
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const DAY_MS = 24 * 3_600_000;

/**
 * Time in UTC on a 24-hour clock, as every timestamp kanaria prints (Vega's default is the local
 * zone and 12-hour labels: 15:45Z read "03:45"). Ranges over a day also name the date.
 */
export function timeAxis(report: Pick<BacktestReport, "from" | "to">): Layer {
  const span = Date.parse(report.to) - Date.parse(report.from);
  return {
    field: "time",
    type: "temporal",
    title: "time (UTC)",
    scale: { type: "utc" },
    axis: { format: span > DAY_MS ? "%b %d %H:%M" : "%H:%M", labelOverlap: true },
  };
}

function metricChart(m: MetricReport, x: Layer): Layer {
  const aside = (m.suggested?.setAside ?? []).map((s) => [Date.parse(s.from), Date.parse(s.to)] as const);
  const values = m.series
    .filter((w) => w.value !== undefined)
    .map((w) => {
      const t = w.time.getTime();
      const setAside = aside.some(([from, to]) => t >= from && t <= to);
      const status = setAside
        ? "set aside (outage)"
        : failsRange(w.value as number, m.threshold ?? undefined)
          ? "fails the current range"
          : "ok";
      return { time: w.time.toISOString(), value: w.value, status };
    });
  const y = { field: "value", type: "quantitative", title: m.name, scale: { zero: false } };
  const layers: Layer[] = [
    { data: { values }, mark: { type: "line", strokeWidth: 1, color: "#4c78a8" }, encoding: { x, y } },
    {
      data: { values: values.filter((v) => v.status !== "ok") },
      mark: { type: "point", filled: true, size: 18 },
      encoding: {
        x,
        y,
        color: {
          field: "status",
          type: "nominal",
          title: "window",
          // Vega cuts legend labels at 160 px by default ("fails the current …").
          legend: { labelLimit: 0 },
          scale: { domain: ["fails the current range", "set aside (outage)"], range: ["#e45756", "#9d9d9d"] },
        },
      },
    },
    ...bands(m),
  ];
  return {
    width: 900,
    height: 220,
    title: m.name,
    layer: layers,
    resolve: { scale: { color: "independent" } },
  };
}

/** Horizontal rules at the current (solid) and suggested (dashed) bounds, labelled in the legend. */
function bands(m: MetricReport): Layer[] {
  const rules = [...bounds(m.threshold, "current"), ...bounds(m.suggested, "suggested")];
  if (rules.length === 0) return [];
  return [
    {
      data: { values: rules },
      mark: { type: "rule", strokeWidth: 1.5 },
      encoding: {
        y: { field: "value", type: "quantitative" },
        color: {
          field: "label",
          type: "nominal",
          title: "threshold",
          legend: { labelLimit: 0 },
          scale: { domain: ["current", "suggested"], range: ["#f58518", "#54a24b"] },
        },
        strokeDash: {
          field: "label",
          type: "nominal",
          legend: null,
          scale: {
            domain: ["current", "suggested"],
            range: [
              [1, 0],
              [6, 4],
            ],
          },
        },
      },
    },
  ];
}

function bounds(r: { min?: number; max?: number } | null, label: string): { value: number; label: string }[] {
  return [r?.min, r?.max].filter((v): v is number => v !== undefined).map((value) => ({ value, label }));
}
