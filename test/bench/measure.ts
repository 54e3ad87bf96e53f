// What the benchmark measures: a process' CPU and RSS from /proc, the API server's request counters,
// the load average, and each Canary's phase and weight over time (from one watch per cluster).
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import pino from "pino";
import { median } from "simple-statistics";
import type { KubeConnection } from "../../src/kube/connection.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { createWatcher, type Watcher } from "../../src/kube/watcher.ts";

/** Linux reports CPU time in clock ticks; 100 per second on every common kernel configuration. */
const CLOCK_TICKS = 100;

export interface ProcessSample {
  /** Seconds since the benchmark started. */
  t: number;
  cpuSeconds: number;
  rssMiB: number;
  /** The private part of the RSS (RssAnon): the RSS without the mapped executable and libraries. */
  anonMiB: number;
  load1: number;
}

function readProc(pid: number): { cpuSeconds: number; rssMiB: number; anonMiB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return {
      cpuSeconds: (utime + stime) / CLOCK_TICKS,
      rssMiB: kib("VmRSS") / 1024,
      anonMiB: kib("RssAnon") / 1024,
    };
  } catch {
    return undefined;
  }
}

export function loadAverage(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

/** Samples one process every intervalMs until stopped. */
export class ProcessSampler {
  readonly samples: ProcessSample[] = [];
  private readonly timer: NodeJS.Timeout;

  readonly pid: number;
  private readonly t0: number;

  constructor(pid: number, t0: number, intervalMs = 1000) {
    this.pid = pid;
    this.t0 = t0;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): ProcessSample | undefined {
    const proc = readProc(this.pid);
    if (!proc) return undefined;
    const s = { t: (Date.now() - this.t0) / 1000, ...proc, load1: loadAverage() };
    this.samples.push(s);
    return s;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples within [from, to] seconds. */
  between(from: number, to: number): ProcessSample[] {
    return this.samples.filter((s) => s.t >= from && s.t <= to);
  }
}

/** The API server's apiserver_request_total, summed per verb. */
export type VerbCounts = Record<string, number>;

export function parseRequestCounts(text: string): VerbCounts {
  const counts: VerbCounts = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const verb = /[{,]verb="([A-Z]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (verb && Number.isFinite(value)) counts[verb] = (counts[verb] ?? 0) + value;
  }
  return counts;
}

/**
 * Write requests by verb and resource ("PUT canaries/status"), to tell a controller's writes from the
 * control plane's own (pods, replicasets, leases).
 */
export function parseWriteCounts(text: string): VerbCounts {
  const counts: VerbCounts = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const label = (name: string) => new RegExp(`[{,]${name}="([^"]*)"`).exec(line)?.[1] ?? "";
    const verb = label("verb");
    if (!WRITE_VERBS.includes(verb)) continue;
    const sub = label("subresource");
    const key = `${verb} ${label("resource")}${sub ? `/${sub}` : ""}`;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) counts[key] = (counts[key] ?? 0) + value;
  }
  return counts;
}

/** Reads /metrics of the cluster's API server with the kubeconfig's credentials: requests by verb, writes by resource. */
export async function scrapeRequestCounts(
  kc: KubeConfig,
): Promise<{ byVerb: VerbCounts; writes: VerbCounts }> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("kubeconfig has no current cluster");
  const url = new URL("/metrics", server);
  const options: Parameters<typeof request>[1] = { method: "GET", headers: {} };
  await kc.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: HTTP ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end();
  });
  return { byVerb: parseRequestCounts(text), writes: parseWriteCounts(text) };
}

export function diffCounts(after: VerbCounts, before: VerbCounts): VerbCounts {
  const out: VerbCounts = {};
  for (const verb of new Set([...Object.keys(after), ...Object.keys(before)])) {
    out[verb] = (after[verb] ?? 0) - (before[verb] ?? 0);
  }
  return out;
}

export const WRITE_VERBS = ["POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"];

export const total = (counts: VerbCounts, verbs?: string[]) =>
  Object.entries(counts)
    .filter(([verb]) => !verbs || verbs.includes(verb))
    .reduce((sum, [, n]) => sum + n, 0);

interface CanaryState {
  phase: string | undefined;
  weight: number;
}

/** Median seconds of each part of a release (see CanaryRecorder.releasePhases). */
export interface ReleasePhases {
  detect: number | null;
  firstStep: number | null;
  steps: number | null;
  promote: number | null;
}

/** One Canary's history: when it reached each phase and each change of its canary weight. */
export interface CanaryHistory {
  phases: { t: number; phase: string }[];
  weights: { t: number; weight: number }[];
  /**
   * kanaria's own step stamps, one per decided step (by lastStepTime, ms since the epoch), with the
   * time its split was first seen in the route (stepRoutedTime), which is when its interval starts.
   */
  steps: { decidedMs: number; routedMs: number | undefined }[];
}

interface StepStamps {
  lastStepTime?: string;
  stepRoutedTime?: string;
}

/** Watches every Canary of a namespace and records phase and weight changes with their times. */
export class CanaryRecorder {
  readonly histories = new Map<string, CanaryHistory>();
  private readonly last = new Map<string, CanaryState>();
  private readonly watcher: Watcher<KubeObject>;
  private readonly t0: number;

