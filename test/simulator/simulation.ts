// The simulation without I/O: ticks turn the latest cluster state into requests, which are recorded
// in the Prometheus exposition, in running totals (snapshot) and in a window that CloudWatch drains.
import type { ClusterState } from "./cluster-state.ts";
import { Exposition } from "./exposition.ts";
import type { SimulatorConfig } from "./profiles.ts";
import { seededRandom } from "./random.ts";
import { type RequestOutcome, TrafficGenerator, VARIANTS, type Variant } from "./traffic.ts";

export interface VariantTotals {
  requests: number;
  /** Requests answered with a 5xx status. */
  errors: number;
  latencyMsSum: number;
}

export interface WindowFigures {
  requests: number;
  errors: number;
  /** Latencies of the window's requests, in the order they were simulated. */
  latenciesMs: number[];
}

export interface SimulationSnapshot {
  /** Ticks run so far; each adds rps * seconds requests, carrying fractions over to the next. */
  ticks: number;
  totals: Record<Variant, VariantTotals>;
  /** The cluster state the last tick used; undefined before the first one. */
  state: ClusterState | undefined;
}

export interface SimulationOptions {
  namespace: string;
  rps: number;
  config: SimulatorConfig;
  seed: number;
  /** Keep per-window figures for drainWindow(); off when nobody drains them, so they cannot pile up. */
  collectWindow: boolean;
  /** Write the Envoy sidecar series (exposition.ts); default true. */
  envoy?: boolean;
}

const emptyTotals = (): VariantTotals => ({ requests: 0, errors: 0, latencyMsSum: 0 });
const emptyWindow = (): WindowFigures => ({ requests: 0, errors: 0, latenciesMs: [] });

export class Simulation {
  readonly exposition: Exposition;
  readonly #rps: number;
  readonly #traffic: TrafficGenerator;
  readonly #collectWindow: boolean;
  #state: ClusterState | undefined;
  #carry = 0;
  #ticks = 0;
  #totals: Record<Variant, VariantTotals> = { primary: emptyTotals(), canary: emptyTotals() };
  #window: Record<Variant, WindowFigures> = { primary: emptyWindow(), canary: emptyWindow() };

  constructor(options: SimulationOptions) {
    this.exposition = new Exposition(options.namespace, { envoy: options.envoy ?? true });
    this.#rps = options.rps;
    this.#traffic = new TrafficGenerator(options.config, seededRandom(options.seed));
    this.#collectWindow = options.collectWindow;
  }

  setState(state: ClusterState): void {
    this.#state = state;
  }

  /** Simulates rps * seconds requests against the latest state (none before a state is known). */
  tick(seconds: number): RequestOutcome[] {
    if (!this.#state) return [];
    this.#ticks++;
    const due = this.#rps * seconds + this.#carry;
    const count = Math.floor(due);
    this.#carry = due - count;
    const outcomes = this.#traffic.generate(this.#state, count);
    for (const outcome of outcomes) this.#record(outcome);
    return outcomes;
  }

  #record(outcome: RequestOutcome): void {
    const failed = outcome.status >= 500 ? 1 : 0;
    const totals = this.#totals[outcome.variant];
    totals.requests++;
    totals.errors += failed;
    totals.latencyMsSum += outcome.latencyMs;
    this.exposition.record(outcome, this.#state?.route.nginx);
    if (!this.#collectWindow) return;
    const window = this.#window[outcome.variant];
    window.requests++;
    window.errors += failed;
    window.latenciesMs.push(outcome.latencyMs);
  }

  /** Figures since the previous drain, per variant; resets the window. */
  drainWindow(): Record<Variant, WindowFigures> {
    const window = this.#window;
    this.#window = { primary: emptyWindow(), canary: emptyWindow() };
    return window;
  }

  snapshot(): SimulationSnapshot {
    const totals = Object.fromEntries(VARIANTS.map((v) => [v, { ...this.#totals[v] }]));
    return { ticks: this.#ticks, totals: totals as Record<Variant, VariantTotals>, state: this.#state };
  }
}
