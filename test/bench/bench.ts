// `make bench`: kanaria and Flagger side by side, each on its own local control plane (so the API
// server's request counters are attributable), with the same N apps, in the same time windows.
//
//   baseline (no controller) -> controllers start -> all Initialized -> idle window -> release all at
//   once -> all Succeeded -> a failing check on every Canary and another release -> all Failed
//
// Environment: N (default 50), BENCH_IDLE_S (idle window, default 120), BENCH_BASELINE_S (default 60),
// BENCH_SOAK_MIN (soak mode: the idle window lasts this many minutes and RSS growth is reported),
// BENCH_CONTROLLERS (default "kanaria,flagger"), BENCH_PROFILE=1 (kanaria runs with --cpu-prof and
// writes a heap snapshot at the end of the idle window), BENCH_NODE_FLAGS (Node flags for kanaria on top
// of the Dockerfile's, to try one before shipping it), BENCH_KEEP=1 (leave the clusters running).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, hostname, totalmem } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import pLimit from "p-limit";
import pino from "pino";
import { linearRegression } from "simple-statistics";
import { createKubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/connection.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import { spawnLogged } from "../support/child-log.ts";
import { installCrds, yamlFilesIn } from "../support/crds.ts";
import { readEnvFile } from "../support/env-file.ts";
import {
  appName,
  CANARY_API,
  type Flavour,
  failingGatePatch,
  fleet,
  INTERVAL_S,
  NAMESPACE,
  releasePatch,
} from "./fleet.ts";
import { FailingGate } from "./gate.ts";
import {
  CanaryRecorder,
  diffCounts,
  loadAverage,
  ProcessSampler,
  scrapeRequestCounts,
  total,
  type VerbCounts,
  WRITE_VERBS,
} from "./measure.ts";
import {
  type BenchResults,
  type ControllerResult,
  chart,
  median,
  p99,
  table,
  type WindowLoad,
} from "./report.ts";

const repoRoot = join(import.meta.dirname, "../..");
const outDir = join(repoRoot, ".kanaria", "bench");
const logDir = join(outDir, "logs");
/** `make build`'s output: dist/bundle is the controller as the image ships it (at IMAGE_MAIN). */
const distDir = join(repoRoot, "dist");
const IMAGE_MAIN = "/app/dist/bundle/main.js";
const num = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return value;
};
const N = Math.round(num("N", 50));
const SOAK_MIN = process.env.BENCH_SOAK_MIN ? num("BENCH_SOAK_MIN", 30) : undefined;
const IDLE_S = SOAK_MIN ? SOAK_MIN * 60 : num("BENCH_IDLE_S", 120);
const BASELINE_S = num("BENCH_BASELINE_S", 60);
const PROFILE = process.env.BENCH_PROFILE === "1";
const EXTRA_NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "");
const FLAVOURS = (process.env.BENCH_CONTROLLERS ?? "kanaria,flagger")
  .split(",")
  .map((s) => s.trim()) as Flavour[];
for (const f of FLAVOURS)
  if (f !== "kanaria" && f !== "flagger") throw new Error(`BENCH_CONTROLLERS: unknown ${f}`);
/** Both wait this long for every Canary to initialize or to finish a release. */
const PHASE_TIMEOUT_S = Math.max(600, N * 3);

const logger = pino({ level: "warn" });
const t0 = Date.now();
const now = () => (Date.now() - t0) / 1000;
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
const say = (message: string) => console.log(`[bench ${now().toFixed(0).padStart(5)}s] ${message}`);

