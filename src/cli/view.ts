// What `kanaria status --watch NAME` and `make demo` show: a status block of the Canary (phase, traffic
// split, pods, each metric check against its range) redrawn in place on a terminal, and the Canary's
// events as they happen. Without a terminal (CI logs) the same information comes as one line per
// change. Pure formatting: the callers poll the cluster.
import stringWidth from "string-width";
import wrapAnsi from "wrap-ansi";
import type { CheckStatus } from "../api/canary.ts";
import {
  checkResultText,
  checkResultTone,
  eventText,
  phaseTone,
  rangeText,
  type Tone,
  valueText,
} from "./release-facts.ts";

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  /** A fact's tone (see release-facts.ts) as a color. */
  tone(tone: Tone, s: string): string;
}

export function makeStyle(enabled: boolean): Style {
  const sgr =
    (open: number, close: number) =>
    (s: string): string =>
      enabled && s !== "" ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  const colors = { ok: sgr(32, 39), bad: sgr(31, 39), warn: sgr(33, 39), active: sgr(36, 39) };
  return {
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    red: colors.bad,
    green: colors.ok,
    yellow: colors.warn,
    cyan: colors.active,
    tone: (tone, s) => (tone === "quiet" ? s : colors[tone](s)),
  };
}

/** Terminal columns a string takes: escape sequences take none, wide characters two. */
export function visibleLength(s: string): number {
  return stringWidth(s);
}

/** Cuts a line to `width` columns with an ellipsis (styles closed at the cut, so no color leaks). */
export function truncate(s: string, width: number): string {
  if (visibleLength(s) <= width) return s;
  if (width <= 1) return "…".slice(0, width);
  const head = wrapAnsi(s, width - 1, { hard: true, wordWrap: false, trim: false }).split("\n")[0] ?? "";
  return `${head}…`;
}

/**
 * `text` after `prefix`, word-wrapped to `width` columns with the lines after the first under the
 * text's own column (not at column 0). Infinite width (a pipe): one line.
 */
export function wrapUnder(prefix: string, text: string, width: number): string[] {
  const indent = visibleLength(prefix);
  const room = width - indent;
  if (!Number.isFinite(width) || room < 12) return [truncate(`${prefix}${text}`, width)];
  return wrapAnsi(text, room, { hard: true })
    .split("\n")
    .map((line, i) => `${i === 0 ? prefix : " ".repeat(indent)}${line}`);
}

/** mm:ss (or h:mm:ss). */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** The tag of an image reference ("ghcr.io/stefanprodan/podinfo:6.0.1" -> "6.0.1"). */
export function tagOf(image: string | undefined): string {
  if (!image) return "?";
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? image.slice(colon + 1) : "latest";
}

function resultLabel(result: CheckStatus["result"], style: Style): string {
  return style.tone(checkResultTone(result), checkResultText(result));
}

/** "request-success-rate   89.90  min 99    FAIL", columns aligned across the checks given. */
export function formatChecks(checks: CheckStatus[], style: Style): string[] {
  const nameWidth = Math.max(...checks.map((c) => c.name.length));
  const valueWidth = Math.max(...checks.map((c) => valueText(c.value).length));
  const rangeWidth = Math.max(...checks.map((c) => rangeText(c.thresholdRange).length));
  return checks.map(
    (c) =>
      `${c.name.padEnd(nameWidth)}  ${valueText(c.value).padStart(valueWidth)}  ${rangeText(c.thresholdRange).padEnd(rangeWidth)}  ${resultLabel(c.result, style)}`,
  );
}

/** One check on one line for logs: "request-success-rate 89.90 (min 99) FAIL". */
export function checkInline(c: CheckStatus, style: Style): string {
  return `${c.name} ${valueText(c.value)} (${rangeText(c.thresholdRange)}) ${resultLabel(c.result, style)}`;
}

export interface DeploymentView {
  name: string;
  image?: string;
  replicas: number;
  ready: number;
}

/** Everything the status block shows; demo.ts fills it from the Canary and its Deployments. */
export interface CanaryView {
  /** "podinfo.podinfo" */
  title: string;
  /** What is happening, e.g. "release 2 of 2: 6.0.2, a bad build (expect a rollback)". */
  stage: string;
  phase?: string;
  canaryWeight?: number;
  /** What happened to the revision under analysis, or where it is (releaseLabel in release-facts.ts). */
  release: string;
  failedChecks?: number;
  threshold: number;
  checks?: CheckStatus[];
  /** The Promoted condition's message: what the controller is doing or waiting for. */
  message?: string;
  primary?: DeploymentView;
  canary?: DeploymentView;
  /** Traffic counted from the answers (the demo on real traffic); shown under the weight. */
  measured?: MeasuredView;
}

