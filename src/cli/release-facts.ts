/**
 * The facts of a release in the words every view of kanaria uses (`kanaria status`, its --watch,
 * `kanaria dashboard`): what happened to the revision under analysis, its traffic, its checks, what
 * holds it, and its Events in the order they happened. Plain text and a tone; each view colors them
 * its own way. Pure: the callers read the Canary and its Events, this only reads them.
 */
import type { Canary, CheckStatus, Phase } from "../api/canary.ts";
import { type ResolvedCanary, resolveCanary } from "../api/defaults.ts";
import { promotionWindowState } from "../windows/windows.ts";

/** How a fact reads at a glance: good news, bad news, needs a look, under way, or settled and quiet. */
export type Tone = "ok" | "bad" | "warn" | "active" | "quiet";

/** One Event of a Canary as the views show it; `time` is when it (last) happened. */
export interface EventRecord {
  type: string;
  reason: string;
  message: string;
  /** Times the controller recorded it (a repeat bumps the count instead of adding an Event). */
  count: number;
  time: string;
}

/** A core/v1 Event as the API server returns it: the fields that say what and when. */
export interface RawEvent {
  metadata?: { name?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  series?: { count?: number; lastObservedTime?: string | null } | null;
}

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** Microseconds since the epoch of a metav1.Time or MicroTime; undefined when it is none. */
export function micros(time: string | null | undefined): number | undefined {
  const m = time ? ISO.exec(time) : null;
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return seconds * 1000 + Number((m[2] ?? "").padEnd(6, "0").slice(0, 6));
}

/**
 * When an Event (last) happened, as precisely as it says: core/v1 timestamps have whole seconds,
 * eventTime and series.lastObservedTime microseconds (kanaria's recorder makes them strictly
 * increasing, so the Events of one decision keep the order they were decided in).
 */
export function occurredAt(e: RawEvent): string {
  let best: { time: string; us: number } | undefined;
  for (const time of [e.series?.lastObservedTime, e.lastTimestamp, e.eventTime, e.firstTimestamp]) {
    const us = micros(time);
    if (time && us !== undefined && (best === undefined || us > best.us)) best = { time, us };
  }
  return best?.time ?? "";
}

function firstOccurred(e: RawEvent): number {
  return micros(e.eventTime) ?? micros(e.firstTimestamp) ?? -1;
}

/** Oldest first: by when each (last) happened, then when it first happened, then by name. */
export function compareEvents(a: RawEvent, b: RawEvent): number {
  return (
    (micros(occurredAt(a)) ?? -1) - (micros(occurredAt(b)) ?? -1) ||
    firstOccurred(a) - firstOccurred(b) ||
    (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "")
  );
}

/** The Events as the views show them, oldest first. */
export function eventRecords(events: RawEvent[]): EventRecord[] {
  return [...events].sort(compareEvents).map((e) => ({
    type: String(e.type ?? ""),
    reason: String(e.reason ?? ""),
    message: String(e.message ?? ""),
    count: Number(e.series?.count ?? e.count ?? 1),
    time: occurredAt(e),
  }));
}

/** "RolledBack: Canary failed! Rolling back podinfo.test: ... (x3)". */
export function eventText(e: Pick<EventRecord, "reason" | "message" | "count">): string {
  return `${e.reason}: ${e.message}${e.count > 1 ? ` (x${e.count})` : ""}`;
}

/** The phases of a release under way, from the new revision until it is promoted or rolled back. */
export const IN_FLIGHT: readonly Phase[] = [
  "Waiting",
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
];

export function inFlight(phase: string | undefined): boolean {
  return (IN_FLIGHT as readonly string[]).includes(phase ?? "");
}

/** Events that start a revision's story: the Events after the last of them are about this revision. */
const REVISION_STARTS = new Set(["Initialized", "NewRevision", "Retrying", "Reverted"]);

/** The Events of the revision under analysis (all of them when its first Event has expired). */
export function revisionEvents(events: EventRecord[]): EventRecord[] {
  const start = events.findLastIndex((e) => REVISION_STARTS.has(e.reason));
  return start < 0 ? events : events.slice(start);
}

/** How far the revision got, from its Events: the last canary weight or iteration it advanced to. */
export interface Reached {
  weight?: number;
  iteration?: number;
  /** Its Events are there from the start of the revision (they expire after an hour). */
  fromStart: boolean;
  reverted: boolean;
}

export function reached(events: EventRecord[]): Reached {
  const mine = revisionEvents(events);
  const out: Reached = {
    fromStart: mine[0] !== undefined && REVISION_STARTS.has(mine[0].reason),
    reverted: mine[0]?.reason === "Reverted",
  };
  for (const e of mine) {
    if (e.reason !== "Progressing") continue;
    const weight = / canary weight (\d+)$/.exec(e.message);
    if (weight) out.weight = Number(weight[1]);
    const iteration = / canary iteration (\d+)\/\d+$/.exec(e.message);
    if (iteration) out.iteration = Number(iteration[1]);
  }
  return out;
}

type CanaryLike = Pick<Canary, "spec" | "status"> & {
  metadata: { name: string; namespace?: string };
};

/**
 * The Canary's settings as its controller runs them: with the router it reports in status.router. A
 * status from before that field: as written (every router but kubernetes keeps the strategy written).
 */
export function resolveAsRun(canary: CanaryLike): ResolvedCanary {
  return resolveCanary(canary.spec, canary.status?.router ?? "nginx");
}

/** What happened to the revision under analysis, or where it is: "rolled back at 20%", "promoted after 60%". */
export function releaseLabel(canary: CanaryLike, events: EventRecord[]): string {
  const status = canary.status ?? {};
  const resolved = resolveAsRun(canary);
  const canaryStrategy = resolved.strategy === "canary";
  const r = reached(events);
  const weight = status.canaryWeight ?? 0;
  const iterations = resolved.iterations;
  switch (status.phase) {
    case undefined:
      return "not reconciled yet";
    case "Initializing":
      return "initializing";
    case "Initialized":
      return "initialized, no release yet";
    case "Waiting":
      return "waiting to start";
    case "Progressing":
      if (!canaryStrategy) return `iteration ${(status.iterations ?? 0) + 1} of ${iterations}`;
      return weight > 0 ? `at ${weight}%, up to ${resolved.maxWeight}%` : "starting, no traffic yet";
    case "WaitingPromotion":
      return canaryStrategy
        ? `passed at ${weight}%, waiting to promote`
        : `passed ${iterations} iteration${iterations === 1 ? "" : "s"}, waiting to promote`;
    case "Promoting":
    case "Finalising":
    case "Succeeded": {
      const verb = { Promoting: "promoting", Finalising: "promoted, finalising", Succeeded: "promoted" }[
        status.phase
      ];
      if (r.reverted) return "back at the promoted revision";
      if (canaryStrategy && r.weight !== undefined) return `${verb} after ${r.weight}%`;
      if (!canaryStrategy && r.iteration !== undefined)
        return `${verb} after ${r.iteration} iteration${r.iteration === 1 ? "" : "s"}`;
      return verb;
    }
    case "Failed":
      if (canaryStrategy && r.weight !== undefined) return `rolled back at ${r.weight}%`;
      if (!canaryStrategy && (r.iteration !== undefined || r.fromStart))
        return `rolled back at iteration ${(r.iteration ?? 0) + 1} of ${iterations}`;
      return r.fromStart ? "rolled back before any traffic" : "rolled back";
    case "Terminating":
      return "Canary deleted, restoring the target";
  }
}

export function phaseTone(phase: string | undefined, suspended = false): Tone {
  if (suspended) return "warn";
  if (phase === "Failed") return "bad";
  if (phase === "Succeeded" || phase === "Initialized") return "ok";
  if (phase === "WaitingPromotion" || phase === "Waiting") return "warn";
  if (inFlight(phase)) return "active";
  return "quiet";
}

/** "20%". */
export function weightText(weight: number): string {
  return `${weight}%`;
}

/** The canary's share of `cells` cells: "██░░░░░░░░" is 20%. */
export function weightBar(weight: number, cells = 10): string {
  const filled = Math.max(0, Math.min(cells, Math.round((weight / 100) * cells)));
  return "█".repeat(filled) + "░".repeat(cells - filled);
}

/** "1/2": failed checks of this revision against the rollback threshold. */
export function failedChecksText(failed: number, threshold: number): string {
  return `${failed}/${threshold}`;
}

export function failedChecksTone(failed: number, threshold: number): Tone {
  if (failed >= threshold) return "bad";
  return failed > 0 ? "warn" : "quiet";
}

export function checkResultText(result: CheckStatus["result"]): string {
  return { pass: "pass", fail: "FAIL", nodata: "no data", error: "error" }[result];
}

export function checkResultTone(result: CheckStatus["result"]): Tone {
  return { pass: "ok", fail: "bad", nodata: "warn", error: "bad" }[result] as Tone;
}

export function rangeText(range: CheckStatus["thresholdRange"]): string {
  if (range?.min !== undefined && range.max !== undefined) return `${range.min}..${range.max}`;
  if (range?.min !== undefined) return `min ${range.min}`;
  if (range?.max !== undefined) return `max ${range.max}`;
  return "no range";
}

export function valueText(value: number | undefined): string {
  return value === undefined ? "-" : value.toFixed(2);
}

/** One check on one line: "request-success-rate 89.90 (min 99) FAIL". */
export function checkText(c: CheckStatus): string {
  return `${c.name} ${valueText(c.value)} (${rangeText(c.thresholdRange)}) ${checkResultText(c.result)}`;
}

/**
 * What holds the release, each as "what: why": spec.suspend, a confirm-* gate of this revision that
 * has not said yes, or (passed and waiting to promote) a promotion or freeze window. Empty when
 * nothing does, and for a settled release (a gate's old answer holds nothing then).
 */
export function holding(canary: CanaryLike, now: Date): string[] {
  const status = canary.status ?? {};
  const out: string[] = [];
  if (canary.spec.suspend) out.push("suspended: spec.suspend is true");
  if (!inFlight(status.phase)) return out;
  const answers = (status.webhooks ?? []).filter(
    (w) => w.type.startsWith("confirm-") && w.revision === status.lastAppliedSpec,
  );
  for (const w of answers.filter((a) => a.result !== "pass")) out.push(`${w.type} ${w.name}: ${w.message}`);
  const pendingType = { Waiting: "confirm-rollout", WaitingPromotion: "confirm-promotion" }[
    status.phase as "Waiting" | "WaitingPromotion"
  ];
  for (const hook of canary.spec.analysis.webhooks ?? []) {
    if (!pendingType || hook.type !== pendingType) continue;
    if (!answers.some((a) => a.name === hook.name && a.type === hook.type))
      out.push(`${hook.type} ${hook.name}: not answered yet`);
  }
  if (status.phase === "WaitingPromotion" && out.length === 0) {
    const { promotionWindows, freezeWindows } = canary.spec.analysis;
    const w = promotionWindowState(promotionWindows, freezeWindows, now);
    if (!w.allowed)
      out.push(
        `${w.reason}${w.nextOpening ? `: opens ${w.nextOpening.toISOString().replace(".000Z", "Z")}` : ""}`,
      );
  }
  return out;
}

/** Age as kubectl prints it: "45s", "3m12s", "25m", "4h10m", "3d". */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ""}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60 ? `${m % 60}m` : ""}`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** Everything one line or one card about a Canary says. */
export interface ReleaseFacts {
  namespace: string;
  name: string;
  /** status.phase, or "" before the controller has seen the Canary. */
  phase: string;
  suspended: boolean;
  /** What happened to (or where is) the revision under analysis. */
  label: string;
  tone: Tone;
  revision?: string;
  weight: number;
  maxWeight: number;
  failedChecks: number;
  threshold: number;
  checks: CheckStatus[];
  holding: string[];
  /** The Promoted condition's message: what the controller is doing or waiting for. */
  message: string;
  lastTransitionTime?: string;
  lastEvent?: EventRecord;
  inFlight: boolean;
}

/** The facts of one Canary from its object and its Events (oldest first, see eventRecords). */
export function releaseFacts(canary: CanaryLike, events: EventRecord[], now: Date): ReleaseFacts {
  const status = canary.status ?? {};
  const resolved = resolveAsRun(canary);
  const suspended = canary.spec.suspend === true;
  // The drain's scale-down comes after the rollback or promotion that people need to see.
  const lastEvent = events.findLast((e) => e.reason !== "Drained");
  return {
    namespace: canary.metadata.namespace ?? "",
    name: canary.metadata.name,
    phase: status.phase ?? "",
    suspended,
    label: releaseLabel(canary, events),
    tone: phaseTone(status.phase, suspended),
    ...(status.lastAppliedSpec ? { revision: status.lastAppliedSpec } : {}),
    weight: status.canaryWeight ?? 0,
    maxWeight: resolved.maxWeight,
    failedChecks: status.failedChecks ?? 0,
    threshold: resolved.threshold,
    checks: status.checks ?? [],
    holding: holding(canary, now),
    message: status.conditions?.find((c) => c.type === "Promoted")?.message ?? "",
    ...(status.lastTransitionTime ? { lastTransitionTime: status.lastTransitionTime } : {}),
    ...(lastEvent ? { lastEvent } : {}),
    inFlight: inFlight(status.phase),
  };
}

/** Releases in flight first, then failed ones, then the settled; by namespace and name within each. */
export function compareReleases(a: ReleaseFacts, b: ReleaseFacts): number {
  const rank = (f: ReleaseFacts) => (f.inFlight ? 0 : f.phase === "Failed" ? 1 : 2);
  return rank(a) - rank(b) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}
