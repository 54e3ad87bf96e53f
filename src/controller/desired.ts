/**
 * What the cluster must look like for a given status: the reconciler converges to this after every
 * status write, so repeating it (after a crash, or on every tick) changes nothing.
 */
import type { CanaryStatus } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import { ALL_PRIMARY, type Routes } from "../routers/router.ts";

export interface DesiredState {
  /**
   * copy: the primary gets the target's pod template (bootstrap, promotion); restore: it goes back to
   * the last promoted revision (a failed promotion); keep: leave it.
   */
  primary: "copy" | "restore" | "keep";
  /** up: the target (canary) runs as many replicas as the primary; zero: scaled down; keep: untouched. */
  target: "up" | "zero" | "keep";
  routes: Routes;
}

export function desiredState(status: CanaryStatus, resolved: ResolvedCanary): DesiredState {
  switch (status.phase) {
    case undefined:
    case "Initializing":
      return { primary: "copy", target: "keep", routes: ALL_PRIMARY };
    case "Progressing":
    case "WaitingPromotion":
      return { primary: "keep", target: "up", routes: analysisRoutes(status, resolved) };
    case "Promoting":
      if (status.restoring) return { primary: "restore", target: "up", routes: restoringRoutes(status) };
      return { primary: "copy", target: "up", routes: analysisRoutes(status, resolved) };
    case "Terminating":
      return { primary: "keep", target: "up", routes: ALL_PRIMARY };
    case "Finalising":
    case "Failed":
      // The canary keeps its pods while it drains after its release (decide's draining), then goes to zero.
      return { primary: "keep", target: status.drainedTime ? "zero" : "keep", routes: ALL_PRIMARY };
    default:
      // Initialized, Succeeded: the primary serves everything.
      return { primary: "keep", target: "zero", routes: ALL_PRIMARY };
  }
}

function analysisRoutes(status: CanaryStatus, resolved: ResolvedCanary): Routes {
  const weight = status.canaryWeight ?? 0;
  const started = status.lastStepTime !== undefined;
  return {
    primaryWeight: 100 - weight,
    canaryWeight: weight,
    // A/B sends matching requests to the canary once its analysis has started.
    matched: resolved.strategy === "ab-testing" && started && weight === 0,
    // Blue/green with mirror copies requests to the canary while it is judged, until the switch.
    mirrored: resolved.strategy === "blue-green" && resolved.mirror && started && weight === 0,
  };
}

/** A plain split while a failed promotion is undone: no A/B match or mirror, the weight says where. */
function restoringRoutes(status: CanaryStatus): Routes {
  const weight = status.canaryWeight ?? 0;
  return { primaryWeight: 100 - weight, canaryWeight: weight, matched: false, mirrored: false };
}

/** What revertOnDeletion does next, given the target and primary as observed. */
export type DeletionStep =
  /** Nothing to give back: the target is gone. */
  | { kind: "done" }
  /** The target was scaled to zero between releases: run it at the primary's scale again. */
  | { kind: "scale-target"; replicas: number }
  /** The target is coming up, or its scale-down is still landing: wait before moving clients onto it. */
  | { kind: "wait" }
  /** The target is ready: point the apex Service at it and remove the routing objects. */
  | { kind: "release" };

export function deletionStep(
  target: { replicas: number; ready: boolean; draining: boolean } | undefined,
  primaryReplicas: number | undefined,
): DeletionStep {
  if (!target) return { kind: "done" };
  // A scale-up before the scale-down has landed reads as ready at once, from the old pods on their way out.
  if (target.draining) return { kind: "wait" };
  if (target.replicas === 0) return { kind: "scale-target", replicas: Math.max(1, primaryReplicas ?? 1) };
  return target.ready ? { kind: "release" } : { kind: "wait" };
}

/** The workload writes a status asks for, given what the target runs and the primary's scale now. */
export interface WorkloadPlan {
  /** Copy the target's pod template to the primary now. */
  copyToPrimary: boolean;
  /** Put the primary back on status.lastPromotedSpec from its ReplicaSet history now. */
  restorePrimary: boolean;
  /** The target's replica count to set; undefined: leave it. */
  targetReplicas: number | undefined;
}

export function workloadPlan(
  status: CanaryStatus,
  desired: DesiredState,
  observed: {
    targetRevision: string;
    primaryReplicas: number | undefined;
    targetDraining: boolean;
    primaryRevision?: string | undefined;
    /**
     * The target's own autoscaler (spec.autoscalerRef): kanaria only scales the target up from zero,
     * to the autoscaler's minimum (at least 1, as Flagger), and leaves the count to it from then on.
     */
    autoscaled?: { targetReplicas: number; min: number } | undefined;
  },
): WorkloadPlan {
  // Initializing copies whatever the target runs; Promoting only the revision that passed its analysis,
  // so a target changed since the decision waits for the next tick. A restore copies the target only if
  // it is back at the promoted revision (its configs come back too); otherwise the primary's history.
  const revisionToCopy =
    desired.primary === "restore"
      ? status.lastPromotedSpec
      : status.phase === "Promoting"
        ? status.lastAppliedSpec
        : observed.targetRevision;
  const copyToPrimary = desired.primary !== "keep" && observed.targetRevision === revisionToCopy;
  const targetReplicas =
    desired.target === "up" ? scaleUp(observed) : desired.target === "zero" ? 0 : undefined;
  return {
    copyToPrimary,
    restorePrimary:
      desired.primary === "restore" && !copyToPrimary && observed.primaryRevision !== status.lastPromotedSpec,
    targetReplicas,
  };
}

function scaleUp(observed: Parameters<typeof workloadPlan>[2]): number | undefined {
  // Not while its scale-down is landing: the old pods would pass for the new ones' readiness (deletionStep).
  if (observed.targetDraining) return undefined;
  const { autoscaled } = observed;
  if (autoscaled) return autoscaled.targetReplicas > 0 ? undefined : Math.max(1, autoscaled.min);
  // The canary runs as many pods as the primary, so both are judged at the same scale.
  return Math.max(1, observed.primaryReplicas ?? 1);
}
