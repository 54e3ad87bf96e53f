import type { CanaryMetric, CanarySpec, ProviderName } from "./canary.ts";
import { parseDuration } from "./common.ts";

/** Flagger's defaults; README.md lists them and every place kanaria differs. */
export const DEFAULTS = {
  intervalMs: 60_000,
  minIntervalMs: 10_000,
  threshold: 1,
  maxWeight: 100,
  progressDeadlineSeconds: 600,
  readyThreshold: 100,
  metricInterval: "1m",
  servicePortName: "http",
  webhookTimeoutMs: 10_000,
} as const;

export type Strategy = "canary" | "blue-green" | "ab-testing";

/** A Canary's settings with every default applied: what the controller decides with. */
export interface ResolvedCanary {
  provider: ProviderName;
  strategy: Strategy;
  intervalMs: number;
  threshold: number;
  maxWeight: number;
  /** Weights of the canary strategy, in order; empty for blue/green and A/B. */
  stepWeights: number[];
  stepWeightPromotion: number | undefined;
  iterations: number;
  /** analysis.mirror: blue/green copies the requests to the canary during its analysis (as Flagger). */
  mirror: boolean;
  primaryReadyThreshold: number;
  canaryReadyThreshold: number;
  progressDeadlineMs: number;
  /** How long inconclusive checks may hold a step (analysis.inconclusiveTimeout, else progressDeadlineMs). */
  inconclusiveMs: number;
  serviceName: string;
  metrics: (CanaryMetric & { interval: string; onNoData: "fail" | "skip" })[];
}

export function resolveCanary(
  spec: CanarySpec,
  defaultProvider: ProviderName = "kubernetes",
): ResolvedCanary {
  const a = spec.analysis;
  const maxWeight = a.maxWeight ?? DEFAULTS.maxWeight;
  const progressDeadlineMs = (spec.progressDeadlineSeconds ?? DEFAULTS.progressDeadlineSeconds) * 1000;
  const strategy: Strategy = a.iterations !== undefined ? (a.match ? "ab-testing" : "blue-green") : "canary";
  return {
    provider: spec.provider ?? defaultProvider,
    strategy,
    intervalMs: Math.max(
      DEFAULTS.minIntervalMs,
      a.interval ? parseDuration(a.interval) : DEFAULTS.intervalMs,
    ),
    threshold: a.threshold ?? DEFAULTS.threshold,
    maxWeight,
    stepWeights: strategy === "canary" ? canarySteps(a.stepWeight, a.stepWeights, maxWeight) : [],
    stepWeightPromotion: a.stepWeightPromotion,
    iterations: a.iterations ?? 0,
    mirror: a.mirror === true,
    primaryReadyThreshold: a.primaryReadyThreshold ?? DEFAULTS.readyThreshold,
    canaryReadyThreshold: a.canaryReadyThreshold ?? DEFAULTS.readyThreshold,
    progressDeadlineMs,
    inconclusiveMs: a.inconclusiveTimeout ? parseDuration(a.inconclusiveTimeout) : progressDeadlineMs,
    serviceName: spec.service.name ?? spec.targetRef.name,
    metrics: (a.metrics ?? []).map((m) => ({
      ...m,
      interval: m.interval ?? DEFAULTS.metricInterval,
      onNoData: m.onNoData ?? "fail",
    })),
  };
}

/** stepWeight 20, maxWeight 50 -> [20, 40, 50]; explicit stepWeights are used as written (capped at 100). */
export function canarySteps(
  stepWeight: number | undefined,
  stepWeights: number[] | undefined,
  maxWeight: number,
): number[] {
  if (stepWeights && stepWeights.length > 0) return stepWeights.map((w) => Math.min(w, 100));
  if (!stepWeight || stepWeight <= 0) return [];
  const steps: number[] = [];
  for (let w = stepWeight; w < maxWeight; w += stepWeight) steps.push(w);
  steps.push(maxWeight);
  return steps;
}
