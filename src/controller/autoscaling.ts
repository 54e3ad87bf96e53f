/**
 * spec.autoscalerRef: kanaria keeps `<name>-primary`, a copy of the referenced autoscaler aimed at the
 * primary, while the referenced one keeps scaling the target (the canary) during a release.
 *
 * Beyond Flagger (its issue #1600): when a release starts, status.primaryScaler records how many ready
 * replicas the primary had, and the primary's autoscaler keeps at least that many (its minimum raised,
 * within its maximum) until all traffic is back on the primary; decide() holds that switch until the
 * primary has them ready. The minimum goes back once the release is settled and the routes say so.
 * Everything is derived from the status and the cluster on each tick, so a restart changes nothing.
 */
import type { Canary, CanaryStatus, Phase } from "../api/canary.ts";
import { type Blocker, blockerOf } from "../errors.ts";
import { UnservedKindError } from "../kube/errors.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import { scalerFor } from "../scalers/factory.ts";
import {
  keptPrimary,
  ownBounds,
  primaryBounds,
  primaryScalerName,
  type Scaler,
  type ScalerBounds,
} from "../scalers/scaler.ts";
import { controllingCanary } from "../workloads/meta.ts";
import type { Decision } from "./decide.ts";

/** The autoscalers of one Canary as observed this tick (from the watch caches). */
export interface Autoscaling {
  scaler: Scaler;
  /** The autoscaler spec.autoscalerRef names. */
  referenced: KubeObject;
  /** `<name>-primary` as it is now; undefined before kanaria made it. */
  primary: KubeObject | undefined;
}

export type AutoscalingObservation = { autoscaling: Autoscaling; blocker?: undefined } | { blocker: Blocker };

/** Reads both autoscalers; a missing or unserved one, or a `-primary` someone else owns, is a blocker. */
export async function observeAutoscaling(
  client: KubeClient,
  canary: Canary,
): Promise<AutoscalingObservation | undefined> {
  const ref = canary.spec.autoscalerRef;
  if (!ref) return undefined;
  const scaler = scalerFor(ref.kind);
  const namespace = canary.metadata.namespace ?? "";
  const refOf = (name: string): ObjectRef => ({
    apiVersion: scaler.apiVersion,
    kind: ref.kind,
    namespace,
    name,
  });
  let referenced: KubeObject | undefined;
  let primary: KubeObject | undefined;
  try {
    [referenced, primary] = await Promise.all([
      client.get(refOf(ref.name)),
      client.get(refOf(primaryScalerName(canary))),
    ]);
  } catch (err) {
    if (!(err instanceof UnservedKindError)) throw err;
    return {
      blocker: {
        reason: "AutoscalerNotServed",
        message: `spec.autoscalerRef: the API server does not serve ${ref.kind} ${scaler.apiVersion}: install its CRD (KEDA for ScaledObject) or remove autoscalerRef`,
      },
    };
  }
  const what = `${ref.kind} ${namespace}/${ref.name}`;
  if (!referenced) {
    const message = `spec.autoscalerRef: ${what} does not exist: create it (aimed at Deployment ${canary.spec.targetRef.name}) or remove autoscalerRef`;
    return { blocker: { reason: "AutoscalerNotFound", message } };
  }
  if (primary && controllingCanary(primary) !== canary.metadata.name) {
    const message = `${ref.kind} ${namespace}/${primaryScalerName(canary)} exists and is not controlled by Canary ${canary.metadata.name}: delete it (kanaria creates it from spec.autoscalerRef) or point spec.autoscalerRef at an autoscaler of another name`;
    return { blocker: { reason: "AutoscalerNotOwned", message } };
  }
  const autoscaling = { scaler, referenced, primary };
  try {
    // Settings that cannot be applied (a primaryScalerQueries key naming no trigger) stop the Canary now.
    scaler.primary({ canary, referenced, floor: undefined });
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { blocker };
  }
  return { autoscaling };
}

/** Adds what observeAutoscaling found to an observation; its blocker only where there is none yet. */
export function withAutoscalerBlocker<
  T extends { observations: { blocker: Blocker | undefined }; autoscaling?: Autoscaling | undefined },
>(observed: T, scaling: AutoscalingObservation | undefined): T {
  if (!scaling) return observed;
  if (scaling.blocker === undefined) return { ...observed, autoscaling: scaling.autoscaling };
  if (observed.observations.blocker) return observed;
  return { ...observed, observations: { ...observed.observations, blocker: scaling.blocker } };
}

/** Phases in which the primary's floor is held: from the start of a release until all traffic is back on it. */
const RELEASE_PHASES: ReadonlySet<Phase | undefined> = new Set<Phase | undefined>([
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
]);

