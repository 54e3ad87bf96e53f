/**
 * The transitions of one decision become alerts in the Canary's status (the outbox), written in the
 * same status write that records the transitions: an alert exists exactly when its transition was
 * stored, and the delivery queue records each provider's outcome next to it. Pure.
 */
import type { AlertKind, AlertRecord, RollbackCause, Severity } from "../api/alert-outbox.ts";
import type { CanarySpec, CanaryStatus, CheckStatus } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { CanaryEvent } from "../api/events.ts";

/** Finished alerts kept in the status beyond the pending ones (the newest). */
export const KEEP_FINISHED = 10;

const RANK: Record<Severity, number> = { info: 0, warn: 1, error: 2 };

/** Flagger's filter: info gets everything, warn gets warn and error, error gets error only. */
export function passesFilter(alert: Severity, least: Severity | undefined): boolean {
  return RANK[alert] >= RANK[least ?? "info"];
}

export interface ProviderRef {
  namespace: string;
  name: string;
}

export interface OutboxInput {
  namespace: string;
  spec: CanarySpec;
  resolved: ResolvedCanary;
  before: CanaryStatus;
  after: CanaryStatus;
  events: CanaryEvent[];
  now: Date;
  images: { canary: string[]; primary: string[] };
  /** --alert-provider: for Canaries without analysis.alerts. */
  defaultProvider: ProviderRef | undefined;
}

interface Transition {
  kind: AlertKind;
  severity: Severity;
  message: string;
  cause?: RollbackCause | undefined;
}

/** The status to write: `after` with the alerts for this decision's transitions appended. */
export function withAlerts(input: OutboxInput): CanaryStatus {
  const records = transitions(input).flatMap((t) => {
    const deliveries = recipients(input, t).map((provider) => ({ provider, state: "pending" as const }));
    return deliveries.length > 0 ? [{ ...record(input, t), deliveries }] : [];
  });
  if (records.length === 0) return input.after;
  const existing = input.after.alerts ?? [];
  const ids = new Set(existing.map((a) => a.id));
  for (const r of records) {
    let id = r.id;
    for (let n = 2; ids.has(id); n++) id = `${r.id}-${n}`;
    r.id = id;
    ids.add(id);
  }
  return { ...input.after, alerts: trim([...existing, ...records]) };
}

function transitions(input: OutboxInput): Transition[] {
  const out: Transition[] = [];
  const { before, after } = input;
  for (const e of input.events) {
    if (e.muteAlert) continue;
    const t = fromEvent(e);
    if (t) out.push(t);
  }
  const stepped =
    after.phase === "Progressing" &&
    (after.canaryWeight !== before.canaryWeight || after.iterations !== before.iterations) &&
    ((after.canaryWeight ?? 0) > 0 || (after.iterations ?? 0) > 0);
  if (stepped) {
    const advance = input.events.filter((e) => e.reason === "Progressing").at(-1);
    out.push({ kind: "Step", severity: "info", message: advance?.message ?? "analysis step" });
  }
  const waitingFor = waitingApproval(input);
  if (waitingFor) out.push({ kind: "WaitingApproval", severity: "warn", message: waitingFor.message });
  return out;
}

/**
 * A gate (confirm-rollout, confirm-promotion) or a promotion window holds the release: once per
 * revision and phase, and never when the webhook that holds it has muteAlert.
 */
function waitingApproval({ after, events }: OutboxInput): CanaryEvent | undefined {
  if (after.phase !== "Waiting" && after.phase !== "WaitingPromotion") return undefined;
  const waiting = events.find((e) => e.reason === "Waiting");
  if (!waiting || events.some((e) => e.muteAlert)) return undefined;
  const told = (after.alerts ?? []).some(
    (a) =>
      a.kind === "WaitingApproval" && a.phase === after.phase && a.canary?.hash === after.lastAppliedSpec,
  );
  return told ? undefined : waiting;
}

function fromEvent(e: CanaryEvent): Transition | undefined {
  switch (e.reason) {
    case "NewRevision":
      return { kind: "NewRevision", severity: "info", message: e.message };
    case "Succeeded":
      return { kind: "Promoted", severity: "info", message: e.message };
    case "CheckFailed":
    case "NoData":
    case "MetricsUnavailable":
      return { kind: "Halted", severity: "warn", message: e.message };
    case "RolledBack":
      return { kind: "RolledBack", severity: "error", message: e.message, cause: e.cause };
    case "Drift":
      return { kind: "Drift", severity: "warn", message: e.message };
    default:
      return undefined;
  }
}

