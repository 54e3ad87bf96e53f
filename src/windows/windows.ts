/**
 * Promotion and freeze windows: when a release that passed its analysis may be promoted. A window
 * opens each time its cron schedule fires (in its IANA time zone, so openings follow daylight saving
 * time) and stays open for its duration, counted in real time. Pure: the time is always an argument.
 */
import { CronTime } from "cron";
import type { TimeWindow } from "../api/canary.ts";
import { parseDuration } from "../api/common.ts";

/** How many freeze ends and window openings nextPromotion follows before it gives up. */
const MAX_HOPS = 200;
/** Openings further away than this are reported as "none". */
const HORIZON_MS = 366 * 24 * 3_600_000;

export type WindowField = "promotionWindows" | "freezeWindows";

export interface WindowState {
  /** Promotion may happen now. */
  allowed: boolean;
  /** Why not, for people ("in freeze window ..."); undefined when allowed. */
  reason?: string;
  /** The first time promotion will be allowed; undefined when allowed now or none within a year. */
  nextOpening?: Date;
}

class Window {
  readonly #cron: CronTime;
  readonly #zone: string;
  readonly durationMs: number;
  readonly label: string;

  constructor(w: TimeWindow, label: string) {
    this.#zone = w.timeZone ?? "UTC";
    this.#cron = new CronTime(w.schedule, this.#zone);
    this.durationMs = parseDuration(w.duration);
    this.label = `${label} (${w.schedule}, ${w.duration}, ${this.#zone})`;
  }

  /** The opening of the window that covers `t`, if one does (the earliest, when openings overlap). */
  openSince(t: Date): Date | undefined {
    const opening = this.next(new Date(t.getTime() - this.durationMs));
    return opening.getTime() <= t.getTime() ? opening : undefined;
  }

  /** The first opening strictly after `t`. */
  next(t: Date): Date {
    return this.#cron.getNextDateFrom(t, this.#zone).toJSDate();
  }
}

/** Problems of one window for `kanaria validate` and the controller: field path and message. */
export function windowProblems(w: TimeWindow): { field: keyof TimeWindow; message: string }[] {
  const problems: { field: keyof TimeWindow; message: string }[] = [];
  const zone = w.timeZone ?? "UTC";
  if (!isTimeZone(zone)) {
    problems.push({
      field: "timeZone",
      message: `unknown time zone ${JSON.stringify(zone)}: use an IANA name such as Europe/Berlin or UTC`,
    });
  }
  const cron = CronTime.validateCronExpression(w.schedule);
  if (!cron.valid) {
    problems.push({
      field: "schedule",
      message: `invalid cron expression ${JSON.stringify(w.schedule)}: ${cron.error?.message ?? "cannot be parsed"} (use 5 fields, e.g. "0 9 * * 1-5")`,
    });
  }
  try {
    if (parseDuration(w.duration) <= 0)
      problems.push({ field: "duration", message: "must be longer than 0s" });
  } catch (err) {
    problems.push({ field: "duration", message: (err as Error).message });
  }
  return problems;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function build(windows: TimeWindow[] | undefined, field: WindowField): Window[] | string {
  const built: Window[] = [];
  for (const [i, w] of (windows ?? []).entries()) {
    const problem = windowProblems(w)[0];
    if (problem) return `analysis.${field}[${i}].${problem.field}: ${problem.message}`;
    built.push(new Window(w, `${field === "freezeWindows" ? "freeze" : "promotion"} window ${i}`));
  }
  return built;
}

/**
 * Whether promotion is allowed at `now`: inside a promotion window (or none is set) and in no freeze.
 * An invalid window never allows promotion (the reason names the field).
 */
export function promotionWindowState(
  promotionWindows: TimeWindow[] | undefined,
  freezeWindows: TimeWindow[] | undefined,
  now: Date,
): WindowState {
  const allowedIn = build(promotionWindows, "promotionWindows");
  const freezes = build(freezeWindows, "freezeWindows");
  if (typeof allowedIn === "string") return { allowed: false, reason: allowedIn };
  if (typeof freezes === "string") return { allowed: false, reason: freezes };
  const reason = blockedBy(allowedIn, freezes, now);
  if (reason === undefined) return { allowed: true };
  const nextOpening = nextAllowed(allowedIn, freezes, now);
  return nextOpening ? { allowed: false, reason, nextOpening } : { allowed: false, reason };
}

function blockedBy(allowedIn: Window[], freezes: Window[], t: Date): string | undefined {
  const freeze = freezes.find((f) => f.openSince(t));
  if (freeze) return `in ${freeze.label}`;
  if (allowedIn.length > 0 && !allowedIn.some((w) => w.openSince(t))) return "outside the promotion windows";
  return undefined;
}

/** Hops over freezes (to their latest end) and closed promotion windows (to their next opening). */
function nextAllowed(allowedIn: Window[], freezes: Window[], now: Date): Date | undefined {
  let t = now;
  for (let hop = 0; hop < MAX_HOPS && t.getTime() - now.getTime() <= HORIZON_MS; hop++) {
    const freezeEnds = freezes.flatMap((f) => {
      const since = f.openSince(t);
      return since ? [since.getTime() + f.durationMs] : [];
    });
    if (freezeEnds.length > 0) {
      t = new Date(Math.max(...freezeEnds));
      continue;
    }
    if (allowedIn.length > 0 && !allowedIn.some((w) => w.openSince(t))) {
      t = new Date(Math.min(...allowedIn.map((w) => w.next(t).getTime())));
      continue;
    }
    return t;
  }
  return undefined;
}
