/**
 * The canary state machine as one pure function: (Canary spec + status, observations, now) ->
 * (next status, events, whether metric checks are needed, when to look again). It never talks to
 * Kubernetes; the reconciler observes, calls it, persists the status and then converges the cluster
 * to that status (see desired.ts), so a restart at any point resumes from the stored status.
 */
import type { CanarySpec, CanaryStatus, CheckStatus, Phase } from "../api/canary.ts";
import type { RollbackCause } from "../api/alert-outbox.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import { type RouterCapabilities, unsupportedRouting } from "../routers/capabilities.ts";
import { conditionsFor } from "./conditions.ts";
import type { Observations } from "./observations.ts";

export interface CanaryEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /** Why a RolledBack event rolled back, for the alert that reports it. */
  cause?: RollbackCause;
  /** Send no alert for this event (a webhook's muteAlert). */
  muteAlert?: boolean;
}

export interface DecideInput {
  name: string;
  namespace: string;
  generation: number | undefined;
  deleting: boolean;
  spec: CanarySpec;
  status: CanaryStatus;
  resolved: ResolvedCanary;
  /** What the Canary's router can do; a Canary asking for more is blocked before traffic moves. */
  capabilities: RouterCapabilities;
  observed: Observations;
}

export interface Decision {
  status: CanaryStatus;
  events: CanaryEvent[];
  /** The step is due: run the metric checks and call decide again with observed.checks set. */
  needsChecks: boolean;
  /** The analysis is about to start: check the metric providers and call again with observed.offlineProviders. */
  needsPreflight: boolean;
  requeueAfterMs: number;
}

/** How often to look again while waiting for pods; informer events usually come sooner. */
export const WAIT_POLL_MS = 5_000;

interface Ctx {
  in: DecideInput;
  status: CanaryStatus;
  events: CanaryEvent[];
  message: string;
  requeueAfterMs: number;
  needsChecks: boolean;
  needsPreflight: boolean;
  nowIso: string;
  nowMs: number;
  blocker: Observations["blocker"];
  /** "podinfo.test": how Flagger names objects in messages. */
  target: string;
  primary: string;
}

export function decide(input: DecideInput): Decision {
  const ctx = newCtx(input);
  if (input.deleting) terminating(ctx);
  else if (input.spec.suspend) suspended(ctx);
  else if (ctx.blocker || !input.observed.target) blocked(ctx);
  else advance(ctx);
  return finish(ctx);
}

function newCtx(input: DecideInput): Ctx {
  const now = input.observed.now;
  return {
    in: input,
    status: { ...input.status },
    events: [],
    message: conditionMessage(input.status),
    requeueAfterMs: input.resolved.intervalMs,
    needsChecks: false,
    needsPreflight: false,
    nowIso: now.toISOString(),
    nowMs: now.getTime(),
    blocker:
      input.deleting || input.spec.suspend
        ? undefined
        : (input.observed.blocker ??
          unsupportedRouting(input.spec, input.resolved, input.resolved.provider, input.capabilities)),
    target: `${input.spec.targetRef.name}.${input.namespace}`,
    primary: `${input.spec.targetRef.name}-primary.${input.namespace}`,
  };
}

function conditionMessage(status: CanaryStatus): string {
  return status.conditions?.find((c) => c.type === "Promoted")?.message ?? "";
}

function finish(ctx: Ctx): Decision {
  const { status, in: input } = ctx;
  if (status.phase) {
    status.conditions = conditionsFor(
      status.phase,
      ctx.message,
      input.generation,
      ctx.nowIso,
      input.status.conditions,
      ctx.blocker,
    );
  }
  status.observedGeneration = input.generation;
  return {
    status,
    events: ctx.events,
    needsChecks: ctx.needsChecks,
    needsPreflight: ctx.needsPreflight,
    requeueAfterMs: ctx.requeueAfterMs,
  };
}

function setPhase(ctx: Ctx, phase: Phase, message: string): void {
  if (ctx.status.phase !== phase) ctx.status.lastTransitionTime = ctx.nowIso;
  ctx.status.phase = phase;
  ctx.message = message;
}