/** The minimum to hold on the primary's autoscaler for a status; undefined: its own. */
export function floorFor(status: CanaryStatus): number | undefined {
  const record = status.primaryScaler;
  if (!RELEASE_PHASES.has(status.phase) || record?.revision !== status.lastAppliedSpec) return undefined;
  return record?.floor;
}

/**
 * Records the primary's ready replicas in the status of the first decision of a release (once per
 * revision): the decision's status write carries it, so a crash before it records it again.
 */
export function withPrimaryCapacity(
  decision: Decision,
  canary: Canary,
  autoscaling: Autoscaling | undefined,
  primaryReady: number | undefined,
): Decision {
  const status = decision.status;
  const revision = status.lastAppliedSpec;
  if (!autoscaling || !RELEASE_PHASES.has(status.phase) || revision === undefined) return decision;
  const bounds = ownPrimaryBounds(canary, status, autoscaling);
  const record = status.primaryScaler;
  if (record?.revision === revision) {
    // A promotion may bring a lower maximum: the primary could never reach a floor above it.
    if (record.floor <= bounds.max) return decision;
    return {
      ...decision,
      status: { ...status, primaryScaler: { ...record, floor: Math.max(1, bounds.max) } },
    };
  }
  const readyReplicas = primaryReady ?? 0;
  const floor = Math.max(1, bounds.min, Math.min(readyReplicas, bounds.max));
  return { ...decision, status: { ...status, primaryScaler: { revision, readyReplicas, floor } } };
}

/**
 * As Flagger documents it, the referenced autoscaler's settings reach `<name>-primary` when it is made
 * and when a release is promoted (an edit is tried on the canary first); in between it keeps them.
 */
function copiesNow(status: CanaryStatus): boolean {
  return (status.phase === "Promoting" && status.restoring === undefined) || status.phase === "Finalising";
}

function desiredPrimary(canary: Canary, status: CanaryStatus, autoscaling: Autoscaling): KubeObject {
  const { scaler, referenced, primary } = autoscaling;
  const floor = floorFor(status);
  if (!primary || copiesNow(status)) return scaler.primary({ canary, referenced, floor });
  return keptPrimary(scaler, primary, floor);
}

/** The bounds of `<name>-primary` without a floor, as desiredPrimary makes it for a status. */
function ownPrimaryBounds(canary: Canary, status: CanaryStatus, autoscaling: Autoscaling): ScalerBounds {
  const { scaler, referenced, primary } = autoscaling;
  if (!primary || copiesNow(status)) return primaryBounds(canary, scaler.bounds(referenced), undefined);
  return ownBounds(scaler, primary);
}

/**
 * Before the routes change: resume the canary's autoscaler when the target runs (before kanaria scales
 * it up), and make or update the primary's unless that lowers its minimum (that waits for the routes).
 */
export async function scaleBeforeRoutes(
  client: KubeClient,
  canary: Canary,
  status: CanaryStatus,
  autoscaling: Autoscaling,
  targetRuns: boolean,
): Promise<void> {
  const { scaler, referenced, primary } = autoscaling;
  if (targetRuns) await pause(client, scaler, referenced, false);
  const desired = desiredPrimary(canary, status, autoscaling);
  if (!primary || scaler.bounds(desired).min >= scaler.bounds(primary).min) await client.apply(desired);
}

/**
 * After the routes change: the primary's autoscaler as the status wants it (a floor given back once the
 * traffic is on the primary), then the canary's paused before kanaria scales the target to zero.
 */
export async function scaleAfterRoutes(
  client: KubeClient,
  canary: Canary,
  status: CanaryStatus,
  autoscaling: Autoscaling,
  targetStops: boolean,
): Promise<void> {
  await client.apply(desiredPrimary(canary, status, autoscaling));
  if (targetStops) await pause(client, autoscaling.scaler, autoscaling.referenced, true);
}

/** revertOnDeletion: the target's own autoscaler scales it again (the primary's goes with the Canary). */
export async function releaseAutoscaler(client: KubeClient, autoscaling: Autoscaling): Promise<void> {
  await pause(client, autoscaling.scaler, autoscaling.referenced, false);
}

async function pause(
  client: KubeClient,
  scaler: Scaler,
  referenced: KubeObject,
  paused: boolean,
): Promise<void> {
  const patch = scaler.pausePatch(referenced, paused);
  if (!patch) return;
  const { apiVersion, kind, metadata } = referenced;
  await client.mergePatch(
    { apiVersion, kind, namespace: metadata.namespace ?? "", name: metadata.name },
    patch,
  );
}
