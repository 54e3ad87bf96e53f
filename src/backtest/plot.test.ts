import { afterEach, describe, expect, it } from "vitest";
import { renderPlot } from "./plot.ts";
import type { BacktestReport, MetricReport } from "./run.ts";

const FROM = Date.parse("2026-11-01T15:45:00Z");

function report(minutes: number): BacktestReport {
  const series = Array.from({ length: minutes }, (_, i) => ({
    time: new Date(FROM + i * 60_000),
    value: 200 + (i % 7) * 10,
  }));
  const metric = {
    name: "request-duration",
    threshold: { max: 250 },
    suggested: { max: 270, setAside: [] },
    series,
  } as unknown as MetricReport;
  return {
    canary: "shop/app",
    from: new Date(FROM).toISOString(),
    to: new Date(FROM + minutes * 60_000).toISOString(),
    metrics: [metric],
  } as unknown as BacktestReport;
}

/** The text of every <text> element, in document order. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] as string);
}

describe("renderPlot", () => {
  const tz = process.env.TZ;
  afterEach(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it("labels time in UTC on a 24-hour clock, whatever the local zone", async () => {
    process.env.TZ = "America/New_York";
    const labels = texts(await renderPlot(report(60)));
    expect(labels).toContain("15:45");
    expect(labels).toContain("16:00");
    expect(labels).toContain("time (UTC)");
    expect(labels.some((l) => /AM|PM|^03:45$|^10:45$/.test(l))).toBe(false);
  });

  it("names the date on ranges longer than a day", async () => {
    const labels = texts(await renderPlot(report(3 * 24 * 60)));
    expect(labels.some((l) => /^Nov 0[2-4] \d\d:\d\d$/.test(l))).toBe(true);
  });

  it("shows every legend label whole, inside the picture", async () => {
    const svg = await renderPlot(report(60));
    const labels = texts(svg);
    for (const label of ["fails the current range", "set aside (outage)", "current", "suggested"]) {
      expect(labels).toContain(label);
    }
    expect(labels.some((l) => l.endsWith("…"))).toBe(false);
    const width = Number(/^<svg[^>]* width="(\d+)"/.exec(svg)?.[1]);
    // The plot is 900 px wide; the legends sit to its right and the picture must hold them.
    expect(width).toBeGreaterThan(1000);
  });
});
