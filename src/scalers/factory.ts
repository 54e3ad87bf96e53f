import type { AutoscalerKind } from "../api/canary.ts";
import { HpaScaler } from "./hpa.ts";
import { KedaScaler } from "./keda.ts";
import type { Scaler } from "./scaler.ts";

/** One entry per autoscaler kind: adding one is its file plus an entry here (and a WatchedKind). */
const SCALERS: Record<AutoscalerKind, Scaler> = {
  HorizontalPodAutoscaler: new HpaScaler(),
  ScaledObject: new KedaScaler(),
};

export function scalerFor(kind: AutoscalerKind): Scaler {
  return SCALERS[kind];
}
