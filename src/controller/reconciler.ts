/**
 * One reconcile of one Canary: observe (observe.ts), decide (decide.ts, asked again with the checks
 * and webhook answers it needs), persist the status and Events, converge the cluster to it
 * (converge.ts). Kubernetes, routers, metric checks and the clock come in through ReconcilerDeps.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import { type Canary, type CheckStatus, canary as canarySchema, type ProviderName } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import { type ResolvedCanary, resolveCanary } from "../api/defaults.ts";
import { type Blocker, blockerOf } from "../errors.ts";
import type { KubeObject, ObjectRef } from "../kube/types.ts";
import type { AlertHooks } from "../notifiers/alerts.ts";
import type { RouterCapabilities } from "../routers/capabilities.ts";
import type { Router } from "../routers/router.ts";
import { callRequestedHooks, sendEventHooks, type WebhookCaller } from "../webhooks/dispatch.ts";
import {
  observeAutoscaling,
  releaseAutoscaler,
  withAutoscalerBlocker,
  withPrimaryCapacity,
} from "./autoscaling.ts";
import { conditionsFor, sameStatus } from "./conditions.ts";
import { type ConvergeDeps, converge, restoreTarget, routeAsDecided } from "./converge.ts";
import { crashPoint } from "./crash-points.ts";
import { type Decision, decide } from "./decide.ts";
import { NO_DRIFT, withDrift } from "./drift-check.ts";
import type { Observations } from "./observations.ts";
import { type ObserveDeps, type Observed, observe, observeDrift, pickRouter } from "./observe.ts";
import { parseRequests } from "./requests.ts";

export const FINALIZER = "finalizers.kanaria.dev";
/** How soon a Canary that waits for its owner to fix something is looked at again (besides watch events). */
const BLOCKED_RETRY_MS = 30_000;

export interface ReconcilerDeps extends ObserveDeps, ConvergeDeps {
  /** Calls one webhook; the real HTTP caller when absent (tests pass their own). */
  callWebhook?: WebhookCaller;
  logger: Logger;
  defaultProvider: ProviderName;
  runChecks: (canary: Canary, resolved: ResolvedCanary) => Promise<CheckStatus[]>;
  /** The metric providers of a Canary that do not answer, described for people; empty when all do. */
  offlineProviders: (canary: Canary, resolved: ResolvedCanary) => Promise<string[]>;
  /** Alerts: added to the status with their transitions, delivered in the background. */
  alerts?: AlertHooks;
}

export interface ReconcileResult {
  /** When to reconcile again; undefined: only on the next change. */
  requeueAfterMs: number | undefined;
}

const canaryRef = (namespace: string, name: string): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: "Canary",
  namespace,
  name,
});

export async function reconcileCanary(
  deps: ReconcilerDeps,
  namespace: string,
  name: string,
): Promise<ReconcileResult> {
  const raw = await deps.client.get<KubeObject>(canaryRef(namespace, name));
  if (!raw) return { requeueAfterMs: undefined };
  const parsed = canarySchema.safeParse(raw);
  if (!parsed.success) {
    await reportInvalidSpec(deps, raw, parsed.error);
    return { requeueAfterMs: undefined };
  }
  const canary = parsed.data;
  const resolved = resolveCanary(canary.spec, deps.defaultProvider);
  const deleting = canary.metadata.deletionTimestamp !== undefined;
  if (!deleting && !(await syncFinalizer(deps, canary))) return { requeueAfterMs: 0 };

  const routing = pickRouter(deps, canary, resolved);
  const scaling = await observeAutoscaling(deps.client, canary);
  const observed = withAutoscalerBlocker(await observe(deps, canary, resolved, routing), scaling);
  const decided = await decideWithChecks(deps, canary, resolved, routing.capabilities, observed.observations);
  const converges = !deleting && !canary.spec.suspend && !decided.blocked && routing.router !== undefined;
  const drift = converges ? await observeDrift(deps, canary, resolved, decided, observed, routing) : NO_DRIFT;
  const recorded = withPrimaryCapacity(
    decided,
    canary,
    observed.autoscaling,
    observed.observations.primary?.available,
  );
  const decision = withOutbox(deps, canary, resolved, withDrift(recorded, drift), observed);
  const latest = await persist(deps, raw, canary, decision);
  sendEventHooks(canary, decision.status, decision.events, deps.logger, deps.callWebhook);
  deps.alerts?.submit(latest);
  if (deleting) return finishDeletion(deps, routing.router, latest, canary, resolved, observed, decision);
  const { target, revision } = observed;
  const { router } = routing;
  if (!canary.spec.suspend && !target && router) {
    // The canary's pods are gone: whatever else is wrong, no traffic may stay on them.
    await routeAsDecided(router, { canary, resolved }, decision, observed.observations.routes);
  }
  if (!canary.spec.suspend && !decision.blocked && router && target && revision) {
    try {
      await converge(deps, router, canary, resolved, decision, { ...observed, target, revision }, drift);
    } catch (err) {
      const blocker = blockerOf(err);
      if (!blocker) throw err;
      await reportBlocker(deps, latest, decision, blocker);
      return { requeueAfterMs: BLOCKED_RETRY_MS };
    }
  }
  return { requeueAfterMs: nextTick(latest !== raw, decision) };
}

