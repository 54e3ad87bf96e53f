// Traffic for end-to-end analysis tests: the simulator (test/simulator) against the test cluster, its
// metrics registered with the test Prometheus (file_sd) and, on request, pushed to the CloudWatch fake.
// Stop what you start (afterAll), so Prometheus stops scraping it.
import { execFile } from "node:child_process";
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { inject } from "vitest";
import { type ClusterState, kubeStateReader, type StateReader } from "../simulator/cluster-state.ts";
import type { Profile } from "../simulator/profiles.ts";
import { type RunningSimulator, startSimulator, weightSource } from "../simulator/simulator.ts";
import { kubeConfig } from "./k8s.ts";

const repoRoot = join(import.meta.dirname, "../..");

export interface TrafficOptions {
  /** Requests per second through the main Ingress (0: none at all). */
  rps: number;
  /** Profiles keyed by full image reference; other images are healthy (fast, no errors). */
  profiles?: Record<string, Profile>;
  seed?: number;
  /** Push RequestCount/ErrorCount/LatencyP99 to the CloudWatch fake every `intervalMs`. */
  cloudwatch?: { intervalMs: number };
  /**
   * Where the split is read: the nginx canary Ingress (default), the gatewayapi HTTPRoute or the appmesh
   * VirtualRouter named like the target; kubernetes: no split, the load tester's share goes to the canary.
   */
  router?: "nginx" | "gatewayapi" | "appmesh" | "kubernetes";
  /** Share (0..1) of requests that carry the A/B header/cookie. */
  headerShare?: number;
}

function summary(state: ClusterState): string {
  const pods = (list: ClusterState["primary"]) =>
    list.map((p) => `${p.name}=${p.images.map((i) => i.split(":").at(-1)).join("+")}`).join(",") || "none";
  const extra = `${state.route.matchRouting ? " matched" : ""}${state.route.mirrorPercent ? ` mirror ${state.route.mirrorPercent}%` : ""}`;
  return `weight ${state.route.canaryWeight}${extra} canary [${pods(state.canary)}] primary [${pods(state.primary)}]`;
}

/** The simulator's own reader, logging every change of what it sees (routing, ready pods, images). */
function loggingReader(
  namespace: string,
  target: string,
  router: TrafficOptions["router"],
  log: (line: string) => void,
): StateReader {
  const kc = kubeConfig();
  const inner = kubeStateReader(kc, namespace, target, weightSource(kc, { namespace, target, router }));
  let last = "";
  return {
    async read() {
      const started = Date.now();
      const state = await inner.read();
      const took = Date.now() - started;
      const now = summary(state);
      if (now !== last || took > 1_000) log(`sees ${now}${took > 1_000 ? ` (read took ${took} ms)` : ""}`);
      last = now;
      return state;
    },
  };
}

/**
 * Starts the simulator for `<target>` (main Ingress and Service named like the target) in namespace.
 * It logs to .kanaria/test-logs/simulator-<namespace>-<target>.log, including every change of the
 * cluster state it simulates against; `logFile` names the file.
 */
export async function startTraffic(
  namespace: string,
  target: string,
  options: TrafficOptions,
): Promise<RunningSimulator & { logFile: string }> {
  const logDir = join(repoRoot, ".kanaria", "test-logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `simulator-${namespace}-${target}.log`);
  const log = (message: string) => appendFileSync(logFile, `${new Date().toISOString()} ${message}\n`);
  const targetsDir = inject("prometheusTargetsDir");
  const cloudwatchEndpoint = inject("cloudwatchEndpoint");
  if (options.cloudwatch && !cloudwatchEndpoint)
    throw new Error("the test cluster has no CloudWatch endpoint");
  const simulator = await startSimulator({
    namespace,
    target,
    rps: options.rps,
    config: {
      profiles: options.profiles ?? {},
      ...(options.headerShare !== undefined && { headerShare: options.headerShare }),
    },
    seed: options.seed ?? 1,
    ...(targetsDir ? { prometheusTargetsDir: targetsDir } : {}),
    ...(options.cloudwatch
      ? { cloudwatch: { endpoint: cloudwatchEndpoint, intervalMs: options.cloudwatch.intervalMs } }
      : {}),
    reader: loggingReader(namespace, target, options.router, log),
    // Which series it writes (no Envoy sidecar series behind a Gateway API router).
    ...(options.router ? { router: options.router } : {}),
    log,
  });
  log(`started: ${options.rps} rps, metrics at ${simulator.url}`);
  // Requests so far, every 5 s: shows when the canary actually got traffic.
  const totals = setInterval(() => {
    const { ticks, totals } = simulator.snapshot();
    const t = (v: keyof typeof totals) => `${totals[v].requests} requests/${totals[v].errors} errors`;
    log(`tick ${ticks}: primary ${t("primary")}, canary ${t("canary")}`);
  }, 5_000);
  return {
    ...simulator,
    logFile,
    stop: async () => {
      clearInterval(totals);
      await simulator.stop();
    },
  };
}

/**
 * `cluster.sh prometheus-stop` / `prometheus-start` on the local test cluster (same port and data
 * dir after a restart). Only for clusterMode "local" with a known cluster dir.
 */
export function prometheusControl(action: "stop" | "start"): Promise<void> {
  return clusterControl("prometheus", action);
}

/** Stops or starts one component of the local test cluster (cluster.sh `<component>-stop|start`). */
export async function clusterControl(
  component: "prometheus" | "controller-manager",
  action: "stop" | "start",
): Promise<void> {
  const clusterDir = inject("clusterDir");
  if (!clusterDir)
    throw new Error(`stopping ${component} needs the local test cluster (clusterDir is empty)`);
  await promisify(execFile)("bash", [join(repoRoot, "test/cluster/cluster.sh"), `${component}-${action}`], {
    env: { ...process.env, KANARIA_CLUSTER_DIR: clusterDir },
    timeout: 120_000,
  });
}
