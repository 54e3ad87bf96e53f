/**
 * KEDA keda.sh/v1alpha1 ScaledObject. Between releases the referenced ScaledObject is paused at zero
 * replicas (KEDA's paused-replicas annotation, as Flagger does), since KEDA would otherwise scale the
 * canary back up; it is resumed when a release starts and when revertOnDeletion hands the target back.
 */
import type { Canary } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import type { KubeObject } from "../kube/types.ts";
import { primaryName } from "../workloads/primary.ts";
import {
  type PrimaryScalerInput,
  primaryBounds,
  primaryMetadata,
  type Scaler,
  type ScalerBounds,
  withOwnMin,
} from "./scaler.ts";

/** KEDA holds the target at this many replicas while the annotation is set. */
export const PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas";
export const KEDA_API_VERSION = "keda.sh/v1alpha1";

interface Trigger {
  type?: string;
  name?: string;
  metadata?: Record<string, string>;
}

interface ScaledObjectSpec {
  scaleTargetRef?: { name?: string; kind?: string; apiVersion?: string; envSourceContainerName?: string };
  minReplicaCount?: number;
  maxReplicaCount?: number;
  advanced?: { horizontalPodAutoscalerConfig?: { name?: string } & Record<string, unknown> } & Record<
    string,
    unknown
  >;
  triggers?: Trigger[];
}

type ScaledObject = KubeObject & { spec?: ScaledObjectSpec };

export class KedaScaler implements Scaler {
  readonly apiVersion = KEDA_API_VERSION;

  bounds(scaler: KubeObject): ScalerBounds {
    const spec = (scaler as ScaledObject).spec ?? {};
    // KEDA's defaults: minReplicaCount 0, maxReplicaCount 100.
    return { min: spec.minReplicaCount ?? 0, max: spec.maxReplicaCount ?? 100 };
  }

  primary({ canary, referenced, floor }: PrimaryScalerInput): KubeObject {
    const spec = (referenced as ScaledObject).spec ?? {};
    const { min, max } = primaryBounds(canary, this.bounds(referenced), floor);
    const own = primaryBounds(canary, this.bounds(referenced), undefined).min;
    const metadata = primaryMetadata(canary, referenced, (key) =>
      key.startsWith("autoscaling.keda.sh/paused"),
    );
    return {
      apiVersion: KEDA_API_VERSION,
      kind: "ScaledObject",
      metadata: withOwnMin(metadata, own),
      spec: {
        ...spec,
        scaleTargetRef: { ...spec.scaleTargetRef, name: primaryName(canary.spec.targetRef.name) },
        minReplicaCount: min,
        maxReplicaCount: max,
        ...(spec.advanced ? { advanced: primaryAdvanced(spec.advanced) } : {}),
        triggers: primaryTriggers(canary, referenced as ScaledObject),
      },
    } as KubeObject;
  }

  withMinimum(scaler: KubeObject, min: number): KubeObject {
    return { ...scaler, spec: { ...(scaler as ScaledObject).spec, minReplicaCount: min } } as KubeObject;
  }

  pausePatch(referenced: KubeObject, paused: boolean): Record<string, unknown> | undefined {
    const current = referenced.metadata.annotations?.[PAUSED_REPLICAS];
    if (paused ? current === "0" : current === undefined) return undefined;
    return { metadata: { annotations: { [PAUSED_REPLICAS]: paused ? "0" : null } } };
  }
}

/** The HPA KEDA makes for the primary must not take the referenced one's name, if it has one. */
function primaryAdvanced(advanced: NonNullable<ScaledObjectSpec["advanced"]>): ScaledObjectSpec["advanced"] {
  const hpa = advanced.horizontalPodAutoscalerConfig;
  if (!hpa?.name) return advanced;
  return { ...advanced, horizontalPodAutoscalerConfig: { ...hpa, name: primaryName(hpa.name) } };
}

/**
 * The triggers of the primary's ScaledObject: a query named in primaryScalerQueries replaces the
 * trigger's; any other query gets the target's name (alone, or as <target>-canary) changed to
 * <target>-primary, as Flagger guesses it.
 */
export function primaryTriggers(canary: Canary, referenced: ScaledObject): Trigger[] {
  const queries = canary.spec.autoscalerRef?.primaryScalerQueries ?? {};
  const triggers = referenced.spec?.triggers ?? [];
  const names = new Set(triggers.map((t) => t.name).filter((n) => n !== undefined));
  const unknown = Object.keys(queries).filter((name) => !names.has(name));
  if (unknown.length > 0) {
    throw new ConfigBlockerError(
      "AutoscalerInvalid",
      `spec.autoscalerRef.primaryScalerQueries names ${unknown.join(", ")}, but ScaledObject ${referenced.metadata.namespace}/${referenced.metadata.name} has no trigger of that name (its named triggers: ${[...names].join(", ") || "none"}): set spec.triggers[].name in the ScaledObject or fix the key`,
    );
  }
  // Only metadata.query is replaced: a query given for a trigger without one would be dropped unseen.
  const queryless = triggers.filter(
    (t) => t.name !== undefined && Object.hasOwn(queries, t.name) && t.metadata?.query === undefined,
  );
  if (queryless.length > 0) {
    throw new ConfigBlockerError(
      "AutoscalerInvalid",
      `spec.autoscalerRef.primaryScalerQueries names ${queryless.map((t) => `${t.name} (type ${t.type ?? "?"})`).join(", ")}, but in ScaledObject ${referenced.metadata.namespace}/${referenced.metadata.name} that trigger has no metadata.query to replace: remove the key (the primary's copy takes the trigger as it is)`,
    );
  }
  const target = canary.spec.targetRef.name;
  return triggers.map((trigger) => {
    const query = trigger.metadata?.query;
    if (query === undefined) return trigger;
    // Own keys only: a trigger named "constructor" must not find Object's.
    const named =
      trigger.name !== undefined && Object.hasOwn(queries, trigger.name) ? queries[trigger.name] : undefined;
    return { ...trigger, metadata: { ...trigger.metadata, query: named ?? primaryQuery(query, target) } };
  });
}

export function primaryQuery(query: string, target: string): string {
  const escaped = target.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return query.replace(new RegExp(`${escaped}(?:-canary|-primary)?`, "g"), primaryName(target));
}