interface Side {
  flavour: Flavour;
  stateDir: string;
  kubeconfig: string;
  prometheusUrl: string;
  kc: KubeConfig;
  client: KubeClient;
  recorder: CanaryRecorder;
  process?: ChildProcess;
  sampler?: ProcessSampler;
  exited?: Promise<number | null>;
  marks: Record<string, number>;
  counts: Record<string, VerbCounts>;
  /** Write requests by "VERB resource" at the same marks. */
  writes: Record<string, VerbCounts>;
  /** kanaria's own /metrics (loopback): its reconciles, queue waits and event loop lag. */
  metricsUrl?: string;
  /** kanaria's /metrics samples ("name{labels}" -> value) at each mark. */
  scrapes: Record<string, Map<string, number>>;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync(cmd, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/**
 * tsc emits even when some file does not type-check (work in progress elsewhere); the build must
 * exist. Then the bundle the image ships, from what tsc emitted.
 */
function compileKanaria(): void {
  try {
    run(join(repoRoot, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"]);
  } catch (err) {
    if (!existsSync(join(distDir, "cli/main.js"))) throw err;
    say("tsc reported type errors (see above); benchmarking the JavaScript it emitted");
  }
  run(join(repoRoot, "node_modules/.bin/rolldown"), ["-c", "image/bundle.config.mjs", "--logLevel", "warn"]);
}

function runAsync(cmd: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: "inherit" });
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}`)),
    );
  });
}

async function startCluster(flavour: Flavour): Promise<Side> {
  const stateDir = join(outDir, `cluster-${flavour}`);
  await runAsync("bash", ["test/cluster/cluster.sh", "up"], {
    KANARIA_CLUSTER_DIR: stateDir,
    // While a Canary initialises, its target and its primary both run a pod, and a fake node takes
    // 500: 2 nodes hold N=200, N=1000 needs 5 (with room for the pods of a rollout).
    KANARIA_FAKE_NODES: String(Math.max(2, Math.ceil((2.5 * N) / 500))),
    // KWOK pods only: the real data plane (cluster.sh's default where it can run) would start a podinfo
    // process per pod and put its pod runner's watch on the API server being measured.
    KANARIA_DATAPLANE: "off",
    // A benchmark that dies takes its clusters with it.
    ...(process.env.BENCH_KEEP === "1" ? {} : { KANARIA_CLUSTER_OWNER_PID: String(process.pid) }),
  });
  const env = readEnvFile(join(stateDir, "env"));
  const kubeconfig = env.KUBECONFIG ?? join(stateDir, "kubeconfig");
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    flavour,
    stateDir,
    kubeconfig,
    prometheusUrl: env.PROMETHEUS_URL ?? "",
    kc,
    client: createKubeClient(loadConnection(kubeconfig), logger),
    recorder: new CanaryRecorder(loadConnection(kubeconfig), CANARY_API[flavour], NAMESPACE, t0),
    marks: {},
    counts: {},
    writes: {},
    scrapes: {},
  };
}

async function prepare(side: Side, flagger: { crds: string }): Promise<void> {
  const crdFiles = side.flavour === "kanaria" ? yamlFilesIn(join(repoRoot, "crds")) : [flagger.crds];
  await installCrds(side.kubeconfig, crdFiles, { fieldManager: "bench" });
  await side.client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } });
  const limit = pLimit(8);
  await Promise.all(fleet(side.flavour, N).map((o) => limit(() => side.client.apply(o))));
  await side.recorder.start();
}

/** Deployments available before anything is measured, so the baseline sees a settled cluster. */
async function waitForDeployments(side: Side): Promise<void> {
  for (;;) {
    const list = await side.client.list<KubeObject & { status?: { availableReplicas?: number } }>(
      "apps/v1",
      "Deployment",
      NAMESPACE,
    );
    const ready = list.filter((d) => (d.status?.availableReplicas ?? 0) >= 1).length;
    if (ready >= N) return;
    await sleep(2);
  }
}

/**
 * The Node flags and environment the image runs the controller with, read from the Dockerfile's
 * ENTRYPOINT and ENV (the image test keeps image/build.sh equal to them): the bench runs it as shipped.
 */
function shippedRuntime(): { nodeFlags: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
  const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? "[]") as string[];
  const main = entrypoint.indexOf(IMAGE_MAIN);
  const envLine = /^ENV (.*)$/m.exec(dockerfile)?.[1];
  if (main < 1 || !envLine) throw new Error(`Dockerfile: no ENTRYPOINT running ${IMAGE_MAIN}, or no ENV`);
  const env = Object.fromEntries(
    envLine
      .split(" ")
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])
      .filter(([key]) => key !== "HOME"),
  );
  return { nodeFlags: entrypoint.slice(1, main), env };
}

/**
 * This shell's environment without what would make kanaria's Node differ from the image's: Node
 * options, and extra CA certificates (a machine's whole CA bundle is ~1 MiB of X.509 objects).
 */
function shellEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _options, NODE_EXTRA_CA_CERTS: _certs, ...env } = process.env;
  return env;
}

function startController(side: Side, flaggerBin: string): void {
  const logFile = join(logDir, `${side.flavour}.log`);
  let child: ChildProcess;
  if (side.flavour === "kanaria") {
    const profileDir = join(outDir, "profile");
    mkdirSync(profileDir, { recursive: true });
    const shipped = shippedRuntime();
    const nodeFlags = [
      ...shipped.nodeFlags,
      ...EXTRA_NODE_FLAGS,
      ...(PROFILE
        ? [
            `--cpu-prof`,
            `--cpu-prof-dir=${profileDir}`,
            `--heapsnapshot-signal=SIGUSR2`,
            `--diagnostic-dir=${profileDir}`,
          ]
        : []),
    ];
    const metricsAddress = `127.0.0.1:${20_000 + Math.floor(Math.random() * 2000)}`;
    side.metricsUrl = `http://${metricsAddress}/metrics`;
    child = spawnLogged(
      process.execPath,
      [
        ...nodeFlags,
        join(distDir, "bundle/main.js"),
        "controller",
        "--kubeconfig",
        side.kubeconfig,
        "--namespace",
        NAMESPACE,
        "--provider",
        "nginx",
        "--log-level",
        "info",
        "--metrics-bind-address",
        metricsAddress,
      ],
      logFile,
      { env: { ...shellEnv(), ...shipped.env } },
    );
  } else {
    child = spawnLogged(
      flaggerBin,
      [
        `-kubeconfig=${side.kubeconfig}`,
        `-namespace=${NAMESPACE}`,
        "-mesh-provider=nginx",
        `-metrics-server=${side.prometheusUrl}`,
        "-log-level=info",
        "-enable-leader-election=false",
        `-port=${18_000 + Math.floor(Math.random() * 2000)}`,
      ],
      logFile,
    );
  }
  side.process = child;
  side.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  if (child.pid === undefined) throw new Error(`${side.flavour} did not start`);
  side.sampler = new ProcessSampler(child.pid, t0);
}

