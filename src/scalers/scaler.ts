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
  /** The autoscaler object with its minimum replaced (pure). */
  withMinimum(scaler: KubeObject, min: number): KubeObject;
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

/**
 * On `<name>-primary`: its own minimum, without a floor kanaria holds during a release, so the floor can
 * be given back without the referenced autoscaler (whose edits reach the primary only at a promotion).
 */
export const OWN_MIN_ANNOTATION = "kanaria.dev/min-replicas";

/** The bounds primaryScalerReplicas sets over the referenced ones, then the floor within the maximum. */
export function primaryBounds(
  canary: Canary,
  referenced: ScalerBounds,
  floor: number | undefined,
): ScalerBounds {
  const overrides = canary.spec.autoscalerRef?.primaryScalerReplicas;
  const max = overrides?.maxReplicas ?? referenced.max;
  const min = Math.min(overrides?.minReplicas ?? referenced.min, max);
  return { min: withFloor(min, max, floor), max };
}

function withFloor(min: number, max: number, floor: number | undefined): number {
  return floor === undefined ? min : Math.max(min, Math.min(floor, max));
}

/** The own bounds of a `<name>-primary` kanaria wrote (its minimum from OWN_MIN_ANNOTATION). */
export function ownBounds(scaler: Scaler, primary: KubeObject): ScalerBounds {
  const bounds = scaler.bounds(primary);
  const own = Number.parseInt(primary.metadata.annotations?.[OWN_MIN_ANNOTATION] ?? "", 10);
  return { min: Number.isNaN(own) ? bounds.min : own, max: bounds.max };
}

/**
 * `<name>-primary` as it is, with the floor (or without one, its own minimum): between promotions the
 * primary keeps the settings of the last one. Only the fields kanaria writes are taken over.
 */
export function keptPrimary(scaler: Scaler, primary: KubeObject, floor: number | undefined): KubeObject {
  const { name, namespace, labels, annotations, ownerReferences } = primary.metadata;
  const kept = {
    apiVersion: primary.apiVersion,
    kind: primary.kind,
    metadata: {
      name,
      namespace,
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    spec: (primary as { spec?: unknown }).spec,
  } as KubeObject;
  const own = ownBounds(scaler, primary);
  return scaler.withMinimum(kept, withFloor(own.min, own.max, floor));
}

/** The own minimum recorded on a fresh copy, beside the user's annotations. */
export function withOwnMin(metadata: KubeObject["metadata"], min: number): KubeObject["metadata"] {
  return { ...metadata, annotations: { ...metadata.annotations, [OWN_MIN_ANNOTATION]: String(min) } };
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
