/** The backtest report as JSON (the documented, stable schema) or as a table for people. */
import type { Range, Rollbacks } from "./evaluate.ts";
import type { BacktestReport, MetricReport } from "./run.ts";

export function formatJson(report: BacktestReport): string {
  const metrics = report.metrics.map(({ series: _series, ...metric }) => metric);
  return `${JSON.stringify({ ...report, metrics }, null, 2)}\n`;
}

export function formatTable(report: BacktestReport): string {
  const { release } = report;
  const lines = [
    `Canary ${report.canary}, ${report.from} to ${report.to}, one window per ${report.interval}, {{ target }} = ${report.target}`,
    `Releases of ${release.steps} step(s) rolled back after ${release.threshold} failed check(s); suggestions for ${percent(report.falseFailureRate)} failing windows`,
    "",
  ];
  const header = [
    "METRIC",
    "WINDOWS",
    "NO DATA",
    "P50",
    "P99",
    "MAX",
    "RANGE",
    "FAILED",
    "ROLLBACKS",
    "SUGGESTED",
    "ROLLBACKS",
  ];
  const rows = report.metrics.map(row);
  lines.push(...columns([header, ...rows]));
  lines.push(
    "",
    `All metrics together: ${rollbacks(report.rollbacks)} releases rolled back on this history.`,
  );
  for (const m of report.metrics) lines.push(...details(m));
  return `${lines.join("\n")}\n`;
}

function row(m: MetricReport): string[] {
  if (m.error) return [m.name, "-", "-", "-", "-", "-", range(m.threshold), "-", "-", "-", "-"];
  return [
    m.name,
    String(m.windows),
    String(m.noData),
    num(m.values?.p50),
    num(m.values?.p99),
    num(m.values?.max),
    range(m.threshold),
    m.windows > 0 ? `${m.failed} (${percent(m.failed / m.windows)})` : "0",
    rollbacks(m.rollbacks),
    m.suggested ? range(m.suggested) : "-",
    m.suggestedRollbacks ? rollbacks(m.suggestedRollbacks) : "-",
  ];
}

function details(m: MetricReport): string[] {
  if (m.error) return ["", `${m.name}: could not be replayed: ${m.error}`];
  const out: string[] = [];
  if (m.excluded > 0) out.push(`  ${m.excluded} window(s) excluded (--exclude)`);
  for (const s of m.suggested?.setAside ?? []) {
    out.push(`  set aside as an outage: ${s.from} to ${s.to} (${s.windows} window(s))`);
  }
  for (const i of m.incidents) {
    const suggested =
      i.caughtBySuggested === null
        ? ""
        : `, suggested range: ${i.failedBySuggested} failing, ${i.caughtBySuggested ? "caught" : "NOT caught"}`;
    out.push(
      `  incident ${i.from} to ${i.to} (${i.windows} window(s)): current range: ${i.failed} failing, ${i.caught ? "caught" : "NOT caught"}${suggested}`,
    );
  }
  return out.length > 0 ? ["", `${m.name}:`, ...out] : [];
}

function rollbacks(r: Rollbacks): string {
  return `${r.rolledBack}/${r.releases} (${percent(r.rate)})`;
}

function range(r: Range | null | undefined): string {
  if (!r || (r.min === undefined && r.max === undefined)) return "-";
  if (r.min !== undefined && r.max !== undefined) return `${r.min}..${r.max}`;
  return r.min !== undefined ? `>= ${r.min}` : `<= ${r.max}`;
}

function num(v: number | undefined): string {
  if (v === undefined) return "-";
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toPrecision(4);
}

function percent(v: number): string {
  return `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)}%`;
}

function columns(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}
