/**
 * The canary state machine as one pure function: (Canary spec + status, observations, now) ->
 * (next status, events, whether metric checks are needed, when to look again). It never talks to
 * Kubernetes; the reconciler observes, calls it, persists the status and then converges the cluster
 * to that status (see desired.ts), so a restart at any point resumes from the stored status.
 */

import type { RollbackCause } from "../api/alert-outbox.ts";
import type { CanaryStatus, CheckStatus } from "../api/canary.ts";
import { describeDropped } from "../api/defaults.ts";
import type { CanaryEvent } from "../api/events.ts";
import { unsupportedRouting } from "../routers/capabilities.ts";
import { sameRoutes } from "../routers/router.ts";
import type { WebhookAnswer, WebhookCall } from "../webhooks/calls.ts";
import { promotionWindowState } from "../windows/windows.ts";
import { conditionsFor } from "./conditions.ts";
import { type Ctx, type DecideInput, event, hold, setPhase } from "./decide-context.ts";
import {
  approved,
  askedRecently,
  askHooks,
  type HookAsk,
  handled,
  hookFailures,
  hooksOf,
  markHandled,
  pendingGates,
  request,
  stepHooks,
  trafficIncreaseConfirmed,
  waitingFor,
} from "./decide-hooks.ts";
import { desiredState } from "./desired.ts";
import { requester } from "./requests.ts";

export interface Decision {
  status: CanaryStatus;
  events: CanaryEvent[];
  /** The step is due: run the metric checks and call decide again with observed.checks set. */
  needsChecks: boolean;
  /** The analysis is about to start: check the metric providers and call again with observed.offlineProviders. */
  needsPreflight: boolean;
  /** Webhooks to call now: call them and call decide again with their answers in observed.webhooks. */
  needsWebhooks: WebhookCall[];
  requeueAfterMs: number;
  /** The Canary cannot proceed (Stalled): converge writes nothing but what a missing target needs. */
  blocked: boolean;
}

/**
 * A safety resync while waiting for pods: the Deployment watch wakes the Canary as soon as a rollout
 * moves, so this only bounds how long a lost event could delay it (deadlines are still kept exactly).
 */
export const WAIT_POLL_MS = 30_000;
/** How soon to look again while a route is expected to change (the route's watch event usually comes first). */
export const ROUTE_POLL_MS = 1_000;