async function waitUntil(side: Side, what: string, done: () => boolean): Promise<boolean> {
  const deadline = now() + PHASE_TIMEOUT_S;
  while (now() < deadline) {
    if (done()) return true;
    if (side.process?.exitCode !== null && side.process?.exitCode !== undefined) {
      throw new Error(
        `${side.flavour} exited with ${side.process.exitCode} while waiting for ${what} (log: ${logDir})`,
      );
    }
    await sleep(0.5);
  }
  say(`${side.flavour}: gave up waiting for ${what} after ${PHASE_TIMEOUT_S}s`);
  return false;
}

/** Waits (up to 2 minutes) until 5 s of the cluster's writes are no more than the baseline's plus one. */
async function settle(side: Side): Promise<void> {
  const seconds = (side.marks.baselineEnd ?? 0) - (side.marks.baselineStart ?? 0);
  const baseline = total(
    diffCounts(side.counts.baselineEnd ?? {}, side.counts.baselineStart ?? {}),
    WRITE_VERBS,
  );
  const started = now();
  while (now() - started < 120) {
    const before = (await scrapeRequestCounts(side.kc)).byVerb;
    await sleep(5);
    const after = (await scrapeRequestCounts(side.kc)).byVerb;
    const writes = total(diffCounts(after, before), WRITE_VERBS);
    if (writes <= (baseline / Math.max(1, seconds)) * 5 + 1) break;
  }
  side.marks.settled = now();
  say(`${side.flavour}: cluster settled ${(side.marks.settled - started).toFixed(0)}s after the wait`);
}

const scrapeAll = (sides: Side[], label: string) =>
  Promise.all(
    sides.map(async (s) => {
      const { byVerb, writes } = await scrapeRequestCounts(s.kc);
      s.counts[label] = byVerb;
      s.writes[label] = writes;
      if (s.metricsUrl && s.process) s.scrapes[label] = await scrapeSamples(s.metricsUrl);
      s.marks[label] = now();
    }),
  );

