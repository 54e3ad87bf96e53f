/**
 * One reconcile of one Canary: observe, decide, persist the status, converge the cluster to it.
 * Kubernetes, routers, metric checks and the clock come in through ReconcilerDeps.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import { type Canary, type CheckStatus, canary as canarySchema, type ProviderName } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import { type ResolvedCanary, resolveCanary } from "../api/defaults.ts";
import { driftMode } from "../api/drift-mode.ts";
import { type Blocker, blockerOf } from "../errors.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import type { AlertHooks } from "../notifiers/alerts.ts";
import type { RouterCapabilities } from "../routers/capabilities.ts";
import { type Router, type RouterTarget, type Routes, sameRoutes } from "../routers/router.ts";
import { callRequestedHooks, sendEventHooks, type WebhookCaller } from "../webhooks/dispatch.ts";
import { targetKind } from "../workloads/kinds.ts";
import type { Workload } from "../workloads/meta.ts";
import {
  ensurePrimary,
  observeWorkload,
  primaryName,
  restorePrimary,
  scaleTarget,
} from "../workloads/primary.ts";
import { type Revision, resolveRevision } from "../workloads/revision.ts";
import { selectorLabel } from "../workloads/selector.ts";
import { ensureServices, servicePorts } from "../workloads/services.ts";
import { conditionsFor, sameStatus } from "./conditions.ts";
import { crashPoint } from "./crash-points.ts";
import { type Decision, decide } from "./decide.ts";
import { desiredState, workloadPlan } from "./desired.ts";
import { correctDrift, type DriftFound, findDrift, NO_DRIFT, withDrift } from "./drift-check.ts";
import { restoreTarget } from "./finalize.ts";
import type { Observations, WorkloadObservation } from "./observations.ts";
import { parseRequests } from "./requests.ts";

export const FINALIZER = "finalizers.kanaria.dev";
/** How soon a Canary that waits for its owner to fix something is looked at again (besides watch events). */
const BLOCKED_RETRY_MS = 30_000;

export interface ReconcilerDeps {
  /** Calls one webhook; the real HTTP caller when absent (tests pass their own). */
  callWebhook?: WebhookCaller;
  client: KubeClient;
  logger: Logger;
  now: () => Date;
  defaultProvider: ProviderName;
  router: (provider: ProviderName) => Router;
  runChecks: (canary: Canary, resolved: ResolvedCanary) => Promise<CheckStatus[]>;
  /** The metric providers of a Canary that do not answer, described for people; empty when all do. */
  offlineProviders: (canary: Canary, resolved: ResolvedCanary) => Promise<string[]>;
  /** The Canaries of a namespace as last seen (the manager answers from its watch cache). */
  listCanaries: (namespace: string) => Promise<(Canary & KubeObject)[]>;
  /** Alerts: added to the status with their transitions, delivered in the background. */
  alerts?: AlertHooks;
  /** A drifted object of this kind was put back (kanaria_drift_corrections_total). */
  driftCorrected?: (namespace: string, name: string, kind: string) => void;
}

export interface ReconcileResult {
  /** When to reconcile again; undefined: only on the next change. */
  requeueAfterMs: number | undefined;
}