/** AlertProviders (namespace/name) that take this alert, each once. */
function recipients(input: OutboxInput, t: Transition): string[] {
  const configured = input.spec.analysis.alerts ?? [];
  const wanted =
    configured.length > 0
      ? configured
          .filter((a) => passesFilter(t.severity, a.severity))
          .filter((a) => t.kind !== "Step" || a.steps === true)
          .map((a) => `${a.providerRef.namespace ?? input.namespace}/${a.providerRef.name}`)
      : input.defaultProvider && t.kind !== "Step"
        ? [`${input.defaultProvider.namespace}/${input.defaultProvider.name}`]
        : [];
  return [...new Set(wanted)];
}

function record(input: OutboxInput, t: Transition): Omit<AlertRecord, "deliveries"> {
  const { before, after, resolved } = input;
  // A rollback zeroes the weight; the message reports the one reached.
  const source = t.kind === "RolledBack" ? before : after;
  const step = stepOf(source, resolved);
  const checks = t.kind === "Halted" || t.cause === "failed-checks" ? failing(after.checks ?? []) : [];
  const started = t.kind === "NewRevision" ? undefined : releaseStart(before);
  const revision = after.lastAppliedSpec ?? "none";
  const stepKey = t.kind === "NewRevision" ? "0" : `${step.step ?? 0}.${after.failedChecks ?? 0}`;
  return {
    id: `${revision.slice(0, 12)}-${t.kind}-${stepKey}`,
    kind: t.kind,
    severity: t.severity,
    time: input.now.toISOString(),
    message: t.message,
    ...(after.phase ? { phase: after.phase } : {}),
    ...(t.cause ? { cause: t.cause } : {}),
    canary: { hash: after.lastAppliedSpec, images: input.images.canary },
    primary: { hash: after.lastPromotedSpec, images: input.images.primary },
    ...(t.kind === "Promoted" || t.kind === "NewRevision" ? {} : { weight: source.canaryWeight ?? 0 }),
    ...step,
    ...(t.kind === "Halted" || t.kind === "RolledBack"
      ? { failedChecks: after.failedChecks ?? 0, threshold: resolved.threshold }
      : {}),
    ...(started !== undefined
      ? { durationSeconds: Math.max(0, Math.round((input.now.getTime() - started) / 1000)) }
      : {}),
    ...(checks.length > 0 ? { checks } : {}),
  };
}

/** The step reached: its index among the weights (canary) or the iteration (blue/green, A/B). */
function stepOf(status: CanaryStatus, resolved: ResolvedCanary): { step?: number; steps?: number } {
  if (resolved.strategy === "canary") {
    const weight = status.canaryWeight ?? 0;
    if (weight === 0) return {};
    const index = resolved.stepWeights.indexOf(weight);
    return index >= 0 ? { step: index + 1, steps: resolved.stepWeights.length } : {};
  }
  return status.iterations ? { step: status.iterations, steps: resolved.iterations } : {};
}

function failing(checks: CheckStatus[]): NonNullable<AlertRecord["checks"]> {
  return checks
    .filter((c) => c.result === "fail" || c.result === "error" || c.result === "nodata")
    .map(({ time: _, ...c }) => c);
}

/** kstatus' Reconciling condition turned True when the release began (and stays True until it ends). */
function releaseStart(before: CanaryStatus): number | undefined {
  const reconciling = before.conditions?.find((c) => c.type === "Reconciling");
  if (reconciling?.status !== "True" || !reconciling.lastTransitionTime) return undefined;
  const ms = Date.parse(reconciling.lastTransitionTime);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Keeps every pending alert and the newest finished ones, so the status stays small. */
function trim(alerts: AlertRecord[]): AlertRecord[] {
  const pending = (a: AlertRecord) => a.deliveries.some((d) => d.state === "pending");
  const finished = alerts.filter((a) => !pending(a));
  const dropped = new Set(finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED)));
  return alerts.filter((a) => !dropped.has(a));
}

/** The pending deliveries of a stored status, as (alert, provider) pairs. */
export function pendingDeliveries(
  status: CanaryStatus | undefined,
): { alert: AlertRecord; provider: string }[] {
  return (status?.alerts ?? []).flatMap((alert) =>
    alert.deliveries.filter((d) => d.state === "pending").map((d) => ({ alert, provider: d.provider })),
  );
}
