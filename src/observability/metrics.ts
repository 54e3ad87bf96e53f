/**
 * The controller's Prometheus series: Flagger's canary series under the kanaria_ prefix, plus the
 * controller's own health (reconciles, work queue, watches, leadership).
 *
 * Canary gauges (total, status, weight, metric analysis) are computed from the watch cache when
 * Prometheus scrapes, so a reconcile tick costs nothing for them; the per-event series (successes,
 * failures, durations) keep one child per Canary so an update is a map lookup and an add.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type LabelValues, Registry } from "prom-client";
import type { Canary, CheckStatus, Phase } from "../api/canary.ts";

/** What the scrape-time gauges read; the manager wires its caches and queue in. */
export interface MetricsSources {
  canaries(): readonly Canary[];
  queueDepth(): number;
  isLeader(): boolean;
}

/** Flagger's kanaria_canary_status values. */
export const CANARY_STATUS = { running: 0, succeeded: 1, failed: 2 } as const;

const RUNNING: ReadonlySet<Phase | undefined> = new Set<Phase | undefined>([
  "Progressing",
  "WaitingPromotion",
  "Promoting",
  "Finalising",
  "Waiting",
]);

export function canaryStatusValue(phase: Phase | undefined): number | undefined {
  if (phase === "Succeeded" || phase === "Initialized") return CANARY_STATUS.succeeded;
  if (phase === "Failed") return CANARY_STATUS.failed;
  if (RUNNING.has(phase)) return CANARY_STATUS.running;
  return undefined;
}

type CanaryLabels = "name" | "namespace";

/** The kinds of objects drift is corrected in (their series go with their Canary). */
const DRIFT_KINDS = ["Deployment", "ConfigMap", "Secret", "Service", "Ingress", "HTTPRoute", "VirtualRouter"];

interface PerCanary {
  duration: Histogram.Internal<CanaryLabels>;
  successes: Counter.Internal;
  failures: Counter.Internal;
}