/** Every sample of a Prometheus text exposition, by "name{labels}". */
async function scrapeSamples(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The sum of the samples whose series starts with `prefix`, from mark `from` to mark `to`. */
function scrapedDelta(side: Side, prefix: string, from: string, to: string): number {
  const sum = (samples: Map<string, number> | undefined) =>
    [...(samples ?? [])].reduce((a, [k, v]) => (k.startsWith(prefix) ? a + v : a), 0);
  return sum(side.scrapes[to]) - sum(side.scrapes[from]);
}

/**
 * The p99 of a histogram between two marks, as the upper bound of the bucket it falls in (what the
 * buckets can tell); Infinity when it is past the last bucket, null with no observations.
 */
function histogramP99(side: Side, name: string, from: string, to: string): number | null {
  const count = scrapedDelta(side, `${name}_count`, from, to);
  if (count <= 0) return null;
  // Cumulative bucket counts by bound, summed over the other labels.
  const byBound = new Map<number, number>();
  for (const [series, value] of side.scrapes[to] ?? []) {
    const le = series.startsWith(`${name}_bucket`) ? /le="([^"]+)"/.exec(series)?.[1] : undefined;
    if (le === undefined || le === "+Inf") continue;
    const delta = value - (side.scrapes[from]?.get(series) ?? 0);
    byBound.set(Number(le), (byBound.get(Number(le)) ?? 0) + delta);
  }
  for (const [le, below] of [...byBound].sort(([a], [b]) => a - b)) if (below >= 0.99 * count) return le;
  return Number.POSITIVE_INFINITY;
}

function windowLoad(side: Side, from: number, to: number): WindowLoad {
  const samples = side.sampler?.between(from, to) ?? [];
  return {
    start: samples[0]?.load1 ?? loadAverage(),
    end: samples.at(-1)?.load1 ?? loadAverage(),
    mean: samples.length ? samples.reduce((a, s) => a + s.load1, 0) / samples.length : loadAverage(),
  };
}

function cpuCores(side: Side, from: number, to: number): number {
  const samples = side.sampler?.between(from, to) ?? [];
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.t <= first.t) return 0;
  return (last.cpuSeconds - first.cpuSeconds) / (last.t - first.t);
}

function perSecond(counts: VerbCounts, seconds: number): VerbCounts {
  return Object.fromEntries(Object.entries(counts).map(([v, n]) => [v, n / seconds]));
}