function event(ctx: Ctx, reason: string, message: string, type: CanaryEvent["type"] = "Normal"): void {
  ctx.events.push({ type, reason, message });
}

function terminating(ctx: Ctx): void {
  if (!ctx.in.spec.revertOnDeletion) return;
  if (ctx.status.phase !== "Terminating") {
    event(ctx, "Terminating", `Canary deleted: restoring ${ctx.target} and its Service`);
  }
  setPhase(ctx, "Terminating", `restoring ${ctx.target}`);
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

function suspended(ctx: Ctx): void {
  ctx.message = `suspended in phase ${ctx.status.phase ?? "(none)"}: set spec.suspend to false to resume`;
}

function blocked(ctx: Ctx): void {
  const blocker = ctx.blocker ?? {
    reason: "TargetNotFound",
    message: `Deployment ${ctx.target} not found: create it or fix spec.targetRef.name`,
  };
  // A blocked Canary keeps its phase (and its traffic) but reports why it cannot go on.
  if (!ctx.status.phase) ctx.status.phase = "Initializing";
  ctx.message = blocker.message;
  if (conditionMessage(ctx.in.status) !== blocker.message)
    event(ctx, blocker.reason, blocker.message, "Warning");
  ctx.blocker = blocker;
  ctx.requeueAfterMs = Math.min(ctx.in.resolved.intervalMs, 30_000);
}

function advance(ctx: Ctx): void {
  const phase = ctx.status.phase;
  if (phase === undefined || phase === "Initializing") {
    initializing(ctx);
    return;
  }
  if (phase === "Progressing" || phase === "Promoting" || phase === "Finalising") {
    if (revisionChanged(ctx)) return;
    if (phase === "Progressing") {
      progressing(ctx);
      return;
    }
    if (phase === "Promoting") {
      promoting(ctx);
      return;
    }
    finalising(ctx);
    return;
  }
  // Initialized, Succeeded, Failed, and phases kanaria does not enter yet.
  steady(ctx);
}

function targetObs(ctx: Ctx) {
  const target = ctx.in.observed.target;
  if (!target) throw new Error("decide: target observation missing (blocked() handles this)");
  return target;
}

function initializing(ctx: Ctx): void {
  const target = targetObs(ctx);
  const primary = ctx.in.observed.primary;
  if (ctx.status.phase !== "Initializing") {
    event(ctx, "Initializing", `Creating ${ctx.primary} and the Services for ${ctx.target}`);
  }
  const ready =
    primary !== undefined &&
    primary.revision === target.revision &&
    primary.rolloutComplete &&
    primary.readyPercent >= ctx.in.resolved.primaryReadyThreshold;
  if (!ready) {
    setPhase(
      ctx,
      "Initializing",
      `waiting for ${ctx.primary} to become ready (${primary?.readyPercent ?? 0}% ready)`,
    );
    ctx.requeueAfterMs = WAIT_POLL_MS;
    return;
  }
  Object.assign(ctx.status, {
    lastAppliedSpec: target.revision,
    lastPromotedSpec: target.revision,
    trackedConfigs: target.trackedConfigs,
    canaryWeight: 0,
    failedChecks: 0,
    iterations: 0,
  });
  setPhase(ctx, "Initialized", `${ctx.primary} serves all traffic; ${ctx.target} scaled to zero`);
  event(ctx, "Initialized", `Initialization done! ${ctx.target}`);
}

function steady(ctx: Ctx): void {
  const target = targetObs(ctx);
  if (target.revision === ctx.status.lastAppliedSpec) return;
  if (target.revision === ctx.status.lastPromotedSpec) {
    backAtPromoted(ctx);
    return;
  }
  startAnalysis(ctx);
}

/** The target went back to what the primary already runs: there is nothing to analyse. */
function backAtPromoted(ctx: Ctx): void {
  const target = targetObs(ctx);
  Object.assign(ctx.status, {
    lastAppliedSpec: target.revision,
    trackedConfigs: target.trackedConfigs,
    canaryWeight: 0,
    progressStartTime: undefined,
    lastStepTime: undefined,
  });
  const message = `${ctx.target} is back at the promoted revision ${target.revision}: nothing to analyse`;
  event(ctx, "Reverted", message);
  setPhase(ctx, ctx.status.phase === "Initialized" ? "Initialized" : "Succeeded", message);
}

function startAnalysis(ctx: Ctx): void {
  const target = targetObs(ctx);
  Object.assign(ctx.status, {
    lastAppliedSpec: target.revision,
    trackedConfigs: target.trackedConfigs,
    canaryWeight: 0,
    failedChecks: 0,
    iterations: 0,
    checks: undefined,
    lastStepTime: undefined,
    progressStartTime: ctx.nowIso,
  });
  if (ctx.in.spec.skipAnalysis) {
    event(
      ctx,
      "NewRevision",
      `New revision detected! skipAnalysis is set: promoting ${ctx.target} without analysis`,
    );
    promote(ctx, "skipAnalysis is set");
    return;
  }
  event(ctx, "NewRevision", `New revision detected! Scaling up ${ctx.target}`);
  setPhase(ctx, "Progressing", `new revision ${target.revision}: waiting for ${ctx.target} to become ready`);
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

/** A new revision during analysis or promotion restarts the analysis (or ends it, if it is the promoted one). */
function revisionChanged(ctx: Ctx): boolean {
  const target = targetObs(ctx);
  if (target.revision === ctx.status.lastAppliedSpec) return false;
  const primary = ctx.in.observed.primary;
  // Mid-promotion the primary may already run the revision that passed its analysis.
  if (primary?.revision !== undefined && primary.revision === ctx.status.lastAppliedSpec) {
    ctx.status.lastPromotedSpec = primary.revision;
  }
  if (target.revision === ctx.status.lastPromotedSpec) {
    backAtPromoted(ctx);
    return true;
  }
  event(
    ctx,
    "NewRevision",
    `New revision detected during ${ctx.status.phase}: restarting analysis of ${ctx.target}`,
  );
  startAnalysis(ctx);
  return true;
}

function canaryReady(ctx: Ctx): boolean {
  const target = targetObs(ctx);
  return (
    target.replicas > 0 &&
    target.rolloutComplete &&
    target.readyPercent >= ctx.in.resolved.canaryReadyThreshold
  );
}

/** Waits for a workload; past progressDeadlineSeconds it rolls back. Returns true while waiting. */
function waitingForReadiness(ctx: Ctx, ready: boolean, what: string, cause: RollbackCause): boolean {
  if (ready) {
    ctx.status.progressStartTime = undefined;
    return false;
  }
  const since = ctx.status.progressStartTime ?? ctx.nowIso;
  ctx.status.progressStartTime = since;
  const waitedMs = ctx.nowMs - Date.parse(since);
  const deadlineMs = ctx.in.resolved.progressDeadlineMs;
  if (waitedMs >= deadlineMs) {
    rollback(
      ctx,
      `${what} not ready after ${Math.round(waitedMs / 1000)}s (progressDeadlineSeconds ${deadlineMs / 1000})`,
      cause,
    );
    return true;
  }
  ctx.message = `waiting for ${what} to become ready (${Math.round(waitedMs / 1000)}s of ${deadlineMs / 1000}s)`;
  ctx.requeueAfterMs = Math.min(WAIT_POLL_MS, deadlineMs - waitedMs);
  return true;
}

function primaryReady(ctx: Ctx): boolean {
  const primary = ctx.in.observed.primary;
  return primary !== undefined && primary.readyPercent >= ctx.in.resolved.primaryReadyThreshold;
}

function progressing(ctx: Ctx): void {
  if (waitingForReadiness(ctx, canaryReady(ctx), ctx.target, "canary-not-ready")) return;
  if (!primaryReady(ctx)) {
    ctx.message = `holding: ${ctx.primary} is not ready`;
    ctx.requeueAfterMs = WAIT_POLL_MS;
    return;
  }
  if (ctx.status.lastStepTime === undefined) {
    firstStep(ctx);
    return;
  }
  if (waitingForStep(ctx)) return;
  const checks = ctx.in.observed.checks;
  if (checks === undefined) {
    ctx.needsChecks = true;
    ctx.requeueAfterMs = 0;
    return;
  }
  judge(ctx, checks);
}

/** Steps are analysis.interval apart; until the next one is due, look again exactly when it is. */
function waitingForStep(ctx: Ctx): boolean {
  const dueInMs = Date.parse(ctx.status.lastStepTime ?? ctx.nowIso) + ctx.in.resolved.intervalMs - ctx.nowMs;
  if (dueInMs <= 0) return false;
  ctx.requeueAfterMs = dueInMs;
  return true;
}

/**
 * No traffic goes to a canary that could not be judged: before the first step, every metric provider
 * must answer (Flagger's IsOnline check). Returns true while holding.
 */
function waitingForProviders(ctx: Ctx): boolean {
  if (ctx.in.resolved.metrics.length === 0) return false;
  const offline = ctx.in.observed.offlineProviders;
  if (offline === undefined) {
    ctx.needsPreflight = true;
    ctx.requeueAfterMs = 0;
    return true;
  }
  if (offline.length === 0) return false;
  const message = `holding ${ctx.target} at weight 0: metric providers unreachable: ${offline.join("; ")}`;
  if (ctx.message !== message) event(ctx, "MetricsUnavailable", message, "Warning");
  ctx.message = message;
  ctx.requeueAfterMs = Math.min(ctx.in.resolved.intervalMs, 30_000);
  return true;
}

function firstStep(ctx: Ctx): void {
  if (waitingForProviders(ctx)) return;
  const { resolved } = ctx.in;
  ctx.status.lastStepTime = ctx.nowIso;
  event(ctx, "Progressing", `Starting canary analysis for ${ctx.target}`);
  if (resolved.strategy === "canary") {
    const first = resolved.stepWeights[0] ?? resolved.maxWeight;
    ctx.status.canaryWeight = first;
    event(ctx, "Progressing", `Advance ${ctx.target} canary weight ${first}`);
    setPhase(ctx, "Progressing", `canary weight ${first}`);
  } else {
    setPhase(ctx, "Progressing", `iteration 0 of ${resolved.iterations}`);
  }
}

function failedChecks(ctx: Ctx, checks: CheckStatus[]): CheckStatus[] {
  const skipNoData = new Set(ctx.in.resolved.metrics.filter((m) => m.onNoData === "skip").map((m) => m.name));
  return checks.filter(
    (c) => c.result === "fail" || c.result === "error" || (c.result === "nodata" && !skipNoData.has(c.name)),
  );
}

function judge(ctx: Ctx, checks: CheckStatus[]): void {
  const { resolved } = ctx.in;
  ctx.status.checks = checks;
  ctx.status.lastStepTime = ctx.nowIso;
  const failed = failedChecks(ctx, checks);
  if (failed.length > 0) {
    const failures = (ctx.status.failedChecks ?? 0) + 1;
    ctx.status.failedChecks = failures;
    const why = failed.map((c) => c.message).join("; ");
    if (failures >= resolved.threshold) {
      rollback(ctx, `failed checks threshold reached ${failures}/${resolved.threshold}: ${why}`, "failed-checks");
      return;
    }
    event(
      ctx,
      "CheckFailed",
      `Halt ${ctx.target} advancement (failed checks ${failures}/${resolved.threshold}): ${why}`,
      "Warning",
    );
    ctx.message = `failed checks ${failures}/${resolved.threshold}: ${why}`;
    return;
  }
  const noData = checks.filter((c) => c.result === "nodata");
  if (resolved.strategy === "canary") advanceWeight(ctx, noData);
  else advanceIteration(ctx, noData);
}

function holdForNoData(ctx: Ctx, noData: CheckStatus[]): boolean {
  if (noData.length === 0) return false;
  const names = noData.map((c) => c.name).join(", ");
  ctx.message = `not promoting ${ctx.target}: no data for ${names} in this step (onNoData: skip)`;
  event(ctx, "NoData", ctx.message, "Warning");
  return true;
}

function advanceWeight(ctx: Ctx, noData: CheckStatus[]): void {
  const { resolved } = ctx.in;
  const current = ctx.status.canaryWeight ?? 0;
  const next = resolved.stepWeights.find((w) => w > current);
  if (next === undefined || current >= resolved.maxWeight) {
    if (!holdForNoData(ctx, noData)) promote(ctx, `all checks passed at canary weight ${current}`);
    return;
  }
  ctx.status.canaryWeight = next;
  event(ctx, "Progressing", `Advance ${ctx.target} canary weight ${next}`);
  setPhase(ctx, "Progressing", `canary weight ${next}`);
}

function advanceIteration(ctx: Ctx, noData: CheckStatus[]): void {
  const { resolved } = ctx.in;
  const next = (ctx.status.iterations ?? 0) + 1;
  if (next >= resolved.iterations && holdForNoData(ctx, noData)) return;
  ctx.status.iterations = next;
  event(ctx, "Progressing", `Advance ${ctx.target} canary iteration ${next}/${resolved.iterations}`);
  if (next >= resolved.iterations) {
    promote(ctx, `${next} iterations passed`);
    return;
  }
  setPhase(ctx, "Progressing", `iteration ${next} of ${resolved.iterations}`);
}

function promote(ctx: Ctx, why: string): void {
  const { resolved } = ctx.in;
  // Blue/green switches everyone to the new version while the primary is updated, where the router can
  // split traffic (plain Services cannot: the apex Service always selects the primary).
  if (resolved.strategy === "blue-green" && ctx.in.capabilities.weights && !ctx.in.spec.skipAnalysis) {
    ctx.status.canaryWeight = 100;
    event(ctx, "Promoting", `Routing all traffic to canary ${ctx.target}`);
  }
  ctx.status.progressStartTime = ctx.nowIso;
  ctx.status.lastStepTime = ctx.nowIso;
  event(ctx, "Promoting", `Copying ${ctx.target} template spec to ${ctx.primary} (${why})`);
  setPhase(ctx, "Promoting", `promoting revision ${ctx.status.lastAppliedSpec}: ${why}`);
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

function promoting(ctx: Ctx): void {
  const primary = ctx.in.observed.primary;
  const updated =
    primary !== undefined &&
    primary.revision === ctx.status.lastAppliedSpec &&
    primary.rolloutComplete &&
    primary.readyPercent >= ctx.in.resolved.primaryReadyThreshold;
  if (waitingForReadiness(ctx, updated, `${ctx.primary} (promotion)`, "primary-not-ready")) return;
  const step = ctx.in.resolved.stepWeightPromotion;
  const weight = ctx.status.canaryWeight ?? 0;
  if (step && weight > 0) {
    if (waitingForStep(ctx)) return;
    const next = Math.max(0, weight - step);
    ctx.status.canaryWeight = next;
    ctx.status.lastStepTime = ctx.nowIso;
    event(ctx, "Promoting", `Advance ${ctx.primary} weight ${100 - next}`);
    if (next > 0) return;
  }
  ctx.status.canaryWeight = 0;
  event(ctx, "Finalising", `Routing all traffic to primary ${ctx.primary}`);
  setPhase(
    ctx,
    "Finalising",
    `${ctx.primary} runs revision ${ctx.status.lastAppliedSpec}; scaling down ${ctx.target}`,
  );
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

function finalising(ctx: Ctx): void {
  if (targetObs(ctx).replicas > 0) {
    ctx.requeueAfterMs = WAIT_POLL_MS;
    return;
  }
  ctx.status.lastPromotedSpec = ctx.status.lastAppliedSpec;
  ctx.status.progressStartTime = undefined;
  event(
    ctx,
    "Succeeded",
    `Promotion completed! ${ctx.target} revision ${ctx.status.lastAppliedSpec} is live`,
  );
  setPhase(ctx, "Succeeded", `revision ${ctx.status.lastAppliedSpec} promoted`);
}

function rollback(ctx: Ctx, why: string, cause?: RollbackCause): void {
  ctx.status.canaryWeight = 0;
  ctx.status.progressStartTime = undefined;
  const message = `Canary failed! Rolling back ${ctx.target}: ${why}`;
  ctx.events.push({ type: "Warning", reason: "RolledBack", message, ...(cause ? { cause } : {}) });
  setPhase(ctx, "Failed", `rolled back: ${why}`);
  ctx.requeueAfterMs = ctx.in.resolved.intervalMs;
}
