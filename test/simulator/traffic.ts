// Pure request simulation: which variant and pod a request reaches, and what it answers.
import type { ClusterState, Pod, RouteState } from "./cluster-state.ts";
import { fitLogNormal, profileFor, type SimulatorConfig, sampleLatencyMs } from "./profiles.ts";
import type { Random } from "./random.ts";

export type Variant = "primary" | "canary";
export const VARIANTS: readonly Variant[] = ["primary", "canary"];

export interface RequestOutcome {
  variant: Variant;
  pod: Pod;
  status: number;
  latencyMs: number;
  /** A copy the router mirrored to the canary: its answer goes nowhere, but the canary's metrics count it. */
  mirrored?: boolean;
}

/**
 * The variant the router would send one request to. A request carrying the header/cookie (a
 * `headerShare` of all requests, only when the router matches on one) goes to the canary, the others
 * by weight. A variant with no ready pods gets nothing: canary-bound requests then fall back to the
 * primary, and requests with no ready pod anywhere are not simulated (undefined).
 */
export function chooseVariant(
  route: RouteState,
  ready: Record<Variant, boolean>,
  headerShare: number,
  random: Random,
): Variant | undefined {
  const matched = route.matchRouting && random.next() < headerShare;
  const toCanary = matched || random.next() * 100 < route.canaryWeight;
  if (toCanary && ready.canary) return "canary";
  return ready.primary ? "primary" : undefined;
}

/** Generates requests against one cluster state; pods of a variant take turns (round robin). */
export class TrafficGenerator {
  readonly #config: SimulatorConfig;
  readonly #random: Random;
  readonly #nextPod: Record<Variant, number> = { primary: 0, canary: 0 };

  constructor(config: SimulatorConfig, random: Random) {
    this.#config = config;
    this.#random = random;
  }

  generate(state: ClusterState, count: number): RequestOutcome[] {
    const ready = { primary: state.primary.length > 0, canary: state.canary.length > 0 };
    const headerShare = this.#config.headerShare ?? 0;
    const outcomes: RequestOutcome[] = [];
    for (let i = 0; i < count; i++) {
      const variant = chooseVariant(state.route, ready, headerShare, this.#random);
      if (variant) outcomes.push(this.#serve(variant, state[variant]));
      const mirror = state.route.mirrorPercent ?? 0;
      if (variant === "primary" && ready.canary && mirror > 0 && this.#random.next() * 100 < mirror) {
        outcomes.push({ ...this.#serve("canary", state.canary), mirrored: true });
      }
    }
    return outcomes;
  }

  #serve(variant: Variant, pods: Pod[]): RequestOutcome {
    const pod = pods[this.#nextPod[variant]++ % pods.length] as Pod;
    const profile = profileFor(this.#config, pod.images);
    const status = this.#random.next() < profile.successRate ? 200 : 500;
    const latencyMs = sampleLatencyMs(fitLogNormal(profile.latencyMs), this.#random);
    return { variant, pod, status, latencyMs };
  }
}