function result(side: Side, baselineRate: VerbCounts, gate: FailingGate): ControllerResult {
  const m = side.marks;
  const idleSeconds = (m.idleEnd ?? 0) - (m.idleStart ?? 0);
  const idle = diffCounts(side.counts.idleEnd ?? {}, side.counts.idleStart ?? {});
  const net: VerbCounts = {};
  for (const verb of Object.keys(idle)) {
    net[verb] = Math.max(0, (idle[verb] ?? 0) - (baselineRate[verb] ?? 0) * idleSeconds);
  }
  // Watches are connections, not per-tick work; they are counted when they end.
  const { WATCH: _watch, ...perTickVerbs } = net;
  const ticks = N * (idleSeconds / INTERVAL_S);
  const idleSamples = side.sampler?.between(m.idleStart ?? 0, m.idleEnd ?? 0) ?? [];
  const all = side.sampler?.samples ?? [];
  // The release's steps only: the rollback phase that follows has steps of its own.
  const releaseEnd = m.succeeded ?? now();
  const lateness = side.recorder.tickLateness(m.release ?? 0, releaseEnd, INTERVAL_S);
  const gaps = side.recorder.stepGapLateness(m.release ?? 0, releaseEnd, INTERVAL_S);
  const releaseCores = cpuCores(side, m.release ?? 0, releaseEnd);
  const out: ControllerResult = {
    idleCpuCores: cpuCores(side, m.idleStart ?? 0, m.idleEnd ?? 0),
    releaseCpuCores: releaseCores,
    releaseCpuSeconds: releaseCores * (releaseEnd - (m.release ?? 0)),
    rssMiBSteady: median(idleSamples.map((s) => s.rssMiB)),
    rssMiBPeak: Math.max(0, ...all.map((s) => s.rssMiB)),
    rssAnonMiBSteady: median(idleSamples.map((s) => s.anonMiB)),
    rssAnonMiBPeak: Math.max(0, ...all.map((s) => s.anonMiB)),
    apiRequestsPerCanaryTick: total(perTickVerbs) / ticks,
    apiRequestsPerCanaryTickByVerb: Object.fromEntries(
      Object.entries(net)
        .filter(([, n]) => n > 0)
        .map(([v, n]) => [v, Number((n / ticks).toFixed(4))]),
    ),
    apiWritesIdle: Math.round(total(net, WRITE_VERBS)),
    apiWritesIdleByResource: Object.fromEntries(
      Object.entries(diffCounts(side.writes.idleEnd ?? {}, side.writes.idleStart ?? {})).filter(
        ([, n]) => n > 0,
      ),
    ),
    apiWritesReleaseByResource: Object.fromEntries(
      Object.entries(diffCounts(side.writes.releaseEnd ?? {}, side.writes.releaseStart ?? {}))
        .filter(([, n]) => n > 0)
        .sort(([, a], [, b]) => b - a),
    ),
    initSeconds: m.initialized !== undefined ? m.initialized - (m.started ?? 0) : null,
    releaseSeconds: m.succeeded !== undefined ? m.succeeded - (m.release ?? 0) : null,
    releasePhaseMedians: side.recorder.releasePhases(m.release ?? 0),
    ...(side.metricsUrl
      ? {
          reconcilesPerCanaryTickIdle:
            scrapedDelta(side, "kanaria_reconcile_duration_seconds_count", "idleStart", "idleEnd") / ticks,
          reconcilesPerRelease:
            scrapedDelta(side, "kanaria_reconcile_duration_seconds_count", "releaseStart", "releaseEnd") / N,
          // Where a late step's time went: queued for a worker, or in the reconcile itself.
          releaseQueueWaitP99Seconds: histogramP99(
            side,
            "kanaria_workqueue_queue_duration_seconds",
            "releaseStart",
            "releaseEnd",
          ),
          releaseReconcileP99Seconds: histogramP99(
            side,
            "kanaria_reconcile_duration_seconds",
            "releaseStart",
            "releaseEnd",
          ),
          // prom-client's monitor, over the time since the previous scrape (releaseStart).
          releaseEventLoopLagP99Seconds:
            side.scrapes.releaseEnd?.get("nodejs_eventloop_lag_p99_seconds") ?? null,
          releaseEventLoopLagMaxSeconds:
            side.scrapes.releaseEnd?.get("nodejs_eventloop_lag_max_seconds") ?? null,
        }
      : {}),
    tickLatenessP99Seconds: p99(lateness),
    stepGapP99Seconds: p99(gaps),
    rollbackSeconds: m.rolledBack !== undefined ? m.rolledBack - (m.rollback ?? 0) : null,
    ...rollbackLateness(side, gate),
    loadAverage: {
      init: windowLoad(side, m.started ?? 0, m.initialized ?? now()),
      idle: windowLoad(side, m.idleStart ?? 0, m.idleEnd ?? 0),
      release: windowLoad(side, m.release ?? 0, m.succeeded ?? now()),
      ...(m.rollback !== undefined ? { rollback: windowLoad(side, m.rollback, m.rolledBack ?? now()) } : {}),
    },
  };
  if (SOAK_MIN && idleSamples.length > 2) {
    const { m: slope } = linearRegression(idleSamples.map((s) => [s.t, s.rssMiB]));
    out.rssGrowthMiBPerHour = slope * 3600;
  }
  return out;
}

/**
 * From each Canary's first failed check (the gate's clock) to its rollback (Failed, as the recorder
 * saw it). A Canary the gate never heard from, or that never rolled back, counts as Infinity: a
 * rollback that did not happen is not a fast one.
 */
