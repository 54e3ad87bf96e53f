/**
 * autoscaling/v2 HorizontalPodAutoscaler. Nothing to pause on the canary: the HPA controller leaves a
 * target at zero replicas alone ("ScalingDisabled") and takes over again once kanaria scales it up.
 */
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

interface HpaSpec {
  scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string };
  minReplicas?: number;
  maxReplicas?: number;
  metrics?: unknown[];
  behavior?: unknown;
}

type Hpa = KubeObject & { spec?: HpaSpec };

export const HPA_API_VERSION = "autoscaling/v2";

export class HpaScaler implements Scaler {
  readonly apiVersion = HPA_API_VERSION;

  bounds(scaler: KubeObject): ScalerBounds {
    const spec = (scaler as Hpa).spec ?? {};
    // minReplicas defaults to 1 in autoscaling/v2; maxReplicas is required.
    return { min: spec.minReplicas ?? 1, max: spec.maxReplicas ?? spec.minReplicas ?? 1 };
  }

  primary({ canary, referenced, floor }: PrimaryScalerInput): KubeObject {
    const spec = (referenced as Hpa).spec ?? {};
    const { min, max } = primaryBounds(canary, this.bounds(referenced), floor);
    const own = primaryBounds(canary, this.bounds(referenced), undefined).min;
    const target = spec.scaleTargetRef ?? {};
    return {
      apiVersion: HPA_API_VERSION,
      kind: "HorizontalPodAutoscaler",
      metadata: withOwnMin(primaryMetadata(canary, referenced), own),
      spec: {
        scaleTargetRef: {
          apiVersion: target.apiVersion ?? "apps/v1",
          kind: target.kind ?? "Deployment",
          name: primaryName(canary.spec.targetRef.name),
        },
        minReplicas: min,
        maxReplicas: max,
        ...(spec.metrics ? { metrics: spec.metrics } : {}),
        ...(spec.behavior ? { behavior: spec.behavior } : {}),
      },
    } as KubeObject;
  }

  withMinimum(scaler: KubeObject, min: number): KubeObject {
    return { ...scaler, spec: { ...(scaler as Hpa).spec, minReplicas: min } } as KubeObject;
  }

  pausePatch(): undefined {
    return undefined;
  }
}
