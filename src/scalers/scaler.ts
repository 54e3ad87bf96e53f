/**
 * The extension point for autoscalers (spec.autoscalerRef): one implementation per kind (hpa.ts,
 * keda.ts), picked by factory.ts. A Scaler only shapes objects; the controller reads and writes them.
 */
import type { Canary } from "../api/canary.ts";
import type { KubeObject } from "../kube/types.ts";
import { canaryOwnerReference, userAnnotations } from "../workloads/meta.ts";
import { primaryName } from "../workloads/primary.ts";

/** The replica range an autoscaler keeps its target in. */
export interface ScalerBounds {
  min: number;
  max: number;
}

export interface PrimaryScalerInput {
  canary: Canary;
  /** The autoscaler spec.autoscalerRef names (it scales the target, i.e. the canary). */
  referenced: KubeObject;
  /** A minimum to hold on the primary above the referenced one (a release under way); undefined: none. */
  floor: number | undefined;
}

export interface Scaler {
  /** The apiVersion kanaria reads and writes this kind at. */
  readonly apiVersion: string;
  /** The bounds an autoscaler object sets, its API's defaults filled in. */
  bounds(scaler: KubeObject): ScalerBounds;
  /**
   * `<name>-primary`: the referenced autoscaler aimed at `<target>-primary`, with
   * primaryScalerReplicas (and the floor, within its maximum) as its bounds. Pure; applied as is.
   */
  primary(input: PrimaryScalerInput): KubeObject;
  /**
   * The metadata patch that pauses (true) or resumes (false) the referenced autoscaler, or undefined
   * when it already is so or its kind needs none (an HPA does nothing while its target is at zero).
   */
  pausePatch(referenced: KubeObject, paused: boolean): Record<string, unknown> | undefined;
}

/** Name of the autoscaler kanaria keeps for the primary. */
export function primaryScalerName(canary: Canary): string {
  return primaryName(canary.spec.autoscalerRef?.name ?? "");
}

/** The bounds primaryScalerReplicas sets over the referenced ones, then the floor within the maximum. */
export function primaryBounds(
  canary: Canary,
  referenced: ScalerBounds,
  floor: number | undefined,
): ScalerBounds {
  const overrides = canary.spec.autoscalerRef?.primaryScalerReplicas;
  const max = overrides?.maxReplicas ?? referenced.max;
  const min = Math.min(overrides?.minReplicas ?? referenced.min, max);
  return { min: floor === undefined ? min : Math.max(min, Math.min(floor, max)), max };
}

/** Metadata of a generated autoscaler: the referenced one's labels and user annotations, owned by the Canary. */
export function primaryMetadata(
  canary: Canary,
  referenced: KubeObject,
  dropAnnotation: (key: string) => boolean = () => false,
): KubeObject["metadata"] {
  const annotations = Object.fromEntries(
    Object.entries(userAnnotations(referenced.metadata.annotations)).filter(([k]) => !dropAnnotation(k)),
  );
  return {
    name: primaryScalerName(canary),
    namespace: canary.metadata.namespace ?? "",
    ...(referenced.metadata.labels ? { labels: { ...referenced.metadata.labels } } : {}),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    ownerReferences: [canaryOwnerReference(canary)],
  };
}
