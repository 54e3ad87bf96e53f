/**
 * Converge, the last verb of a reconcile: the cluster is brought to the status just persisted (the
 * primary, the Services, the replicas and the route, in an order that never leaves traffic on pods
 * that are not ready), and drift is put back. What to write comes from desired.ts; this file only
 * carries it out.
 */
import type { Canary } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { KubeClient } from "../kube/types.ts";
import { type Router, type RouterTarget, type Routes, sameRoutes } from "../routers/router.ts";
import type { LabelPrefixes } from "../workloads/label-prefix.ts";
import type { Workload } from "../workloads/meta.ts";
import {
  ensurePrimary,
  isReady,
  observeWorkload,
  restorePrimary,
  scaleTarget,
} from "../workloads/primary.ts";
import type { Revision } from "../workloads/revision.ts";
import { ensureServices, releaseApexService } from "../workloads/services.ts";
import { scaleAfterRoutes, scaleBeforeRoutes } from "./autoscaling.ts";
import { crashPoint } from "./crash-points.ts";
import type { Decision } from "./decide.ts";
import { deletionStep, desiredState, workloadPlan } from "./desired.ts";
import { correctDrift, type DriftFound } from "./drift-check.ts";
import type { Observed } from "./observe.ts";

/** What converging needs of the reconciler's dependencies. */
export interface ConvergeDeps {
  client: KubeClient;
  /** --include-label-prefix: the target's labels its primary and config copies carry. */
  labelPrefixes?: LabelPrefixes;
  /** A drifted object of this kind was put back (kanaria_drift_corrections_total). */
  driftCorrected?: (namespace: string, name: string, kind: string) => void;
}

export async function converge(
  deps: ConvergeDeps,
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
    autoscaled: autoscaled(observed),
  });
  await putBackDrift(deps, canary, revision, drift);
  // Warn mode leaves a Service or split someone changed as found, unless kanaria decides a new split.
  if (!drift.holdServices && !(await deletedSinceDriftCheck(deps.client, canary, drift)))
    await ensureServices(deps.client, canary, target);
  crashPoint("after-services", events);
  if (plan.copyToPrimary) {
    await ensurePrimary(deps.client, canary, target, revision, deps.labelPrefixes);
    crashPoint("after-primary", events);
  }
  if (plan.restorePrimary) {
    const promoted = decision.status.lastPromotedSpec ?? "";
    await restorePrimary(deps.client, canary, target, revision, promoted, deps.labelPrefixes);
    crashPoint("after-primary", events);
  }
  const { autoscaling } = observed;
  if (autoscaling)
    await scaleBeforeRoutes(deps.client, canary, decision.status, autoscaling, desired.target === "up");
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
  if (autoscaling)
    await scaleAfterRoutes(deps.client, canary, decision.status, autoscaling, desired.target === "zero");
  // Scale down only after the traffic has left the canary.
  if (plan.targetReplicas === 0) {
    await scaleTo(deps, target, 0);
    crashPoint("after-scale-down", events);
  }
}

/**
 * A Service deleted between the drift check and now (its watch event came mid-reconcile): recreating it
 * here would do so without a report; the reconcile its deletion queues reports it and recreates it.
 */
async function deletedSinceDriftCheck(
  client: KubeClient,
  canary: Canary,
  drift: DriftFound,
): Promise<boolean> {
  const namespace = canary.metadata.namespace ?? "";
  for (const name of drift.servicesSeen) {
    if (!(await client.get({ apiVersion: "v1", kind: "Service", namespace, name }))) return true;
  }
  return false;
}

/** Corrects the drift found (correct mode) and counts what was reported this time. */
async function putBackDrift(
  deps: ConvergeDeps,
  canary: Canary,
  revision: Revision,
  drift: DriftFound,
): Promise<void> {
  if (drift.mode !== "correct" || drift.corrections.length === 0) return;
  await correctDrift(deps.client, canary, revision, drift, deps.labelPrefixes);
  for (const kind of drift.correctedKinds) {
    deps.driftCorrected?.(canary.metadata.namespace ?? "", canary.metadata.name, kind);
  }
}

/** The target's own autoscaler and its current scale, for the canary's scale-up (workloadPlan). */
function autoscaled(observed: Observed): { targetReplicas: number; min: number } | undefined {
  const { autoscaling, target } = observed;
  if (!autoscaling || !target) return undefined;
  return {
    targetReplicas: observeWorkload(target).replicas,
    min: autoscaling.scaler.bounds(autoscaling.referenced).min,
  };
}

async function scaleTo(deps: ConvergeDeps, target: Workload, replicas: number): Promise<void> {
  await scaleTarget(deps.client, target, replicas);
}

/** Applies the split of the decided status, unless the route was seen carrying it already this tick. */
export async function routeAsDecided(
  router: Router,
  target: RouterTarget,
  decision: Decision,
  seen: Routes | undefined,
): Promise<void> {
  const wanted = desiredState(decision.status, target.resolved).routes;
  if (!seen || !sameRoutes(seen, wanted)) await router.setRoutes(target, wanted);
}

/**
 * revertOnDeletion: before the Canary goes, give the target back its traffic, as if kanaria had never
 * been there. The primary and the generated Services and routes are then garbage-collected with the
 * Canary; the apex Service is released first, so it survives. Which step comes next is deletionStep()'s
 * decision (desired.ts). Returns true once the target serves the apex Service on its own.
 */
export async function restoreTarget(
  client: KubeClient,
  /** undefined: the provider has no router here, so nothing was routed to take back. */
  router: Router | undefined,
  canary: Canary,
  resolved: ResolvedCanary,
  target: Workload | undefined,
  primaryReplicas: number | undefined,
): Promise<boolean> {
  const state = target && observeWorkload(target);
  const observed = state && {
    replicas: state.replicas,
    ready: isReady(state, resolved.canaryReadyThreshold),
    draining: state.draining,
  };
  const step = deletionStep(observed, primaryReplicas);
  switch (step.kind) {
    case "done":
      return true;
    case "wait":
      return false;
    case "scale-target":
      if (target) await scaleTarget(client, target, step.replicas);
      return false;
    case "release":
      if (target) await releaseApexService(client, canary, target);
      await router?.finalize({ canary, resolved });
      return true;
  }
}