export class ControllerMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources | undefined;
  private readonly perCanary = new Map<string, PerCanary>();
  private readonly canaryDuration: Histogram<CanaryLabels>;
  private readonly successes: Counter<CanaryLabels>;
  private readonly failures: Counter<CanaryLabels>;
  private readonly reconcileDuration: Histogram<"result">;
  private readonly reconcileErrors: Counter;
  private readonly queueLateness: Histogram;
  private readonly watchRestarts: Counter<"kind" | "reason">;
  private readonly driftCorrections: Counter<CanaryLabels | "kind">;
  private readonly reconcileOk: Histogram.Internal<"result">;
  private readonly reconcileFailed: Histogram.Internal<"result">;

  constructor(version: string, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "kanaria_info",
      help: "kanaria version (always 1)",
      labelNames: ["version"],
      registers,
    }).set({ version }, 1);

    const self = this;
    new Gauge({
      name: "kanaria_canary_total",
      help: "Canaries per namespace (reported by the leader)",
      labelNames: ["namespace"],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const c of self.leaderCanaries()) {
          const ns = c.metadata.namespace ?? "";
          counts.set(ns, (counts.get(ns) ?? 0) + 1);
        }
        for (const [namespace, n] of counts) this.set({ namespace }, n);
      },
    });
    new Gauge({
      name: "kanaria_canary_status",
      help: "Canary status: 0 running, 1 succeeded (or initialized), 2 failed (reported by the leader)",
      labelNames: ["name", "namespace"],
      registers,
      collect() {
        this.reset();
        for (const c of self.leaderCanaries()) {
          const value = canaryStatusValue(c.status?.phase);
          if (value !== undefined) this.set(canaryLabels(c), value);
        }
      },
    });
    new Gauge({
      name: "kanaria_canary_weight",
      help: "Traffic weight of the canary and of the primary workload (reported by the leader)",
      labelNames: ["workload", "namespace"],
      registers,
      collect() {
        this.reset();
        for (const c of self.leaderCanaries()) {
          const weight = c.status?.canaryWeight;
          if (weight === undefined) continue;
          const namespace = c.metadata.namespace ?? "";
          const target = c.spec.targetRef.name;
          this.set({ workload: target, namespace }, weight);
          this.set({ workload: `${target}-primary`, namespace }, 100 - weight);
        }
      },
    });
    new Gauge({
      name: "kanaria_canary_metric_analysis",
      help: "Last value of each metric check, with its threshold range as labels (reported by the leader)",
      labelNames: ["name", "namespace", "metric", "min", "max", "provider"],
      registers,
      collect() {
        this.reset();
        for (const c of self.leaderCanaries()) {
          for (const check of c.status?.checks ?? []) {
            if (check.value !== undefined) this.set(checkLabels(c, check), check.value);
          }
        }
      },
    });
    this.canaryDuration = new Histogram({
      name: "kanaria_canary_duration_seconds",
      help: "Seconds spent reconciling (analysing) one Canary",
      labelNames: ["name", "namespace"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.successes = new Counter({
      name: "kanaria_canary_successes_total",
      help: "Releases promoted",
      labelNames: ["name", "namespace"],
      registers,
    });
    this.failures = new Counter({
      name: "kanaria_canary_failures_total",
      help: "Releases rolled back",
      labelNames: ["name", "namespace"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "kanaria_reconcile_duration_seconds",
      help: "Duration of one reconcile, by result",
      labelNames: ["result"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.reconcileOk = this.reconcileDuration.labels({ result: "success" });
    this.reconcileFailed = this.reconcileDuration.labels({ result: "error" });
    this.reconcileErrors = new Counter({
      name: "kanaria_reconcile_errors_total",
      help: "Reconciles that failed and were retried with backoff",
      registers,
    });
    // What a late step is made of: waiting here for a worker, as opposed to a slow reconcile.
    this.queueLateness = new Histogram({
      name: "kanaria_workqueue_queue_duration_seconds",
      help: "How long a Canary waited in the work queue for a worker after it was due",
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: "kanaria_workqueue_depth",
      help: "Canaries waiting in the work queue or being reconciled",
      registers,
      collect() {
        this.set(self.sources?.queueDepth() ?? 0);
      },
    });
    this.watchRestarts = new Counter({
      name: "kanaria_watch_restarts_total",
      help: "Watch streams restarted after an error, a 410 Gone or a silent stream",
      labelNames: ["kind", "reason"],
      registers,
    });
    this.driftCorrections = new Counter({
      name: "kanaria_drift_corrections_total",
      help: "Objects a Canary owns that were changed outside kanaria and put back, by kind",
      labelNames: ["name", "namespace", "kind"],
      registers,
    });
    new Gauge({
      name: "kanaria_leader",
      help: "1 while this process holds the leader Lease (or runs without leader election)",
      registers,
      collect() {
        this.set(self.sources?.isLeader() ? 1 : 0);
      },
    });
  }

  /** Connects the scrape-time gauges to the controller's caches. */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** One reconcile of the Canary `key` ("namespace/name", the work queue's key) took `seconds`. */
  reconciled(key: string, seconds: number, failed: boolean): void {
    this.canary(key).duration.observe(seconds);
    (failed ? this.reconcileFailed : this.reconcileOk).observe(seconds);
    if (failed) this.reconcileErrors.inc();
  }

  /** A worker took a Canary `seconds` after it was due. */
  queued(seconds: number): void {
    this.queueLateness.observe(seconds);
  }

  /** A Canary's phase changed (from the watch); counts releases that ended. */
  phaseChanged(namespace: string, name: string, from: Phase | undefined, to: Phase | undefined): void {
    if (from === to) return;
    if (to === "Succeeded") this.canary(`${namespace}/${name}`).successes.inc();
    else if (to === "Failed") this.canary(`${namespace}/${name}`).failures.inc();
  }

  /** Drops a deleted Canary's series. */
  forget(namespace: string, name: string): void {
    const labels = { name, namespace };
    for (const kind of DRIFT_KINDS) this.driftCorrections.remove({ ...labels, kind });
    if (!this.perCanary.delete(`${namespace}/${name}`)) return;
    this.canaryDuration.remove(labels);
    this.successes.remove(labels);
    this.failures.remove(labels);
  }

  /** kanaria put back an object of this kind that someone else changed (once per change). */
  driftCorrected(namespace: string, name: string, kind: string): void {
    this.driftCorrections.inc({ name, namespace, kind });
  }

  watchRestarted(kind: string, reason: string): void {
    this.watchRestarts.inc({ kind, reason });
  }

  /** The Canary's series, created on first use: an update afterwards is one map lookup, no allocation. */
  private canary(key: string): PerCanary {
    let children = this.perCanary.get(key);
    if (!children) {
      const [namespace = "", name = ""] = key.split("/");
      const labels = { name, namespace };
      children = {
        duration: this.canaryDuration.labels(labels),
        successes: this.successes.labels(labels),
        failures: this.failures.labels(labels),
      };
      this.perCanary.set(key, children);
    }
    return children;
  }

  private leaderCanaries(): readonly Canary[] {
    if (!this.sources?.isLeader()) return [];
    return this.sources.canaries();
  }
}

function canaryLabels(c: Canary): LabelValues<CanaryLabels> {
  return { name: c.metadata.name ?? "", namespace: c.metadata.namespace ?? "" };
}

function checkLabels(c: Canary, check: CheckStatus) {
  return {
    name: c.metadata.name ?? "",
    namespace: c.metadata.namespace ?? "",
    metric: check.name,
    min: check.thresholdRange?.min === undefined ? "" : String(check.thresholdRange.min),
    max: check.thresholdRange?.max === undefined ? "" : String(check.thresholdRange.max),
    provider: check.provider ?? "",
  };
}