  constructor(connection: KubeConnection, apiVersion: string, namespace: string, t0: number) {
    this.t0 = t0;
    const record = (c: KubeObject) => {
      const status = (c as { status?: { phase?: string; canaryWeight?: number } & StepStamps }).status ?? {};
      const now = (Date.now() - t0) / 1000;
      const name = c.metadata.name;
      const history = this.histories.get(name) ?? { phases: [], weights: [], steps: [] };
      this.histories.set(name, history);
      const previous = this.last.get(name);
      const state = { phase: status.phase, weight: status.canaryWeight ?? 0 };
      if (state.phase && state.phase !== previous?.phase) history.phases.push({ t: now, phase: state.phase });
      if (state.weight !== (previous?.weight ?? 0)) history.weights.push({ t: now, weight: state.weight });
      recordStep(history, status);
      this.last.set(name, state);
    };
    this.watcher = createWatcher<KubeObject>(
      connection,
      { apiVersion, kind: "Canary", namespace },
      { onAdd: record, onUpdate: record },
      { logger: pino({ level: "warn" }) },
    );
  }

  start(): Promise<void> {
    return this.watcher.start();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }

  /** How many Canaries are in `phase` now. */
  count(phase: string): number {
    return [...this.last.values()].filter((s) => s.phase === phase).length;
  }

  /** When the Canary first reached `phase` after `since`. */
  firstReached(name: string, phase: string, since: number): number | undefined {
    return this.histories.get(name)?.phases.find((p) => p.phase === phase && p.t >= since)?.t;
  }

  /** The last time each Canary reached `phase` after `since`; undefined while one has not. */
  reachedAll(phase: string, since: number, n: number): number | undefined {
    const times = [...this.histories.values()].map(
      (h) => h.phases.filter((p) => p.phase === phase && p.t >= since).at(-1)?.t,
    );
    if (times.length < n || times.some((t) => t === undefined)) return undefined;
    return Math.max(...(times as number[]));
  }

  /**
   * Where the releases since `since` spent their time, medians over the Canaries: until the controller
   * took up the new revision (Progressing), until its first weight step, through the steps until
   * Promoting, and from Promoting to Succeeded. The waits are mostly the control plane rolling pods.
   */
  releasePhases(since: number): ReleasePhases {
    const spans: Record<keyof ReleasePhases, number[]> = {
      detect: [],
      firstStep: [],
      steps: [],
      promote: [],
    };
    for (const h of this.histories.values()) {
      const at = (phase: string) => h.phases.find((p) => p.phase === phase && p.t >= since)?.t;
      const progressing = at("Progressing");
      const promoting = at("Promoting");
      const succeeded = at("Succeeded");
      const firstStep = h.weights.find((w) => w.t >= since && w.weight > 0)?.t;
      const push = (key: keyof ReleasePhases, from: number | undefined, to: number | undefined) => {
        if (from !== undefined && to !== undefined) spans[key].push(to - from);
      };
      push("detect", since, progressing);
      push("firstStep", progressing, firstStep);
      push("steps", firstStep, promoting);
      push("promote", promoting, succeeded);
    }
    const mid = (values: number[]) => (values.length === 0 ? null : median(values));
    return {
      detect: mid(spans.detect),
      firstStep: mid(spans.firstStep),
      steps: mid(spans.steps),
      promote: mid(spans.promote),
    };
  }

  /**
   * How late each step was decided, against the controller's own due time. kanaria stamps both ends
   * (a step is due one interval after its split was seen in the route): decided minus due. Flagger
   * stamps neither, and its ticker makes a step due one interval after the previous one: the gap
   * between weight changes minus the interval. Floored at 0; seconds.
   */
  tickLateness(since: number, until: number, intervalS: number): number[] {
    const stamped = [...this.histories.values()].some((h) => h.steps.length > 0);
    if (!stamped) return this.stepGapLateness(since, until, intervalS);
    const [fromMs, toMs] = [this.t0 + since * 1000, this.t0 + until * 1000];
    const out: number[] = [];
    for (const h of this.histories.values()) {
      const steps = h.steps.filter((s) => s.decidedMs >= fromMs && s.decidedMs <= toMs);
      for (let i = 1; i < steps.length; i++) {
        const routed = steps[i - 1]?.routedMs;
        if (routed === undefined) continue;
        out.push(Math.max(0, ((steps[i] as { decidedMs: number }).decidedMs - routed) / 1000 - intervalS));
      }
    }
    return out;
  }

  /**
   * The gap between consecutive weight changes of one Canary (and between the start of the analysis
   * and its first step) minus the interval, floored at 0: the interval plus whatever the controller
   * adds between steps, the same way for both.
   */
  stepGapLateness(since: number, until: number, intervalS: number): number[] {
    const out: number[] = [];
    for (const h of this.histories.values()) {
      const progressing = h.phases.find((p) => p.phase === "Progressing" && p.t >= since && p.t <= until)?.t;
      const steps = h.weights.filter((w) => w.t >= since && w.t <= until && w.weight > 0).map((w) => w.t);
      const times = progressing === undefined ? steps : [progressing, ...steps];
      for (let i = 1; i < times.length; i++) {
        out.push(Math.max(0, (times[i] as number) - (times[i - 1] as number) - intervalS));
      }
    }
    return out;
  }
}

/** Keeps kanaria's stamps of each decided step; other controllers' statuses have none. */
function recordStep(history: CanaryHistory, status: StepStamps): void {
  if (!status.lastStepTime) return;
  const decidedMs = Date.parse(status.lastStepTime);
  const routedMs = status.stepRoutedTime ? Date.parse(status.stepRoutedTime) : undefined;
  const last = history.steps.at(-1);
  if (last?.decidedMs === decidedMs) last.routedMs ??= routedMs;
  else history.steps.push({ decidedMs, routedMs });
}