interface Observed {
  observations: Observations;
  target: Workload | undefined;
  revision: Revision | undefined;
  primaryDeployment?: Workload | undefined;
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
  const observed = await observe(deps, canary, resolved, routing);
  const decided = await decideWithChecks(deps, canary, resolved, routing.capabilities, observed.observations);
  const converges = !deleting && !canary.spec.suspend && !decided.blocked && routing.router !== undefined;
  const drift = converges ? await observeDrift(deps, canary, resolved, decided, observed, routing) : NO_DRIFT;
  const decision = withOutbox(deps, canary, resolved, withDrift(decided, drift), observed);
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

interface Routing {
  router: Router | undefined;
  capabilities: RouterCapabilities;
  /** An unknown provider, or routing settings the router rejects (checked without touching the cluster). */
  blocker: Blocker | undefined;
}

const NO_ROUTING: RouterCapabilities = {
  weights: false,
  match: undefined,
  mirroring: false,
  sessionAffinity: false,
};

function pickRouter(deps: ReconcilerDeps, canary: Canary, resolved: ResolvedCanary): Routing {
  let router: Router;
  try {
    router = deps.router(resolved.provider);
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { router: undefined, capabilities: NO_ROUTING, blocker };
  }
  try {
    router.check({ canary, resolved });
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { router, capabilities: router.capabilities, blocker };
  }
  return { router, capabilities: router.capabilities, blocker: undefined };
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

/** The split the router reads back now; a route it cannot read is a blocker the owner must fix. */
async function observeRoutes(
  routing: Routing,
  target: RouterTarget,
): Promise<{ routes: Routes | undefined; blocker: Blocker | undefined }> {
  if (!routing.router || routing.blocker) return { routes: undefined, blocker: routing.blocker };
  try {
    return { routes: await routing.router.getRoutes(target), blocker: undefined };
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { routes: undefined, blocker };
  }
}

async function observe(
  deps: ReconcilerDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  routing: Routing,
): Promise<Observed> {
  const namespace = canary.metadata.namespace ?? "";
  const { routes, blocker: routingBlocker } = await observeRoutes(routing, { canary, resolved });
  const base = { now: deps.now(), checks: undefined, offlineProviders: undefined, routes };
  const targetRef = canary.spec.targetRef;
  const kind = targetKind(canary);
  const [target, primary] = await Promise.all([
    deps.client.get<Workload>(kind.ref(namespace, targetRef.name)),
    deps.client.get<Workload>(kind.ref(namespace, primaryName(targetRef.name))),
  ]);
  const primaryObservation = primary ? workloadObservation(primary) : undefined;
  if (!target) {
    return {
      observations: { ...base, target: undefined, primary: primaryObservation, blocker: undefined },
      target,
      revision: undefined,
    };
  }
  let blocker = (await conflictingCanary(deps, canary)) ?? routingBlocker;
  let revision: Revision | undefined;
  try {
    // Configuration problems surface here, before anything is written, rather than halfway through converge.
    selectorLabel(target);
    kind.check(target);
    servicePorts(canary, target);
    revision = await resolveRevision(deps.client, target);
  } catch (err) {
    blocker ??= blockerFrom(err);
  }
  const targetObservation = revision
    ? { ...workloadObservation(target), revision: revision.hash, trackedConfigs: revision.trackedConfigs }
    : undefined;
  return {
    observations: { ...base, target: targetObservation, primary: primaryObservation, blocker },
    target,
    revision,
    primaryDeployment: primary,
  };
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

function workloadObservation(workload: Workload): WorkloadObservation {
  const state = observeWorkload(workload);
  // Readiness thresholds below 100% make sense only if a rollout counts as done once every pod is
  // updated, whether or not all of them are available yet: decide() compares readyPercent itself.
  return {
    replicas: state.replicas,
    readyPercent: state.readyPercent,
    rolloutComplete: state.updated,
    draining: state.draining,
    revision: state.revision,
  };
}

/** Configuration errors the user must fix become a blocker; anything else is retried with backoff. */
function blockerFrom(err: unknown): Blocker {
  const blocker = blockerOf(err);
  if (!blocker) throw err;
  return blocker;
}

/** The oldest Canary on a Deployment owns it; every later one is blocked until one of them goes. */
async function conflictingCanary(deps: ReconcilerDeps, canary: Canary): Promise<Blocker | undefined> {
  const namespace = canary.metadata.namespace ?? "";
  const all = await deps.listCanaries(namespace);
  const sameTarget = all
    .filter((c) => c.spec?.targetRef?.name === canary.spec.targetRef.name)
    .sort((a, b) => order(a).localeCompare(order(b)));
  const owner = sameTarget[0];
  if (!owner || owner.metadata.name === canary.metadata.name) return undefined;
  return {
    reason: "ConflictingCanary",
    message: `${targetKind(canary).kind} ${namespace}/${canary.spec.targetRef.name} is already the target of Canary ${owner.metadata.name}: delete one of the two Canaries or point spec.targetRef at another target`,
  };
}

function order(c: Canary & KubeObject): string {
  const created = (c.metadata as { creationTimestamp?: string | Date }).creationTimestamp;
  const time = created instanceof Date ? created.toISOString() : (created ?? "");
  return `${time}/${c.metadata.name}`;
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

async function converge(
  deps: ReconcilerDeps,
  router: Router,
  canary: Canary,
  resolved: ResolvedCanary,
  decision: Decision,
  observed: Observed & { target: Workload; revision: Revision },
  drift: DriftFound,
): Promise<void> {
  const { target, revision } = observed;
  const desired = desiredState(decision.status, resolved);
  const routerTarget: RouterTarget = { canary, resolved };
  const { events } = decision;
  const plan = workloadPlan(decision.status, desired, {
    targetRevision: revision.hash,
    primaryReplicas: observed.observations.primary?.replicas,
    targetDraining: observed.observations.target?.draining ?? false,
    primaryRevision: observed.observations.primary?.revision,
  });
  await putBackDrift(deps, canary, revision, drift);
  // Warn mode leaves a Service or split someone changed as found, unless kanaria decides a new split.
  if (!drift.holdServices) await ensureServices(deps.client, canary, target);
  crashPoint("after-services", events);
  if (plan.copyToPrimary) {
    await ensurePrimary(deps.client, canary, target, revision);
    crashPoint("after-primary", events);
  }
  if (plan.restorePrimary) {
    await restorePrimary(deps.client, canary, target, revision, decision.status.lastPromotedSpec ?? "");
    crashPoint("after-primary", events);
  }
  const up = plan.targetReplicas !== undefined && plan.targetReplicas > 0;
  if (up) {
    await scaleTo(deps, target, plan.targetReplicas as number);
    crashPoint("after-scale-up", events);
  }
  await router.reconcile(routerTarget);
  const lastRoutes = desiredState(canary.status ?? {}, resolved).routes;
  if (!drift.holdRoutes || !sameRoutes(lastRoutes, desired.routes))
    await routeAsDecided(router, routerTarget, decision, observed.observations.routes);
  crashPoint("after-route", events);
  // Scale down only after the traffic has left the canary.
  if (plan.targetReplicas === 0) {
    await scaleTo(deps, target, 0);
    crashPoint("after-scale-down", events);
  }
}

/** Drift in what the Canary owns, when converge is about to run (it needs the target and its revision). */
async function observeDrift(
  deps: ReconcilerDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  decided: Decision,
  observed: Observed,
  routing: Routing,
): Promise<DriftFound> {
  const { target, revision, primaryDeployment: primary } = observed;
  if (!target || !revision || !routing.router) return NO_DRIFT;
  const input = {
    client: deps.client,
    canary,
    resolved,
    target,
    revision,
    primary,
    before: canary.status ?? {},
    after: decided.status,
    router: routing.router,
    routes: observed.observations.routes,
  };
  try {
    return await findDrift(input, driftMode(canary.metadata.annotations));
  } catch (err) {
    // A configuration the owner must fix: converge reports it; drift is looked at once it is fixed.
    if (blockerOf(err)) return NO_DRIFT;
    throw err;
  }
}

/** Corrects the drift found (correct mode) and counts what was reported this time. */
async function putBackDrift(
  deps: ReconcilerDeps,
  canary: Canary,
  revision: Revision,
  drift: DriftFound,
): Promise<void> {
  if (drift.mode !== "correct" || drift.corrections.length === 0) return;
  await correctDrift(deps.client, canary, revision, drift);
  for (const kind of drift.correctedKinds) {
    deps.driftCorrected?.(canary.metadata.namespace ?? "", canary.metadata.name, kind);
  }
}

async function scaleTo(deps: ReconcilerDeps, target: Workload, replicas: number): Promise<void> {
  await scaleTarget(deps.client, target, replicas);
}

/** Applies the split of the decided status, unless the route was seen carrying it already this tick. */
async function routeAsDecided(
  router: Router,
  target: RouterTarget,
  decision: Decision,
  seen: Routes | undefined,
): Promise<void> {
  const wanted = desiredState(decision.status, target.resolved).routes;
  if (!seen || !sameRoutes(seen, wanted)) await router.setRoutes(target, wanted);
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
