/** Times and spans on the backtest command line: ISO 8601, Unix seconds, `now`, `now-7d`. */
import { parseDuration } from "../api/common.ts";

export interface Span {
  from: Date;
  to: Date;
}

const DAY_MS = 86_400_000;

/** Go durations plus days and weeks ("7d", "2w", "1d12h"), which history ranges need. */
export function parseLongDuration(text: string): number {
  const match = /^(?:(\d+)w)?(?:(\d+)d)?(.*)$/.exec(text);
  const [, weeks, days, rest = ""] = match ?? [];
  if (!weeks && !days) return parseDuration(text);
  const ms = (Number(weeks ?? 0) * 7 + Number(days ?? 0)) * DAY_MS;
  return rest === "" ? ms : ms + parseDuration(rest);
}

/** "now", "now-7d", "-2h" (before now), an ISO 8601 time, or Unix seconds. */
export function parseTime(text: string, now: Date): Date {
  const trimmed = text.trim();
  if (trimmed === "now") return now;
  const relative = /^(?:now)?-(.+)$/.exec(trimmed);
  if (relative) return new Date(now.getTime() - parseLongDuration(relative[1] as string));
  if (/^\d+(\.\d+)?$/.test(trimmed)) return new Date(Number(trimmed) * 1000);
  const ms = Date.parse(trimmed);
  if (Number.isNaN(ms)) {
    throw new Error(
      `invalid time ${JSON.stringify(text)}: use an ISO 8601 time (2026-11-24T00:00:00Z), Unix seconds, now or now-7d`,
    );
  }
  return new Date(ms);
}

/** FROM/TO, each as parseTime reads it. */
export function parseSpan(text: string, now: Date, flag: string): Span {
  const parts = text.split("/");
  if (parts.length !== 2)
    throw new Error(
      `${flag} ${JSON.stringify(text)}: expected FROM/TO, e.g. 2026-11-20T10:00Z/2026-11-20T12:00Z`,
    );
  const span = { from: parseTime(parts[0] as string, now), to: parseTime(parts[1] as string, now) };
  if (span.from.getTime() >= span.to.getTime()) {
    throw new Error(`${flag} ${JSON.stringify(text)}: FROM must be before TO`);
  }
  return span;
}

export function within(time: Date, span: Span): boolean {
  return time.getTime() >= span.from.getTime() && time.getTime() <= span.to.getTime();
}