/** How soon a reconcile that wrote the status looks again. */
const AFTER_STATUS_WRITE_MS = 100;

/**
 * kanaria's own status write does not wake it through the watch, so the reconcile that wrote one looks
 * again right away, as that watch event used to make it: a new phase may have work to do at once, and
 * a new step's split is seen in the route (its interval counts from then). Otherwise the decision says
 * when: the step's due time, or a safety resync while events are awaited.
 */
function nextTick(wroteStatus: boolean, decision: Decision): number | undefined {
  if (!wroteStatus) return decision.requeueAfterMs;
  return Math.min(AFTER_STATUS_WRITE_MS, decision.requeueAfterMs ?? AFTER_STATUS_WRITE_MS);
}

async function decideWithChecks(
  deps: ReconcilerDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  capabilities: RouterCapabilities,
  observations: Observations,
): Promise<Decision> {
  const input = {
    name: canary.metadata.name,
    namespace: canary.metadata.namespace ?? "",
    generation: canary.metadata.generation,
    deleting: canary.metadata.deletionTimestamp !== undefined,
    spec: canary.spec,
    status: canary.status ?? {},
    resolved,
    capabilities,
    observed: observations,
  };
  // decide asks for what it needs (provider preflight, metric checks, webhook answers) and is called
  // again with it; a few rounds at most (the preflight, then the first step's hooks).
  let observed: Observations = { ...observations, requests: parseRequests(canary.metadata.annotations) };
  let decision = decide({ ...input, observed });
  for (let round = 0; round < MAX_DECIDE_ROUNDS && needsMore(decision); round++) {
    const [offlineProviders, checks, answers] = await Promise.all([
      decision.needsPreflight ? deps.offlineProviders(canary, resolved) : observed.offlineProviders,
      decision.needsChecks ? deps.runChecks(canary, resolved) : observed.checks,
      callRequestedHooks(canary, decision.status, decision.needsWebhooks, deps.logger, deps.callWebhook),
    ]);
    const webhooks = [...(observed.webhooks ?? []), ...answers];
    observed = { ...observed, now: deps.now(), offlineProviders, checks, webhooks };
    decision = decide({ ...input, observed });
  }
  return decision;
}

const MAX_DECIDE_ROUNDS = 4;

function needsMore(d: Decision): boolean {
  return d.needsPreflight || d.needsChecks || d.needsWebhooks.length > 0;
}

/** Adds the finalizer that revertOnDeletion needs (or removes it). Returns false when it patched. */
async function syncFinalizer(deps: ReconcilerDeps, canary: Canary): Promise<boolean> {
  const finalizers = canary.metadata.finalizers ?? [];
  const has = finalizers.includes(FINALIZER);
  const wants = canary.spec.revertOnDeletion === true;
  if (has === wants) return true;
  const next = wants ? [...finalizers, FINALIZER] : finalizers.filter((f) => f !== FINALIZER);
  await deps.client.mergePatch(canaryRef(canary.metadata.namespace ?? "", canary.metadata.name), {
    metadata: { finalizers: next, resourceVersion: canary.metadata.resourceVersion },
  });
  return false;
}

/** The alerts of a decision's transitions go into the same status write as the transitions (the outbox). */
function withOutbox(
  deps: ReconcilerDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  decision: Decision,
  observed: Observed,
): Decision {
  if (!deps.alerts) return decision;
  const { target, primaryDeployment: primary, observations } = observed;
  const status = deps.alerts.record({ canary, resolved, decision, target, primary, now: observations.now });
  return { ...decision, status };
}

