// The two text views of `kanaria status`: one line per Canary (like `kubectl get`) for a namespace or
// -A, and the detail of one Canary by name. Both fit a terminal of `width` columns: a list line is cut
// with an ellipsis, a long detail wraps under its own column. The words come from release-facts.ts,
// which `kanaria dashboard` shares.
import {
  age,
  compareReleases,
  type EventRecord,
  failedChecksText,
  failedChecksTone,
  type ReleaseFacts,
  type Tone,
  weightBar,
  weightText,
} from "./release-facts.ts";
import { eventBody, formatChecks, type Style, truncate, visibleLength, wrapUnder } from "./view.ts";

export interface TextOptions {
  style: Style;
  /** Terminal columns; Infinity for a pipe (nothing is cut). */
  width: number;
  now: Date;
}

interface Cell {
  text: string;
  tone?: Tone;
  /** Longer text is cut with an ellipsis, so one long cell cannot push the others off the line. */
  max?: number;
}

interface Column {
  head: string;
  cell: (f: ReleaseFacts) => Cell;
}

function sinceTransition(f: ReleaseFacts, now: Date): string {
  const t = f.lastTransitionTime ? Date.parse(f.lastTransitionTime) : Number.NaN;
  return Number.isNaN(t) ? "-" : age(now.getTime() - t);
}

function columns(allNamespaces: boolean, now: Date): Column[] {
  const all: (Column | false)[] = [
    allNamespaces && { head: "NAMESPACE", cell: (f) => ({ text: f.namespace, max: 24 }) },
    { head: "NAME", cell: (f) => ({ text: f.name, max: 40 }) },
    {
      head: "PHASE",
      cell: (f) => ({ text: f.phase || "(new)", tone: f.tone }),
    },
    { head: "RELEASE", cell: (f) => ({ text: f.label, tone: f.tone, max: 40 }) },
    { head: "WEIGHT", cell: (f) => ({ text: `${weightBar(f.weight)} ${weightText(f.weight).padStart(4)}` }) },
    {
      head: "FAILED",
      cell: (f) => ({
        text: failedChecksText(f.failedChecks, f.threshold),
        tone: failedChecksTone(f.failedChecks, f.threshold),
      }),
    },
    { head: "AGE", cell: (f) => ({ text: sinceTransition(f, now) }) },
    {
      head: "LAST EVENT",
      cell: (f) => ({
        text: f.lastEvent?.reason ?? "-",
        tone: f.lastEvent?.type === "Warning" ? "warn" : "quiet",
        max: 24,
      }),
    },
    {
      head: "HELD BY",
      cell: (f) => ({ text: f.holding.join("; ") || "-", tone: f.holding.length ? "warn" : "quiet" }),
    },
  ];
  return all.filter((c): c is Column => c !== false);
}

/**
 * One line per Canary under a header, releases in flight first; each line cut to `width`. With
 * `rows`, at most that many lines: the rest is counted in a last line instead of scrolling away.
 */
export function listLines(
  all: ReleaseFacts[],
  opts: TextOptions & { allNamespaces: boolean; rows?: number },
): string[] {
  const { style } = opts;
  if (all.length === 0) return ["no Canaries found"];
  const sorted = [...all].sort(compareReleases);
  const cols = columns(opts.allNamespaces, opts.now);
  const cells = sorted.map((f) => cols.map((c) => c.cell(f)));
  const shown = cells.map((row) => row.map((c) => (c.max ? truncate(c.text, c.max) : c.text)));
  const widths = cols.map((c, i) =>
    Math.max(visibleLength(c.head), ...shown.map((r) => visibleLength(r[i] ?? ""))),
  );
  const line = (texts: string[], tones: (Tone | undefined)[]) =>
    texts
      .map((t, i) => {
        const padded = i === texts.length - 1 ? t : t + " ".repeat((widths[i] ?? 0) - visibleLength(t));
        return style.tone(tones[i] ?? "quiet", padded);
      })
      .join("  ")
      .trimEnd();
  const lines = [
    style.dim(
      line(
        cols.map((c) => c.head),
        [],
      ),
    ),
    ...shown.map((texts, r) =>
      line(
        texts,
        (cells[r] ?? []).map((c) => c.tone),
      ),
    ),
  ].map((l) => truncate(l, opts.width));
  if (opts.rows === undefined || lines.length <= opts.rows) return lines;
  const room = Math.max(1, opts.rows - 1);
  const more = lines.length - room;
  return [
    ...lines.slice(0, room),
    style.dim(truncate(`... ${more} more (kanaria status NAME -n NAMESPACE shows one)`, opts.width)),
  ];
}

/** The Events the detail view lists. */
export const DETAIL_EVENTS = 5;

function eventAge(e: EventRecord, now: Date): string {
  const t = Date.parse(e.time);
  return Number.isNaN(t) ? "" : `${age(now.getTime() - t)} ago`;
}

/** One Canary in full: what happened to its revision, traffic, checks, what holds it, status and last Events. */
export function detailLines(f: ReleaseFacts, events: EventRecord[], opts: TextOptions): string[] {
  const { style, width } = opts;
  const label = (l: string) => `  ${style.dim(l.padEnd(9))}`;
  const row = (l: string, text: string) => wrapUnder(label(l), text, width);
  const phase = f.phase ? style.tone(f.tone, f.phase) : style.dim("(not reconciled yet)");
  const lines = wrapUnder(
    `${style.bold(`${f.namespace}/${f.name}`)}  `,
    `${phase}${f.suspended ? style.yellow(" (suspended)") : ""}  ${style.tone(f.tone, f.label)}`,
    width,
  );
  if (f.revision) lines.push(...row("revision", f.revision));
  lines.push(...row("traffic", `${weightBar(f.weight, 20)} ${weightText(f.weight)} to the canary`));
  lines.push(
    ...row(
      "failed",
      style.tone(
        failedChecksTone(f.failedChecks, f.threshold),
        `${failedChecksText(f.failedChecks, f.threshold)} (rollback when ${f.threshold} checks fail)`,
      ),
    ),
  );
  for (const [i, c] of (f.checks.length ? formatChecks(f.checks, style) : []).entries())
    lines.push(...row(i === 0 ? "checks" : "", c));
  for (const [i, h] of f.holding.entries()) lines.push(...row(i === 0 ? "held by" : "", style.yellow(h)));
  if (f.message) lines.push(...row("status", f.message));
  for (const [i, e] of events.slice(-DETAIL_EVENTS).entries()) {
    const when = style.dim(eventAge(e, opts.now).padEnd(9));
    lines.push(...wrapUnder(`${label(i === 0 ? "events" : "")}${when} `, eventBody(e, style), width));
  }
  return lines.map((l) => truncate(l, width));
}