/** Requests of the last few seconds, by who answered them: the split a client saw. */
export interface MeasuredView {
  /** Seconds the counts cover, ending now. */
  windowSeconds: number;
  /** Answers by who gave them, in the order to show, e.g. "6.0.1" then "6.0.0". */
  answers: { label: string; count: number }[];
  failed: number;
  /** The canary weight on the route object the proxy reads (e.g. the HTTPRoute), percent. */
  routeWeight?: number;
  /** What the route object is, for the label: "HTTPRoute". */
  routeKind?: string;
  /** Failed requests since the release under way started. */
  failedThisRelease?: number;
}

function share(part: number, total: number): string {
  return `${Math.round((part / total) * 100)}%`;
}

/**
 * "6.0.0 80% · 6.0.1 20% · failed 0 of 250 in 5s · this release: 0 failed · HTTPRoute 20%": the most
 * telling first, since a narrow terminal cuts the end (the weight is on the line above anyway).
 */
export function measuredLine(m: MeasuredView, style: Style): string {
  const total = m.answers.reduce((n, a) => n + a.count, 0) + m.failed;
  const context = [
    m.failedThisRelease !== undefined ? `this release: ${m.failedThisRelease} failed` : "",
    m.routeWeight !== undefined ? `${m.routeKind ?? "route"} ${m.routeWeight}%` : "",
  ].filter(Boolean);
  const tail = context.map((c) => style.dim(` · ${c}`)).join("");
  if (total === 0) return `${style.dim(`no answers in the last ${m.windowSeconds}s`)}${tail}`;
  const parts = m.answers.map((a) => `${a.label} ${share(a.count, total)}`);
  const failed = `failed ${m.failed}`;
  parts.push(m.failed > 0 ? style.red(failed) : failed);
  return `${parts.join(" · ")} of ${total} in ${m.windowSeconds}s${tail}`;
}

export interface BlockOptions {
  style: Style;
  /** Terminal columns; lines are cut to fit so the redraw can count them. */
  width: number;
  elapsedMs: number;
}

function phaseLabel(phase: string | undefined, style: Style): string {
  if (!phase) return style.dim("(not reconciled yet)");
  return style.tone(phaseTone(phase), phase);
}

/** "primary  80% ████████████████░░░░  20% canary": the bar reads without colors too. */
export function trafficBar(weight: number, width: number, style: Style): string {
  const canaryCells = Math.round((weight / 100) * width);
  const bar = style.green("█".repeat(width - canaryCells)) + style.yellow("░".repeat(canaryCells));
  return `primary ${String(100 - weight).padStart(3)}% ${bar} ${String(weight).padStart(3)}% canary`;
}

function deploymentLine(d: DeploymentView | undefined, style: Style): string {
  if (!d) return style.dim("-");
  const counts = `${d.ready}/${d.replicas} ready`;
  return `${d.name} ${style.bold(tagOf(d.image))} ${d.replicas === 0 ? style.dim("scaled to zero") : counts}`;
}

/** The status block for a terminal; each line fits `width`. */
export function statusBlock(view: CanaryView, opts: BlockOptions): string[] {
  const { style } = opts;
  const label = (s: string) => style.dim(s.padEnd(9));
  const weight = view.canaryWeight ?? 0;
  const lines = [
    `${style.dim(clock(opts.elapsedMs))}  ${style.bold(view.title)}  ${view.stage}`,
    `${label("phase")}${phaseLabel(view.phase, style)}  ${view.release}${
      view.failedChecks ? `  ${style.yellow(`failed checks ${view.failedChecks}/${view.threshold}`)}` : ""
    }`,
    `${label("traffic")}${trafficBar(weight, 20, style)}`,
    ...(view.measured ? [`${label("measured")}${measuredLine(view.measured, style)}`] : []),
    `${label("pods")}${deploymentLine(view.primary, style)}  ${style.dim("|")}  ${deploymentLine(view.canary, style)}`,
  ];
  const checks = view.checks ?? [];
  if (checks.length === 0) {
    lines.push(`${label("checks")}${style.dim("none in this analysis yet")}`);
  } else {
    formatChecks(checks, style).forEach((line, i) => {
      lines.push(`${label(i === 0 ? "checks" : "")}${line}`);
    });
  }
  const fitted = lines.map((l) => truncate(`  ${l}`, opts.width - 1));
  if (view.message) fitted.push(...wrapUnder(`  ${label("status")}`, view.message, opts.width - 1));
  return fitted;
}