/** Marks the Canary Stalled with the blocker's message (once: the event client folds repeats). */
async function reportBlocker(
  deps: ReconcilerDeps,
  latest: KubeObject,
  decision: Decision,
  blocker: Blocker,
): Promise<void> {
  const status = decision.status;
  const conditions = conditionsFor(
    status.phase ?? "Initializing",
    blocker.message,
    latest.metadata.generation,
    deps.now().toISOString(),
    status.conditions,
    blocker,
  );
  const next = { ...status, conditions };
  if (!sameStatus(status, next)) await deps.client.replaceStatus({ ...latest, status: next });
  await deps.client.event({ regarding: latest, type: "Warning", ...blocker });
}

/** Writes the status if it changed and records the events; returns the Canary as now stored. */
async function persist(
  deps: ReconcilerDeps,
  raw: KubeObject,
  canary: Canary,
  decision: Decision,
): Promise<KubeObject> {
  // Events first, named after the status they were decided from: a crash before the status write makes
  // the next process decide the same again, and its Events are then found, not recorded twice. After
  // the status write they would be lost instead.
  // Only when there are Events: most ticks have none, and this is the tick path. A decision's Events
  // are posted at once: one round trip to the API server before the status write, not one each (a
  // rollback has two, and a slow API server makes each round trip seconds).
  const basis = decision.events.length > 0 ? JSON.stringify((raw as { status?: unknown }).status ?? {}) : "";
  await Promise.all(
    decision.events.map((e) => {
      deps.logger.info(
        { canary: `${canary.metadata.namespace}/${canary.metadata.name}`, reason: e.reason },
        e.message,
      );
      return deps.client.event({ regarding: raw, ...e, basis });
    }),
  );
  if (sameStatus(canary.status, decision.status)) return raw;
  const latest = await deps.client.replaceStatus({ ...raw, status: decision.status });
  crashPoint("after-status-write", decision.events);
  return latest;
}

async function finishDeletion(
  deps: ReconcilerDeps,
  router: Router | undefined,
  latest: KubeObject,
  canary: Canary,
  resolved: ResolvedCanary,
  observed: Observed,
  decision: Decision,
): Promise<ReconcileResult> {
  if (!canary.metadata.finalizers?.includes(FINALIZER)) return { requeueAfterMs: undefined };
  const primaryReplicas = observed.observations.primary?.replicas;
  if (observed.autoscaling) await releaseAutoscaler(deps.client, observed.autoscaling);
  const restored = await restoreTarget(
    deps.client,
    router,
    canary,
    resolved,
    observed.target,
    primaryReplicas,
  );
  if (!restored) return { requeueAfterMs: decision.requeueAfterMs };
  await deps.client.mergePatch(canaryRef(canary.metadata.namespace ?? "", canary.metadata.name), {
    metadata: {
      finalizers: (canary.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
      // Guards the finalizer list against a concurrent change; our own status write just bumped it.
      resourceVersion: latest.metadata.resourceVersion,
    },
  });
  return { requeueAfterMs: undefined };
}

/** A Canary the API server accepted but kanaria cannot read (an older CRD, a hand-edited status). */
async function reportInvalidSpec(deps: ReconcilerDeps, raw: KubeObject, error: z.ZodError): Promise<void> {
  const problems = error.issues.map((i) => `${i.path.join(".") || "(object)"}: ${i.message}`).join("; ");
  const message = `Canary ${raw.metadata.namespace}/${raw.metadata.name} is invalid: ${problems}; fix the manifest (kanaria validate shows where)`;
  deps.logger.warn({ canary: `${raw.metadata.namespace}/${raw.metadata.name}` }, message);
  const status = ((raw as { status?: Record<string, unknown> }).status ?? {}) as {
    phase?: string;
    conditions?: [];
  };
  const now = deps.now().toISOString();
  const conditions = conditionsFor("Failed", message, raw.metadata.generation, now, status.conditions, {
    reason: "InvalidSpec",
    message,
  });
  const next = { ...status, conditions };
  // Written only when it changes, so the watch event of this write does not loop back here.
  if (sameStatus(status as never, next as never)) return;
  await deps.client.replaceStatus({ ...raw, status: next });
  await deps.client.event({ regarding: raw, type: "Warning", reason: "InvalidSpec", message });
}