function rollbackLateness(
  side: Side,
  gate: FailingGate,
): Pick<ControllerResult, "rollbackAfterFailedCheckP99Seconds" | "rollbackAfterFailedCheckMaxSeconds"> {
  const since = side.marks.rollback;
  if (since === undefined)
    return { rollbackAfterFailedCheckP99Seconds: null, rollbackAfterFailedCheckMaxSeconds: null };
  const lags = Array.from({ length: N }, (_, i) => {
    const failed = gate.firstFailure(side.flavour, appName(i));
    const rolledBack = side.recorder.firstReached(appName(i), "Failed", since);
    return failed === undefined || rolledBack === undefined ? Number.POSITIVE_INFINITY : rolledBack - failed;
  });
  return {
    rollbackAfterFailedCheckP99Seconds: p99(lags),
    rollbackAfterFailedCheckMaxSeconds: Math.max(...lags),
  };
}

/** Merge-patches the object of every app (16 at a time), each with its own patch. */
async function patchEach(
  side: Side,
  apiVersion: string,
  kind: string,
  patch: (name: string) => Record<string, unknown>,
): Promise<void> {
  const limit = pLimit(16);
  await Promise.all(
    Array.from({ length: N }, (_, i) => appName(i)).map((name) =>
      limit(() => side.client.mergePatch({ apiVersion, kind, namespace: NAMESPACE, name }, patch(name))),
    ),
  );
}

/**
 * Every Canary gets a rollout webhook that fails, then every app a new revision; measured until all
 * are Failed (rolled back). The webhook is added only now so that the release before runs no hooks.
 */
async function rollbackPhase(sides: Side[], gate: FailingGate): Promise<void> {
  say("rollback: a failing rollout webhook on every Canary, then a new revision of every app");
  await Promise.all(
    sides.map(async (s) => {
      await patchEach(s, CANARY_API[s.flavour], "Canary", (name) =>
        failingGatePatch(gate.url(s.flavour, name)),
      );
      const since = now();
      s.marks.rollback = since;
      await patchEach(s, "apps/v1", "Deployment", () => releasePatch("2"));
      if (await waitUntil(s, "all Failed", () => s.recorder.reachedAll("Failed", since, N) !== undefined)) {
        s.marks.rolledBack = s.recorder.reachedAll("Failed", since, N) ?? now();
        say(
          `${s.flavour}: all ${N} rolled back ${(s.marks.rolledBack - since).toFixed(1)}s after the release`,
        );
      }
    }),
  );
}