/** The status as one line, for logs: printed whenever it changes. */
export function statusLine(view: CanaryView, style: Style): string {
  const parts = [
    `phase ${phaseLabel(view.phase, style)} (${view.release})`,
    `canary weight ${view.canaryWeight ?? 0}%`,
  ];
  if (view.failedChecks) parts.push(`failed checks ${view.failedChecks}/${view.threshold}`);
  if (view.checks?.length) parts.push(view.checks.map((c) => checkInline(c, style)).join(", "));
  return parts.join(" | ");
}

/** An Event as one line shows it (a Canary's Event, or the demo's). */
export interface EventLineInput {
  type: string;
  reason: string;
  message: string;
  /** Times the controller repeated it. */
  count: number;
}

/** "Warning RolledBack: Canary failed! ... (x2)". */
export function eventBody(e: EventLineInput, style: Style): string {
  const type = e.type === "Warning" ? style.yellow("Warning") : style.dim("Normal ");
  return `${type} ${eventText({ ...e, reason: style.bold(e.reason) })}`;
}

/** An Event in a log: "event Warning RolledBack: ...". */
export function eventLine(e: EventLineInput, style: Style): string {
  return `${style.dim("event")} ${eventBody(e, style)}`;
}

/** Where the demo's output goes: the terminal (status block redrawn in place) or a log (lines). */
export interface Renderer {
  /** A line that stays (a step of the demo, an event). */
  log(line: string): void;
  /** The latest status; a terminal redraws the block, a log prints a line when it changed. */
  status(view: CanaryView | undefined): void;
  /** Redraws time-dependent parts (the clock); nothing without a terminal. */
  tick(): void;
  /** Leaves the last status block on screen and restores the cursor. */
  close(): void;
}

export interface RendererOptions {
  write: (s: string) => void;
  style: Style;
  now?: () => number;
  startedAt: number;
}

/** Status block at the bottom of the terminal, redrawn in place; log lines scroll above it. */
export class TtyRenderer implements Renderer {
  readonly #opts: RendererOptions & { columns: () => number };
  #view: CanaryView | undefined;
  #drawn = 0;
  #closed = false;

  constructor(opts: RendererOptions & { columns: () => number }) {
    this.#opts = opts;
    opts.write("\x1b[?25l");
  }

  log(line: string): void {
    this.#draw([line]);
  }

  status(view: CanaryView | undefined): void {
    this.#view = view;
    this.#draw([]);
  }

  tick(): void {
    if (this.#view) this.#draw([]);
  }

  close(): void {
    if (this.#closed) return;
    this.#draw([]);
    this.#closed = true;
    this.#view = undefined;
    this.#drawn = 0;
    this.#opts.write("\x1b[?25h");
  }

  #draw(logLines: string[]): void {
    if (this.#closed && logLines.length === 0) return;
    const now = (this.#opts.now ?? Date.now)();
    const block =
      this.#view && !this.#closed
        ? statusBlock(this.#view, {
            style: this.#opts.style,
            width: this.#opts.columns(),
            elapsedMs: now - this.#opts.startedAt,
          })
        : [];
    const stamp = this.#opts.style.dim(clock(now - this.#opts.startedAt));
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}F\x1b[J` : "";
    // A long line wraps under its own text, not at column 0 in the middle of a word.
    for (const line of logLines)
      out += `${wrapUnder(`${stamp} `, line, this.#opts.columns() - 1).join("\n")}\n`;
    for (const line of block) out += `${line}\n`;
    this.#drawn = block.length;
    this.#opts.write(out);
  }
}

/** One line per change, with the elapsed time: for CI logs and pipes. */
export class PlainRenderer implements Renderer {
  readonly #opts: RendererOptions;
  #last = "";

  constructor(opts: RendererOptions) {
    this.#opts = opts;
  }

  log(line: string): void {
    const now = (this.#opts.now ?? Date.now)();
    this.#opts.write(`${clock(now - this.#opts.startedAt)} ${line}\n`);
  }

  status(view: CanaryView | undefined): void {
    if (!view) return;
    const line = statusLine(view, this.#opts.style);
    if (line === this.#last) return;
    this.#last = line;
    this.log(`${this.#opts.style.dim("status")} ${line}`);
  }

  tick(): void {}

  close(): void {}
}
