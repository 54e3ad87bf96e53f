import {
  BUILTIN_METRICS,
  type CanaryMetric,
  type CanarySpec,
  type ProviderName,
  routerOf,
} from "./canary.ts";
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
  /** Flagger sets iterations to 10 when the kubernetes provider is given a progressive strategy. */
  kubernetesIterations: 10,
} as const;

export type Strategy = "canary" | "blue-green" | "ab-testing";

/** Fields of spec (paths below spec) that a Canary's strategy or router cannot use, and why. */
export interface Dropped {
  fields: string[];
  reason: string;
}

/** "analysis.stepWeight ignored: ..." */
export function describeDropped(d: Dropped): string {
  return `${d.fields.join(" and ")} ignored: ${d.reason}`;
}

/** A Canary's settings with every default applied: what the controller decides with. */
export interface ResolvedCanary {
  /** The router that runs: spec.provider with Flagger's versioned spellings normalised. */
  provider: ProviderName;
  /** Settings Flagger accepts and then overrides, overridden as Flagger does; warned about once per generation. */
  dropped: Dropped[];
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
  const progressDeadlineMs = (spec.progressDeadlineSeconds ?? DEFAULTS.progressDeadlineSeconds) * 1000;
  const provider = spec.provider ? routerOf(spec.provider) : defaultProvider;
  const { iterations, match, dropped } = flaggerOverrides(spec, provider);
  // As Flagger: iterations select blue/green (A/B with match), whatever stepWeight says.
  const strategy: Strategy = iterations !== undefined ? (match ? "ab-testing" : "blue-green") : "canary";
  // As Flagger's gatewayapi router: requests are mirrored during a blue/green analysis only. (Routers
  // that cannot mirror at all stall the Canary instead: unsupportedRouting.)
  if (a.mirror === true && strategy !== "blue-green" && provider === "gatewayapi") {
    dropped.push({
      fields: ["analysis.mirror", ...(a.mirrorWeight !== undefined ? ["analysis.mirrorWeight"] : [])],
      reason: `provider gatewayapi mirrors requests during a blue/green analysis (analysis.iterations without match) only, not in ${strategy === "canary" ? "a canary (stepWeight)" : "an A/B (match)"} analysis`,
    });
  }
  const stepWeights =
    strategy === "canary" ? canarySteps(a.stepWeight, a.stepWeights, a.maxWeight ?? DEFAULTS.maxWeight) : [];
  // As Flagger: explicit stepWeights run to their last weight, maxWeight bounds stepWeight only.
  const explicitSteps = strategy === "canary" && (a.stepWeights?.length ?? 0) > 0;
  const maxWeight = explicitSteps ? (stepWeights.at(-1) as number) : (a.maxWeight ?? DEFAULTS.maxWeight);
  if (explicitSteps && a.maxWeight !== undefined && a.maxWeight !== maxWeight) {
    dropped.push({
      fields: ["analysis.maxWeight"],
      reason: `analysis.stepWeights run to their last weight, ${maxWeight}`,
    });
  }
  return {
    provider,
    dropped,
    strategy,
    intervalMs: Math.max(
      DEFAULTS.minIntervalMs,
      a.interval ? parseDuration(a.interval) : DEFAULTS.intervalMs,
    ),
    threshold: a.threshold ?? DEFAULTS.threshold,
    maxWeight,
    stepWeights,
    stepWeightPromotion: a.stepWeightPromotion,
    iterations: iterations ?? 0,
    mirror: a.mirror === true,
    primaryReadyThreshold: a.primaryReadyThreshold ?? DEFAULTS.readyThreshold,
    canaryReadyThreshold: a.canaryReadyThreshold ?? DEFAULTS.readyThreshold,
    progressDeadlineMs,
    inconclusiveMs: a.inconclusiveTimeout ? parseDuration(a.inconclusiveTimeout) : progressDeadlineMs,
    serviceName: spec.service.name ?? spec.targetRef.name,
    metrics: (a.metrics ?? []).map((m) => ({
      ...withThresholdRange(m),
      interval: m.interval ?? DEFAULTS.metricInterval,
      onNoData: m.onNoData ?? "fail",
    })),
  };
}

/**
 * What Flagger does with settings its strategy cannot use: iterations win over stepWeight(s); the
 * kubernetes provider (no router to split traffic) drops match and runs blue/green, with 10 iterations
 * when none are set (warned about only when step weights are dropped for them).
 */
function flaggerOverrides(
  spec: CanarySpec,
  provider: ProviderName,
): { iterations: number | undefined; match: boolean; dropped: Dropped[] } {
  const a = spec.analysis;
  const dropped: Dropped[] = [];
  // The settings of the canary strategy's weights; maxWeight too (blue/green and A/B never step up to
  // it), and on kubernetes, which never splits traffic, stepWeightPromotion as well.
  const weights = [
    ...(a.stepWeight !== undefined ? ["analysis.stepWeight"] : []),
    ...(a.stepWeights !== undefined ? ["analysis.stepWeights"] : []),
    ...(a.maxWeight !== undefined ? ["analysis.maxWeight"] : []),
    ...(a.stepWeightPromotion !== undefined && provider === "kubernetes"
      ? ["analysis.stepWeightPromotion"]
      : []),
  ];
  let iterations = a.iterations;
  let match = a.match !== undefined;
  if (provider === "kubernetes" && match) {
    dropped.push({
      fields: ["analysis.match"],
      reason: "provider kubernetes cannot route by header or cookie (A/B testing)",
    });
    match = false;
  }
  if (weights.length > 0 && iterations !== undefined) {
    dropped.push({ fields: weights, reason: "analysis.iterations selects blue/green" });
  } else if (provider === "kubernetes" && iterations === undefined) {
    iterations = DEFAULTS.kubernetesIterations;
    if (weights.length > 0)
      dropped.push({
        fields: weights,
        reason: `provider kubernetes switches all traffic at once (blue/green), run with analysis.iterations ${iterations}`,
      });
  }
  return { iterations, match, dropped };
}

/** Flagger's deprecated threshold as the range it stands for: a floor for the success rate, else a ceiling. */
function withThresholdRange(m: CanaryMetric): CanaryMetric {
  if (m.threshold === undefined || m.thresholdRange !== undefined) return m;
  const floor = m.name === BUILTIN_METRICS[0];
  return { ...m, thresholdRange: floor ? { min: m.threshold } : { max: m.threshold } };
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