async function main(): Promise<void> {
  mkdirSync(logDir, { recursive: true });
  say(`N=${N}, idle window ${IDLE_S}s, baseline ${BASELINE_S}s, controllers ${FLAVOURS.join("+")}`);
  let flaggerBin = "";
  let flaggerCrds = "";
  if (FLAVOURS.includes("flagger")) {
    run("bash", ["test/bench/flagger.sh", "build"]);
    flaggerBin = run("bash", ["test/bench/flagger.sh", "path"]).trim();
    flaggerCrds = run("bash", ["test/bench/flagger.sh", "crds"]).trim();
  }
  if (FLAVOURS.includes("kanaria")) {
    // kanaria runs as shipped: compiled JavaScript, as in the image (not type-stripped TypeScript).
    say("compiling kanaria");
    compileKanaria();
  }
  say("starting the clusters");
  const sides = await Promise.all(FLAVOURS.map((f) => startCluster(f)));
  const gate = new FailingGate(now);
  await gate.start();
  const stopAll = async () => {
    await Promise.all(
      sides.map(async (s) => {
        s.process?.kill("SIGTERM");
        await Promise.race([s.exited, sleep(30)]);
        s.sampler?.stop();
        await s.recorder.stop().catch(() => {});
        if (process.env.BENCH_KEEP !== "1") {
          await runAsync("bash", ["test/cluster/cluster.sh", "down"], { KANARIA_CLUSTER_DIR: s.stateDir });
        }
      }),
    );
    await gate.stop();
  };
  try {
    say(`applying ${N} Deployments, Ingresses and Canaries to each cluster`);
    await Promise.all(sides.map((s) => prepare(s, { crds: flaggerCrds })));
    await Promise.all(sides.map((s) => waitForDeployments(s)));

    say(`baseline: ${BASELINE_S}s with no controller`);
    await scrapeAll(sides, "baselineStart");
    await sleep(BASELINE_S);
    await scrapeAll(sides, "baselineEnd");

    say("starting the controllers");
    for (const s of sides) {
      startController(s, flaggerBin);
      s.marks.started = now();
    }
    await Promise.all(
      sides.map(async (s) => {
        if (await waitUntil(s, "all Initialized", () => s.recorder.count("Initialized") >= N)) {
          s.marks.initialized = now();
          say(
            `${s.flavour}: all ${N} Initialized after ${(s.marks.initialized - (s.marks.started ?? 0)).toFixed(1)}s`,
          );
        }
      }),
    );
    // Two intervals for the last scale-downs and their status updates, then until the control plane
    // (pods terminating, ReplicaSets) writes no faster than with no controller: its writes would be
    // counted as the controller's.
    await sleep(2 * INTERVAL_S);
    await Promise.all(sides.map((s) => settle(s)));

    say(`idle window: ${IDLE_S}s`);
    await scrapeAll(sides, "idleStart");
    for (const s of sides) s.marks.idleStart = now();
    await sleep(IDLE_S);
    await scrapeAll(sides, "idleEnd");
    for (const s of sides) s.marks.idleEnd = now();
    const kanaria = sides.find((s) => s.flavour === "kanaria");
    if (PROFILE && kanaria?.process) kanaria.process.kill("SIGUSR2");

    say("releasing every app at once");
    await scrapeAll(sides, "releaseStart");
    await Promise.all(
      sides.map(async (s) => {
        s.marks.release = now();
        await patchEach(s, "apps/v1", "Deployment", () => releasePatch("1"));
      }),
    );
    await Promise.all(
      sides.map(async (s) => {
        const since = s.marks.release ?? 0;
        if (
          await waitUntil(
            s,
            "all Succeeded",
            () => s.recorder.reachedAll("Succeeded", since, N) !== undefined,
          )
        ) {
          s.marks.succeeded = s.recorder.reachedAll("Succeeded", since, N) ?? now();
          // Each side's release writes end with its own last Succeeded, not the slower side's.
          await scrapeAll([s], "releaseEnd");
          say(
            `${s.flavour}: all ${N} Succeeded ${((s.marks.succeeded ?? 0) - since).toFixed(1)}s after the release`,
          );
        }
      }),
    );
    await rollbackPhase(sides, gate);
    await sleep(2);
  } finally {
    await stopAll();
  }

  const results: BenchResults = {
    n: N,
    date: new Date().toISOString(),
    machine: `${hostname()}: ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    command: `N=${N} make bench${SOAK_MIN ? ` BENCH_SOAK_MIN=${SOAK_MIN}` : ""}${EXTRA_NODE_FLAGS.length > 0 ? ` BENCH_NODE_FLAGS="${EXTRA_NODE_FLAGS.join(" ")}"` : ""}`,
    windows: { baselineSeconds: BASELINE_S, idleSeconds: IDLE_S, intervalSeconds: INTERVAL_S },
    controllers: {},
  };
  for (const s of sides) {
    const seconds = (s.marks.baselineEnd ?? 0) - (s.marks.baselineStart ?? 0);
    const baselineRate = perSecond(
      diffCounts(s.counts.baselineEnd ?? {}, s.counts.baselineStart ?? {}),
      seconds,
    );
    results.controllers[s.flavour] = result(s, baselineRate, gate);
  }
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  for (const s of sides) {
    const histories = Object.fromEntries(s.recorder.histories);
    writeFileSync(join(outDir, `histories-${s.flavour}.json`), `${JSON.stringify(histories)}\n`);
  }
  const marks = sides.flatMap((s) =>
    s.flavour === FLAVOURS[0]
      ? [
          { t: s.marks.idleStart ?? 0, label: "idle" },
          { t: s.marks.release ?? 0, label: "release" },
          { t: s.marks.rollback ?? 0, label: "rollback" },
        ]
      : [],
  );
  await chart(
    sides.map((s) => ({ controller: s.flavour, samples: s.sampler?.samples ?? [] })),
    marks,
    join(outDir, "cpu-rss.svg"),
  );
  console.log(`\n${table(results)}\n`);
  console.log(
    `results: ${join(outDir, "results.json")}; chart: ${join(outDir, "cpu-rss.svg")}; logs: ${logDir}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