export function decide(input: DecideInput): Decision {
  const ctx = newCtx(input);
  warnDropped(ctx);
  if (input.deleting) terminating(ctx);
  else if (input.spec.suspend) suspended(ctx);
  else if (ctx.blocker || !input.observed.target) blocked(ctx);
  else {
    advance(ctx);
    postRollout(ctx);
  }
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
    needsWebhooks: [],
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

/** Once per generation of the spec: the settings resolved away as Flagger does (see resolveCanary). */
function warnDropped(ctx: Ctx): void {
  const { dropped } = ctx.in.resolved;
  if (dropped.length === 0 || ctx.in.status.observedGeneration === ctx.in.generation) return;
  event(ctx, "SettingsIgnored", `As in Flagger: ${dropped.map(describeDropped).join("; ")}`, "Warning");
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
  status.router = input.resolved.provider;
  return {
    status,
    events: ctx.events,
    needsChecks: ctx.needsChecks,
    needsPreflight: ctx.needsPreflight,
    needsWebhooks: ctx.needsWebhooks,
    requeueAfterMs: ctx.requeueAfterMs,
    blocked: ctx.blocker !== undefined,
  };
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
  // A blocked Canary keeps its phase (and its traffic) but reports why it cannot go on; without a
  // target there are no canary pods, so the traffic goes back to the primary.
  if (!ctx.status.phase) ctx.status.phase = "Initializing";
  const phase = ctx.status.phase;
  if (!ctx.in.observed.target && (phase === "Progressing" || phase === "Promoting")) {
    // No weight and no A/B match: the analysis starts again from its first step if the target returns.
    ctx.status.canaryWeight = 0;
    ctx.status.lastStepTime = undefined;
    ctx.status.stepRoutedTime = undefined;
    ctx.status.inconclusiveSince = undefined;
  }
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
  if (
    phase === "Progressing" ||
    phase === "Promoting" ||
    phase === "Finalising" ||
    phase === "Waiting" ||
    phase === "WaitingPromotion"
  ) {
    // A failed promotion is undone first: a new revision waits until the primary runs the promoted one.
    if (phase === "Promoting" && ctx.status.restoring) {
      restoring(ctx);
      return;
    }
    if (revisionChanged(ctx)) return;
    if (phase === "Waiting" || phase === "WaitingPromotion") {
      if (phase === "Waiting") waiting(ctx);
      else waitingPromotion(ctx);
      return;
    }
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
  if (ctx.status.phase === "Failed" && retryRequested(ctx)) return;
  if (target.revision === ctx.status.lastAppliedSpec) {
    // A rolled-back canary drains as a promoted one does; the Failed message stays what people read.
    if (ctx.status.phase === "Failed" && ctx.status.drainedTime === undefined) draining(ctx, false);
    return;
  }
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
    drainedTime: undefined,
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
    webhooks: undefined,
    lastStepTime: undefined,
    inconclusiveSince: undefined,
    drainedTime: undefined,
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
  if (hooksOf(ctx, "confirm-rollout").length > 0) {
    awaitRolloutConfirmation(ctx);
    return;
  }
  event(ctx, "NewRevision", `New revision detected! Scaling up ${ctx.target}`);
  setPhase(ctx, "Progressing", `new revision ${target.revision}; ${readinessWaitMessage(ctx, ctx.target)}`);
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

/** How long the current wait for progress has lasted (starting it now if none is under way). */
function progressClock(ctx: Ctx): { waitedMs: number; deadlineMs: number } {
  const since = ctx.status.progressStartTime ?? ctx.nowIso;
  ctx.status.progressStartTime = since;
  return { waitedMs: ctx.nowMs - Date.parse(since), deadlineMs: ctx.in.resolved.progressDeadlineMs };
}

/** Waits for a workload; past progressDeadlineSeconds it gives up (onDeadline). Returns true while waiting. */
function waitingForReadiness(
  ctx: Ctx,
  ready: boolean,
  what: string,
  onDeadline: (why: string) => void,
): boolean {
  if (ready) {
    // Before the first step the same deadline goes on counting while the metric providers are checked.
    const beforeFirstStep = ctx.status.phase === "Progressing" && ctx.status.lastStepTime === undefined;
    if (!beforeFirstStep) ctx.status.progressStartTime = undefined;
    return false;
  }
  const { waitedMs, deadlineMs } = progressClock(ctx);
  if (waitedMs >= deadlineMs) {
    onDeadline(
      `${what} not ready after ${Math.round(waitedMs / 1000)}s (progressDeadlineSeconds ${deadlineMs / 1000})`,
    );
    return true;
  }
  // A transition into the wait says why it began, then the wait; the wait keeps that message rather
  // than cost a status write of its own right after the transition's.
  const wait = readinessWaitMessage(ctx, what);
  if (!ctx.message.endsWith(wait)) ctx.message = wait;
  ctx.requeueAfterMs = Math.min(WAIT_POLL_MS, deadlineMs - waitedMs);
  return true;
}

/**
 * What a wait for `what` to become ready says, counted from status.progressStartTime. No running
 * clock in it: a message that changed every second would be a status write on every reconcile while
 * pods start (and wake every watcher of the Canary).
 */
function readinessWaitMessage(ctx: Ctx, what: string): string {
  return `waiting for ${what} to become ready (${deadlineText(ctx, "ready")})`;
}

/** "progressDeadlineSeconds 60: rolled back if not <what> by <time>", from status.progressStartTime. */
function deadlineText(ctx: Ctx, what: string): string {
  const since = ctx.status.progressStartTime ?? ctx.nowIso;
  const deadlineMs = ctx.in.resolved.progressDeadlineMs;
  const giveUpAt = new Date(Date.parse(since) + deadlineMs).toISOString();
  return `progressDeadlineSeconds ${deadlineMs / 1000}: rolled back if not ${what} by ${giveUpAt}`;
}

/**
 * Before the canary's first traffic: its ready pods must be listed in the -canary Service's
 * EndpointSlices, which is what proxies route by. Pods are Ready (and the Deployment says so) a moment
 * before the EndpointSlice controller lists them; a weight written in between sends that share of
 * requests to a Service without endpoints, and a proxy answers them 503 until the endpoints arrive.
 * The wait counts against progressDeadlineSeconds like the pods' readiness.
 */
function waitingForEndpoints(ctx: Ctx, onDeadline: (why: string) => void): boolean {
  const target = targetObs(ctx);
  if (target.endpointsReady === undefined) return false;
  const needed = Math.max(1, Math.ceil((target.replicas * ctx.in.resolved.canaryReadyThreshold) / 100));
  if (target.endpointsReady >= needed) return false;
  const { waitedMs, deadlineMs } = progressClock(ctx);
  const service = `${ctx.in.spec.service.name ?? ctx.in.spec.targetRef.name}-canary`;
  const listed = `${target.endpointsReady} of ${needed} ready pods`;
  if (waitedMs >= deadlineMs) {
    onDeadline(
      `the EndpointSlices of Service ${service} listed ${listed} after ${Math.round(waitedMs / 1000)}s (progressDeadlineSeconds ${deadlineMs / 1000})`,
    );
    return true;
  }
  const wait =
    `waiting for the EndpointSlices of Service ${service} to list the ready pods of ${ctx.target} before its first ` +
    `traffic (${listed}; ${deadlineText(ctx, "listed")})`;
  if (ctx.message !== wait) ctx.message = wait;
  ctx.requeueAfterMs = Math.min(ROUTE_POLL_MS, deadlineMs - waitedMs);
  return true;
}

function primaryReady(ctx: Ctx): boolean {
  const primary = ctx.in.observed.primary;
  return primary !== undefined && primary.readyPercent >= ctx.in.resolved.primaryReadyThreshold;
}

function progressing(ctx: Ctx): void {
  if (requestedStop(ctx)) return;
  const giveUp = (why: string) => rollback(ctx, why, "canary-not-ready");
  if (waitingForReadiness(ctx, canaryReady(ctx), ctx.target, giveUp)) return;
  if (ctx.status.lastStepTime === undefined && waitingForEndpoints(ctx, giveUp)) return;
  if (!primaryReady(ctx)) {
    ctx.message = `holding: ${ctx.primary} is not ready`;
    ctx.requeueAfterMs = WAIT_POLL_MS;
    return;
  }
  if (ctx.status.lastStepTime === undefined) {
    firstStep(ctx);
    return;
  }
  if (waitingForRoute(ctx)) return;
  if (waitingForStep(ctx)) return;
  stepRound(ctx);
}

/**
 * A step is judged only on traffic it actually got: until the route is seen carrying the split of the
 * current status (after a crash between the status write and the route change, say), the step waits,
 * and its interval counts from the moment the split is first seen (status.stepRoutedTime).
 */
function waitingForRoute(ctx: Ctx): boolean {
  if (routeSeen(ctx)) return false;
  const wanted = desiredState(ctx.status, ctx.in.resolved).routes;
  ctx.message = `waiting for the route to carry canary weight ${wanted.canaryWeight}${wanted.matched ? " (A/B match)" : ""}`;
  ctx.requeueAfterMs = ROUTE_POLL_MS;
  return true;
}

/** Whether the route carries what the status asks for; keeps status.stepRoutedTime (first seen) with it. */
function routeSeen(ctx: Ctx): boolean {
  const seen = ctx.in.observed.routes;
  if (seen !== undefined && sameRoutes(seen, desiredState(ctx.status, ctx.in.resolved).routes)) {
    ctx.status.stepRoutedTime ??= ctx.nowIso;
    return true;
  }
  ctx.status.stepRoutedTime = undefined;
  return false;
}

/** When the current step's interval is over: analysis.interval after its split reached the route. */
function stepDueMs(ctx: Ctx): number {
  const since = ctx.status.stepRoutedTime ?? ctx.status.lastStepTime ?? ctx.nowIso;
  return (
    Math.max(Date.parse(since), Date.parse(ctx.status.lastStepTime ?? since)) + ctx.in.resolved.intervalMs
  );
}

/** Steps are analysis.interval apart; until the next one is due, look again exactly when it is. */
function waitingForStep(ctx: Ctx): boolean {
  const dueInMs = stepDueMs(ctx) - ctx.nowMs;
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
  // Held at weight 0 no longer than a canary may take to become ready: then it is rolled back (Stalled).
  const { waitedMs, deadlineMs } = progressClock(ctx);
  if (waitedMs >= deadlineMs) {
    rollback(
      ctx,
      `metric providers unreachable for ${Math.round(waitedMs / 1000)}s (progressDeadlineSeconds ${deadlineMs / 1000}): ${offline.join("; ")}`,
      "metrics-unavailable",
    );
    return true;
  }
  const message = `holding ${ctx.target} at weight 0: metric providers unreachable: ${offline.join("; ")}`;
  if (ctx.message !== message) event(ctx, "MetricsUnavailable", message, "Warning");
  ctx.message = message;
  ctx.requeueAfterMs = Math.min(ctx.in.resolved.intervalMs, 30_000, deadlineMs - waitedMs);
  return true;
}

function firstStep(ctx: Ctx): void {
  if (waitingForProviders(ctx)) return;
  if (firstStepHeld(ctx)) return;
  const { resolved } = ctx.in;
  ctx.status.lastStepTime = ctx.nowIso;
  ctx.status.stepRoutedTime = undefined;
  ctx.status.progressStartTime = undefined;
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

/** A provider error, or no data for a metric whose onNoData is fail: says nothing about the canary. */
function inconclusiveChecks(ctx: Ctx, checks: CheckStatus[]): CheckStatus[] {
  const skipNoData = new Set(ctx.in.resolved.metrics.filter((m) => m.onNoData === "skip").map((m) => m.name));
  return checks.filter((c) => c.result === "error" || (c.result === "nodata" && !skipNoData.has(c.name)));
}

function failedChecks(ctx: Ctx, checks: CheckStatus[]): CheckStatus[] {
  const inconclusive = new Set(inconclusiveChecks(ctx, checks));
  return checks.filter((c) => c.result === "fail" || inconclusive.has(c));
}

function judge(ctx: Ctx, checks: CheckStatus[], hookFailed: string[] = []): void {
  const { resolved } = ctx.in;
  ctx.status.checks = checks;
  if (heldInconclusive(ctx, checks)) return;
  ctx.status.inconclusiveSince = undefined;
  ctx.status.lastStepTime = ctx.nowIso;
  // The split stays as it is unless the step advances it (advanceWeight clears this).
  ctx.status.stepRoutedTime = ctx.nowIso;
  const failed = failedChecks(ctx, checks);
  if (failed.length > 0 || hookFailed.length > 0) {
    const failures = (ctx.status.failedChecks ?? 0) + 1;
    ctx.status.failedChecks = failures;
    const why = [...failed.map((c) => c.message), ...hookFailed].join("; ");
    if (failures >= resolved.threshold) {
      rollback(
        ctx,
        `failed checks threshold reached ${failures}/${resolved.threshold}: ${why}`,
        "failed-checks",
      );
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

/**
 * A provider error, a timeout, or no data where data is required says nothing about the canary: the
 * step is held (weight kept, no promotion, no failed check counted) and the checks are run again until
 * they conclude. An outage longer than analysis.inconclusiveTimeout (default progressDeadlineSeconds),
 * counted from the first inconclusive round (status.inconclusiveSince, so a restart keeps the clock),
 * rolls the canary back for the outage. A check that fails with a real value still counts at once.
 */
function heldInconclusive(ctx: Ctx, checks: CheckStatus[]): boolean {
  if (checks.some((c) => c.result === "fail")) return false;
  const inconclusive = inconclusiveChecks(ctx, checks);
  if (inconclusive.length === 0) return false;
  const why = inconclusive.map((c) => c.message).join("; ");
  const since = ctx.status.inconclusiveSince ?? ctx.nowIso;
  ctx.status.inconclusiveSince = since;
  const budgetMs = ctx.in.resolved.inconclusiveMs;
  const heldMs = ctx.nowMs - Date.parse(since);
  if (heldMs >= budgetMs) {
    rollback(
      ctx,
      `metric checks inconclusive for ${Math.round(heldMs / 1000)}s (${inconclusiveBudget(ctx)}), not failed: ${why}`,
      "metrics-unavailable",
    );
    return true;
  }
  const giveUpAtMs = Date.parse(since) + budgetMs;
  ctx.message = `holding ${ctx.target} at canary weight ${ctx.status.canaryWeight ?? 0}: ${why}; checks inconclusive since ${since}, retrying until ${new Date(giveUpAtMs).toISOString()}, then rolling back for the outage`;
  if (ctx.in.status.inconclusiveSince === undefined) {
    event(ctx, "ChecksInconclusive", ctx.message, "Warning");
  }
  ctx.requeueAfterMs = Math.min(giveUpAtMs - ctx.nowMs, retryDelayMs(ctx.in.resolved.intervalMs));
  return true;
}

function inconclusiveBudget(ctx: Ctx): string {
  const seconds = ctx.in.resolved.inconclusiveMs / 1000;
  return ctx.in.spec.analysis.inconclusiveTimeout !== undefined
    ? `analysis.inconclusiveTimeout ${seconds}s`
    : `progressDeadlineSeconds ${seconds}, the default inconclusiveTimeout`;
}

/**
 * A held step's checks are tried again retryDelayMs after the last round (status.checks[].time), or
 * once the outage budget is spent: not on every look. The reconciler looks again shortly after each
 * status write, and every inconclusive round writes one, so without this a provider outage would be
 * queried, and the status written, several times a second.
 */
function retryNotDue(ctx: Ctx): boolean {
  const since = ctx.status.inconclusiveSince;
  if (since === undefined) return false;
  const times = (ctx.status.checks ?? []).map((c) => Date.parse(c.time ?? "")).filter(Number.isFinite);
  if (times.length === 0) return false;
  const retryAtMs = Math.max(...times) + retryDelayMs(ctx.in.resolved.intervalMs);
  const dueAtMs = Math.min(retryAtMs, Date.parse(since) + ctx.in.resolved.inconclusiveMs);
  if (dueAtMs <= ctx.nowMs) return false;
  ctx.requeueAfterMs = dueAtMs - ctx.nowMs;
  return true;
}

/** How soon to query again after an inconclusive check: a few tries per interval, not a tight loop. */
function retryDelayMs(intervalMs: number): number {
  return Math.max(2_000, Math.min(Math.round(intervalMs / 5), 15_000));
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
    if (!holdForNoData(ctx, noData)) promoteWhenAllowed(ctx, `all checks passed at canary weight ${current}`);
    return;
  }
  if (!trafficIncreaseConfirmed(ctx, next)) return;
  ctx.status.canaryWeight = next;
  ctx.status.stepRoutedTime = undefined;
  event(ctx, "Progressing", `Advance ${ctx.target} canary weight ${next}`);
  setPhase(ctx, "Progressing", `canary weight ${next}`);
}

function advanceIteration(ctx: Ctx, noData: CheckStatus[]): void {
  const { resolved } = ctx.in;
  // Capped: in WaitingPromotion the last iteration's checks go on until promotion.
  const next = Math.min((ctx.status.iterations ?? 0) + 1, resolved.iterations);
  if (next >= resolved.iterations && holdForNoData(ctx, noData)) return;
  if (next !== ctx.status.iterations)
    event(ctx, "Progressing", `Advance ${ctx.target} canary iteration ${next}/${resolved.iterations}`);
  ctx.status.iterations = next;
  if (next >= resolved.iterations) {
    promoteWhenAllowed(ctx, `${next} iterations passed`);
    return;
  }
  setPhase(ctx, "Progressing", `iteration ${next} of ${resolved.iterations}`);
}

function promote(ctx: Ctx, why: string, skipped = ctx.in.spec.skipAnalysis === true): void {
  const { resolved } = ctx.in;
  // Blue/green switches everyone to the new version while the primary is updated, where the router can
  // split traffic (plain Services cannot: the apex Service always selects the primary).
  if (resolved.strategy === "blue-green" && ctx.in.capabilities.weights && !skipped) {
    ctx.status.canaryWeight = 100;
    event(ctx, "Promoting", `Routing all traffic to canary ${ctx.target}`);
  }
  ctx.status.progressStartTime = ctx.nowIso;
  ctx.status.lastStepTime = ctx.nowIso;
  ctx.status.inconclusiveSince = undefined;
  event(ctx, "Promoting", `Copying ${ctx.target} template spec to ${ctx.primary} (${why})`);
  const wait = readinessWaitMessage(ctx, `${ctx.primary} (promotion)`);
  setPhase(ctx, "Promoting", `promoting revision ${ctx.status.lastAppliedSpec} (${why}); ${wait}`);
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

function primaryRuns(ctx: Ctx, revision: string | undefined): boolean {
  const primary = ctx.in.observed.primary;
  return (
    primary !== undefined &&
    primary.revision === revision &&
    primary.rolloutComplete &&
    primary.readyPercent >= ctx.in.resolved.primaryReadyThreshold
  );
}

function promoting(ctx: Ctx): void {
  const updated = primaryRuns(ctx, ctx.status.lastAppliedSpec);
  const giveUp = (why: string) => failPromotion(ctx, why);
  if (waitingForReadiness(ctx, updated, `${ctx.primary} (promotion)`, giveUp)) {
    if (ctx.status.restoring === undefined) offUnreadyPrimary(ctx);
    return;
  }
  const step = ctx.in.resolved.stepWeightPromotion;
  const weight = ctx.status.canaryWeight ?? 0;
  if (step && weight > 0) {
    if (waitingForPromotionStep(ctx)) return;
    const next = Math.max(0, weight - step);
    if (next === 0 && primaryShort(ctx)) return;
    ctx.status.canaryWeight = next;
    ctx.status.lastStepTime = ctx.nowIso;
    event(ctx, "Promoting", `Advance ${ctx.primary} weight ${100 - next}`);
    if (next > 0) return;
  }
  if (primaryShort(ctx)) return;
  ctx.status.canaryWeight = 0;
  startDrain(ctx);
  event(ctx, "Finalising", `Routing all traffic to primary ${ctx.primary}`);
  setPhase(
    ctx,
    "Finalising",
    `${ctx.primary} runs revision ${ctx.status.lastAppliedSpec}; draining ${ctx.target} before it is scaled down`,
  );
  ctx.requeueAfterMs = ROUTE_POLL_MS;
}

/**
 * With an autoscaler, all traffic goes back to the primary only once it has as many ready pods as it
 * had when the release started (status.primaryScaler; its autoscaler's minimum is raised meanwhile).
 */
function primaryShort(ctx: Ctx): boolean {
  const record = ctx.status.primaryScaler;
  if (record === undefined || record.revision !== ctx.status.lastAppliedSpec) return false;
  const ready = ctx.in.observed.primary?.available ?? 0;
  if (ready >= record.floor) return false;
  ctx.message = `holding the switch to ${ctx.primary}: ${ready} of ${record.floor} replicas ready (as many as served all traffic when the release started); its autoscaler's minimum is raised to ${record.floor} until the switch holds`;
  ctx.requeueAfterMs = WAIT_POLL_MS;
  return true;
}

function waitingForPromotionStep(ctx: Ctx): boolean {
  const dueInMs = Date.parse(ctx.status.lastStepTime ?? ctx.nowIso) + ctx.in.resolved.intervalMs - ctx.nowMs;
  if (dueInMs <= 0) return false;
  ctx.requeueAfterMs = dueInMs;
  return true;
}

/**
 * As Flagger's Finalising phase (one more interval before the scale-down, its fix for 503s from a canary
 * torn down under its last requests): the canary keeps its pods for one analysis interval after the
 * route is seen sending all traffic to the primary, so it answers the requests it still has and those
 * of a proxy that applies the route late. Then it is scaled down, and the release has Succeeded once
 * it is. Flagger counts the interval from its route write; kanaria from the route seen, as its steps.
 */
function finalising(ctx: Ctx): void {
  if (ctx.status.drainedTime === undefined && draining(ctx, true)) return;
  if (targetObs(ctx).replicas > 0) {
    ctx.requeueAfterMs = WAIT_POLL_MS;
    return;
  }
  ctx.status.drainedTime = undefined;
  ctx.status.lastPromotedSpec = ctx.status.lastAppliedSpec;
  ctx.status.progressStartTime = undefined;
  event(
    ctx,
    "Succeeded",
    `Promotion completed! ${ctx.target} revision ${ctx.status.lastAppliedSpec} is live`,
  );
  setPhase(ctx, "Succeeded", `revision ${ctx.status.lastAppliedSpec} promoted`);
}

/**
 * True while the canary drains: for one analysis interval after the route is seen sending all traffic
 * to the primary, at the end of a release (promoted or rolled back). Then it records drainedTime, and
 * the scale-down follows. `describe`: say so in the condition (a rollback's message says why instead).
 */
function draining(ctx: Ctx, describe: boolean): boolean {
  const routing = !routeSeen(ctx);
  // A route never seen sending everything to the primary (a split changed by hand while drift is only
  // reported) holds the scale-down no longer than one interval after the traffic was sent away.
  const since = routing
    ? (ctx.status.lastTransitionTime ?? ctx.nowIso)
    : (ctx.status.stepRoutedTime ?? ctx.nowIso);
  const dueMs = Date.parse(since) + ctx.in.resolved.intervalMs;
  if (dueMs > ctx.nowMs) {
    if (describe)
      ctx.message = routing
        ? "waiting for the route to carry canary weight 0"
        : `draining ${ctx.target}: all traffic on ${ctx.primary} since ${since}; scaling it down at ${new Date(dueMs).toISOString()} (one analysis interval later)`;
    ctx.requeueAfterMs = routing ? Math.min(ROUTE_POLL_MS, dueMs - ctx.nowMs) : dueMs - ctx.nowMs;
    return true;
  }
  ctx.status.drainedTime = ctx.nowIso;
  event(
    ctx,
    "Drained",
    `Scaling down ${ctx.target}: it has had no traffic for ${ctx.in.resolved.intervalMs / 1000}s`,
  );
  ctx.requeueAfterMs = WAIT_POLL_MS;
  return false;
}

/** The traffic leaves the canary now: its drain counts from when the route is seen doing so (draining). */
function startDrain(ctx: Ctx): void {
  ctx.status.stepRoutedTime = undefined;
  ctx.status.drainedTime = undefined;
}

/** Pods that serve: a Deployment with at least one ready pod (readyPercent counts available ones). */
function serves(w: { replicas: number; readyPercent: number } | undefined): boolean {
  return w !== undefined && w.replicas > 0 && w.readyPercent > 0;
}

/**
 * While the promoted primary rolls out, a primary with no ready pod gets no traffic: all of it goes to
 * the canary if it has ready pods (it runs the same revision, and passed its analysis).
 */
function offUnreadyPrimary(ctx: Ctx): void {
  if (!ctx.in.capabilities.weights || serves(ctx.in.observed.primary)) return;
  if (!serves(targetObs(ctx)) || ctx.status.canaryWeight === 100) return;
  ctx.status.canaryWeight = 100;
  event(
    ctx,
    "Promoting",
    `Routing all traffic to canary ${ctx.target}: ${ctx.primary} has no ready pods while it rolls out`,
  );
}

/**
 * The primary did not become ready with the promoted revision: it goes back to the last promoted
 * revision (converge restores its pod template from its ReplicaSet history), and until it runs that
 * revision ready the traffic stays on pods that are ready. The Canary turns Failed only then.
 */
function failPromotion(ctx: Ctx, why: string): void {
  ctx.status.restoring = { reason: why, time: ctx.nowIso };
  ctx.status.progressStartTime = undefined;
  const where = routeWhileRestoring(ctx);
  const message = `Promotion of ${ctx.target} revision ${ctx.status.lastAppliedSpec} failed: ${why}. Rolling back: restoring ${ctx.primary} to the last promoted revision ${ctx.status.lastPromotedSpec}; ${where}`;
  ctx.events.push({ type: "Warning", reason: "RolledBack", message, cause: "primary-not-ready" });
  setPhase(ctx, "Promoting", restoringMessage(ctx, where));
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

function restoringMessage(ctx: Ctx, where: string): string {
  const reason = ctx.status.restoring?.reason ?? "";
  return `promotion of revision ${ctx.status.lastAppliedSpec} failed (${reason}): restoring ${ctx.primary} to revision ${ctx.status.lastPromotedSpec}; ${where}`;
}

/**
 * Undoing a failed promotion: done once the primary runs the last promoted revision and is ready, then
 * Failed with all traffic on it. Until then there is no deadline (nothing better to fall back to), and
 * the traffic follows the ready pods.
 */
function restoring(ctx: Ctx): void {
  const promoted = ctx.status.lastPromotedSpec;
  if (!primaryRuns(ctx, promoted)) {
    const where = routeWhileRestoring(ctx);
    ctx.message = restoringMessage(ctx, where);
    ctx.requeueAfterMs = WAIT_POLL_MS;
    return;
  }
  const reason = ctx.status.restoring?.reason ?? "";
  ctx.status.restoring = undefined;
  ctx.status.canaryWeight = 0;
  startDrain(ctx);
  event(
    ctx,
    "Restored",
    `${ctx.primary} runs the last promoted revision ${promoted} again and is ready: all traffic on it, scaling down ${ctx.target}`,
  );
  setPhase(
    ctx,
    "Failed",
    `rolled back: promotion of revision ${ctx.status.lastAppliedSpec} failed (${reason}); ${ctx.primary} restored to revision ${promoted}`,
  );
  ctx.requeueAfterMs = ctx.in.resolved.intervalMs;
}

/**
 * The split while a failed promotion is undone: the primary if any of its pods is ready, else the
 * canary if any of its pods is, else unchanged (no version has a ready pod). Returns where, for people.
 */
function routeWhileRestoring(ctx: Ctx): string {
  const primary = ctx.in.observed.primary;
  const target = targetObs(ctx);
  const before = ctx.status.canaryWeight ?? 0;
  let weight = before;
  if (!ctx.in.capabilities.weights || serves(primary)) weight = 0;
  else if (serves(target)) weight = 100;
  ctx.status.canaryWeight = weight;
  const where =
    weight === 0
      ? `all traffic on ${ctx.primary} (${primary?.readyPercent ?? 0}% of its pods ready)`
      : weight === 100
        ? `all traffic on canary ${ctx.target}, the only version with ready pods`
        : `no version has a ready pod: traffic stays split ${100 - weight}/${weight} (primary/canary)`;
  if (weight !== before && ctx.in.status.restoring !== undefined)
    event(ctx, "Restoring", `Traffic moved: ${where}`);
  return where;
}

function rollback(ctx: Ctx, why: string, cause?: RollbackCause): void {
  ctx.status.canaryWeight = 0;
  startDrain(ctx);
  ctx.status.progressStartTime = undefined;
  ctx.status.inconclusiveSince = undefined;
  const message = `Canary failed! Rolling back ${ctx.target}: ${why}`;
  ctx.events.push({ type: "Warning", reason: "RolledBack", message, ...(cause ? { cause } : {}) });
  setPhase(ctx, "Failed", `rolled back: ${why}`);
  ctx.requeueAfterMs = ctx.in.resolved.intervalMs;
}

// The steps and phases that wait on webhooks, kanaria requests and promotion windows; the bookkeeping
// of the answers and requests is in decide-hooks.ts.

/** A rollback hook that answers yes while the analysis runs rolls the canary back at once. */
function rollbackHookFired(ctx: Ctx, answers: WebhookAnswer[]): boolean {
  const fired = answers.find((a) => a.type === "rollback" && a.result === "pass");
  if (!fired) return false;
  rollback(ctx, `rollback webhook ${fired.name} asked for a rollback (${fired.message})`, "webhook");
  return true;
}

/** One analysis step: the metric checks and the step's hooks, asked for together, then judged. */
function stepRound(ctx: Ctx): void {
  const hooks = askHooks(ctx, stepHooks(ctx));
  const checks = ctx.in.observed.checks;
  if (checks === undefined) {
    if (retryNotDue(ctx)) return;
    ctx.needsChecks = true;
    ctx.requeueAfterMs = 0;
    return;
  }
  if (hooks === undefined || rollbackHookFired(ctx, hooks)) return;
  judge(ctx, checks, hookFailures(hooks, "rollout"));
}

/**
 * Before traffic first moves: pre-rollout hooks must pass (a failure counts as a failed check) and
 * confirm-traffic-increase must approve the first weight. Tried again every analysis.interval.
 */
function firstStepHeld(ctx: Ctx): boolean {
  const first = ctx.in.resolved.stepWeights[0] ?? ctx.in.resolved.maxWeight;
  const asks: HookAsk[] = [
    { type: "pre-rollout", step: "pre-rollout" },
    { type: "rollback", step: "pre-rollout", again: true },
  ];
  if (ctx.in.resolved.strategy === "canary")
    asks.push({ type: "confirm-traffic-increase", step: `weight ${first}` });
  if (asks.every((a) => hooksOf(ctx, a.type).length === 0)) return false;
  if (askedRecently(ctx, ["pre-rollout", "confirm-traffic-increase"])) return true;
  const answers = askHooks(ctx, asks);
  if (answers === undefined || rollbackHookFired(ctx, answers)) return true;
  const failed = hookFailures(answers, "pre-rollout");
  if (failed.length > 0) {
    countFailure(ctx, failed.join("; "));
    ctx.requeueAfterMs = ctx.in.resolved.intervalMs;
    return true;
  }
  return ctx.in.resolved.strategy === "canary" && !trafficIncreaseConfirmed(ctx, first);
}

/** Counts a failed step; at the threshold the canary is rolled back. */
function countFailure(ctx: Ctx, why: string): void {
  const { threshold } = ctx.in.resolved;
  const failures = (ctx.status.failedChecks ?? 0) + 1;
  ctx.status.failedChecks = failures;
  if (failures >= threshold) {
    rollback(ctx, `failed checks threshold reached ${failures}/${threshold}: ${why}`, "failed-checks");
    return;
  }
  event(
    ctx,
    "CheckFailed",
    `Halt ${ctx.target} advancement (failed checks ${failures}/${threshold}): ${why}`,
    "Warning",
  );
  ctx.message = `failed checks ${failures}/${threshold}: ${why}`;
}

/** New revision with confirm-rollout hooks: the canary stays scaled to zero until they say yes. */
function awaitRolloutConfirmation(ctx: Ctx): void {
  event(ctx, "NewRevision", `New revision detected! ${ctx.target} waits for its confirm-rollout webhooks`);
  setPhase(ctx, "Waiting", `waiting for approval to roll out revision ${ctx.status.lastAppliedSpec}`);
  waiting(ctx);
}

function waiting(ctx: Ctx): void {
  if (requestedStop(ctx)) return;
  if (pendingGates(ctx, "confirm-rollout", "rollout").length > 0 && !approved(ctx)) {
    if (askedRecently(ctx, ["confirm-rollout"])) return;
    const answers = askHooks(ctx, [
      { type: "confirm-rollout", step: "rollout" },
      { type: "rollback", step: "rollout", again: true },
    ]);
    if (answers === undefined || rollbackHookFired(ctx, answers)) return;
    const pending = pendingGates(ctx, "confirm-rollout", "rollout");
    if (pending.length > 0) {
      hold(
        ctx,
        `waiting for approval to roll out revision ${ctx.status.lastAppliedSpec} (${waitingFor(ctx, pending)})`,
      );
      ctx.requeueAfterMs = ctx.in.resolved.intervalMs;
      return;
    }
  }
  ctx.status.progressStartTime = ctx.nowIso;
  event(ctx, "Progressing", `Rollout of ${ctx.target} approved: scaling it up`);
  setPhase(
    ctx,
    "Progressing",
    `revision ${ctx.status.lastAppliedSpec}: waiting for ${ctx.target} to become ready`,
  );
  ctx.requeueAfterMs = WAIT_POLL_MS;
}

/** Promotes when every confirm-promotion hook said yes and the windows allow it; else WaitingPromotion. */
function promoteWhenAllowed(ctx: Ctx, why: string, skipped?: boolean): boolean {
  const pending = pendingGates(ctx, "confirm-promotion", "promotion");
  if (pending.length > 0 && !approved(ctx)) {
    hold(
      ctx,
      `${ctx.target} passed its analysis; promotion waits for approval (${waitingFor(ctx, pending)})`,
      "WaitingPromotion",
    );
    return false;
  }
  const { promotionWindows, freezeWindows } = ctx.in.spec.analysis;
  const windows = promotionWindowState(promotionWindows, freezeWindows, ctx.in.observed.now);
  if (!windows.allowed) {
    const next = windows.nextOpening;
    const when = next ? `next opening ${next.toISOString()}` : "no opening within a year";
    hold(
      ctx,
      `${ctx.target} passed its analysis; not promoting ${windows.reason}: ${when}`,
      "WaitingPromotion",
    );
    const untilOpening = next ? next.getTime() - ctx.nowMs : ctx.in.resolved.intervalMs;
    ctx.requeueAfterMs = Math.max(1_000, Math.min(ctx.in.resolved.intervalMs, untilOpening));
    return false;
  }
  promote(ctx, why, skipped);
  return true;
}

/**
 * A release that passed waits here for confirm-promotion and the windows, with the primary untouched;
 * its checks (and rollout/rollback hooks) go on every interval, so it can still be rolled back.
 */
function waitingPromotion(ctx: Ctx): void {
  if (requestedStop(ctx)) return;
  const gateOpen = pendingGates(ctx, "confirm-promotion", "promotion").length === 0 || approved(ctx);
  if (gateOpen && promoteWhenAllowed(ctx, "approved, and inside the promotion windows")) return;
  const untilWindow = ctx.requeueAfterMs;
  if (waitingForRoute(ctx) || waitingForStep(ctx)) {
    ctx.requeueAfterMs = Math.min(ctx.requeueAfterMs, untilWindow);
    return;
  }
  stepRound(ctx);
}

/** kanaria abort rolls back now; kanaria promote --skip-analysis promotes now. True when one acted. */
function requestedStop(ctx: Ctx): boolean {
  const abort = request(ctx, "abort");
  if (abort && !handled(ctx, "abort", abort)) {
    markHandled(ctx, "abort", abort);
    rollback(ctx, `aborted ${requester(abort)}${abort.reason ? `: ${abort.reason}` : ""}`, "manual");
    return true;
  }
  const promote = ctx.in.observed.requests?.promote;
  if (!promote?.skipAnalysis || !approved(ctx)) return false;
  promoteWhenAllowed(ctx, `promoted ${requester(promote)} without the rest of the analysis`, true);
  return true;
}

/** kanaria retry on a failed revision: analyse it again from the start. */
function retryRequested(ctx: Ctx): boolean {
  const r = request(ctx, "retry");
  if (!r || handled(ctx, "retry", r) || targetObs(ctx).revision !== r.revision) return false;
  markHandled(ctx, "retry", r);
  event(
    ctx,
    "Retrying",
    `Retry of ${ctx.target} revision ${r.revision} requested ${requester(r)}: analysing it again`,
  );
  startAnalysis(ctx);
  return true;
}

/** post-rollout hooks run once after each promotion or rollback; their answers never block anything. */
function postRollout(ctx: Ctx): void {
  const phase = ctx.status.phase;
  if ((phase !== "Succeeded" && phase !== "Failed") || !ctx.status.lastAppliedSpec) return;
  if (hooksOf(ctx, "post-rollout").length === 0) return;
  const requeue = ctx.requeueAfterMs;
  const answers = askHooks(ctx, [
    { type: "post-rollout", step: `post-rollout ${phase} ${ctx.status.lastTransitionTime}`, once: true },
  ]);
  if (answers !== undefined) ctx.requeueAfterMs = requeue;
}
