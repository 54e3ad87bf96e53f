// vitest globalSetup for the `integration` project: one test cluster per test run.
//
// KANARIA_TEST_CLUSTER selects the cluster:
//   local (default)  reuse a running `make cluster` ($KANARIA_CLUSTER_DIR, default .kanaria/cluster,
//                    whose env file exists and whose apiserver answers),
//                    else start our own control plane with test/cluster/cluster.sh in
//                    .kanaria/test-<pid> and stop it in teardown (and on SIGINT/SIGTERM; a watchdog
//                    stops it too if this process is killed outright).
//   existing         use $KUBECONFIG as is; PROMETHEUS_URL, PROMETHEUS_TARGETS_DIR and
//                    CLOUDWATCH_ENDPOINT are taken from the environment when set.
//   k3s              start k3s with @testcontainers/k3s (needs a Docker engine; image from
//                    KANARIA_K3S_IMAGE); Prometheus/CloudWatch as for `existing`.
// Then crds/*.yaml (KANARIA_CRDS_DIR overrides the dir) and the third-party CRDs (Gateway API, App Mesh, KEDA's ScaledObject; read from the Go module cache by
// `cluster.sh third-party-crds`) are applied and awaited until Established.
// Tests read what was set up with inject("kubeconfig") etc. (see provided.d.ts).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cp } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import type { DataPlane } from "vitest";
import type { TestProject } from "vitest/node";
import { installCrds, yamlFilesIn } from "./crds.ts";
import { readEnvFile } from "./env-file.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CLUSTER_SH = path.join(REPO_ROOT, "test/cluster/cluster.sh");
// `make cluster`'s state dir (cluster.sh's default, or KANARIA_CLUSTER_DIR as for cluster.sh)
const SHARED_CLUSTER_DIR = process.env.KANARIA_CLUSTER_DIR ?? path.join(REPO_ROOT, ".kanaria/cluster");
const FIELD_MANAGER = "kanaria-test-setup";

type Mode = "local" | "existing" | "k3s";

interface ClusterInfo {
  kubeconfig: string;
  clusterDir: string;
  kubernetesVersion: string;
  prometheusUrl: string;
  prometheusTargetsDir: string;
  cloudwatchEndpoint: string;
  sigv4PrometheusUrl: string;
  sigv4Region: string;
  dataplane: DataPlane | undefined;
  stop: () => Promise<void>;
}

function log(msg: string): void {
  process.stderr.write(`[kanaria global-setup] ${msg}\n`);
}

async function apiserverAnswers(kubeconfigPath: string): Promise<boolean> {
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const version = kc.makeApiClient(k8s.VersionApi);
    await Promise.race([
      version.getCode(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 5_000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

function infoFromEnv(env: Record<string, string>, stop: () => Promise<void>): ClusterInfo {
  const kubeconfig = env.KUBECONFIG;
  if (!kubeconfig) throw new Error("cluster env has no KUBECONFIG");
  return {
    kubeconfig,
    clusterDir: env.KANARIA_CLUSTER_DIR ?? "",
    kubernetesVersion: env.KANARIA_KUBERNETES_VERSION ?? "",
    prometheusUrl: env.PROMETHEUS_URL ?? "",
    prometheusTargetsDir: env.PROMETHEUS_TARGETS_DIR ?? "",
    cloudwatchEndpoint: env.CLOUDWATCH_ENDPOINT ?? "",
    sigv4PrometheusUrl: env.SIGV4_PROMETHEUS_URL ?? "",
    sigv4Region: env.SIGV4_REGION ?? "",
    dataplane: dataplaneFromEnv(env),
    stop,
  };
}

function dataplaneFromEnv(env: Record<string, string>): DataPlane | undefined {
  if (!env.PROXY_URL) return undefined;
  return {
    proxyUrl: env.PROXY_URL,
    gateway: env.GATEWAY ?? "",
    gatewayClass: env.GATEWAY_CLASS ?? "",
    ingressClass: env.INGRESS_CLASS ?? "",
    loadtesterUrl: env.LOADTESTER_URL ?? "",
  };
}

/**
 * KANARIA_DATAPLANE=traefik requires a cluster with the real data plane. Unset, cluster.sh starts one
 * where it can run and a running cluster is taken as it is; "off" or empty: none.
 */
const wantsDataplane = (): boolean => process.env.KANARIA_DATAPLANE === "traefik";

function runClusterSh(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    // stderr (progress, failure details) goes to the terminal; stdout (the env file) is not needed.
    const child = spawn("bash", [CLUSTER_SH, ...args], { env, stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

// .kanaria/test-<pid> dirs of test runs that were killed outright: their watchdog has already stopped
// the processes; run `down` again to be sure, then drop the dir. Dirs of live runs are left alone.
function cleanUpAbandonedTestClusters(): void {
  const root = path.join(REPO_ROOT, ".kanaria");
  if (!existsSync(root)) return;
  for (const entry of readdirSync(root)) {
    const m = /^test-(\d+)$/.exec(entry);
    if (!m || pidAlive(Number(m[1]))) continue;
    const dir = path.join(root, entry);
    spawnSync("bash", [CLUSTER_SH, "down"], {
      env: { ...process.env, KANARIA_CLUSTER_DIR: dir },
      stdio: "ignore",
    });
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startLocal(): Promise<ClusterInfo> {
  const sharedEnv = path.join(SHARED_CLUSTER_DIR, "env");
  if (existsSync(sharedEnv)) {
    const env = readEnvFile(sharedEnv);
    if (wantsDataplane() && !env.PROXY_URL) {
      log(
        `${SHARED_CLUSTER_DIR} has no data plane; KANARIA_DATAPLANE=traefik, so a test cluster with one is started`,
      );
    } else if (env.KUBECONFIG && (await apiserverAnswers(env.KUBECONFIG))) {
      log(`reusing the running cluster in ${SHARED_CLUSTER_DIR} (not stopped after the tests)`);
      return infoFromEnv(env, async () => {});
    }
  }

  cleanUpAbandonedTestClusters();
  const dir = path.join(REPO_ROOT, ".kanaria", `test-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const childEnv = {
    ...process.env,
    KANARIA_CLUSTER_DIR: dir,
    KANARIA_CLUSTER_OWNER_PID: String(process.pid),
  };

  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync("bash", [CLUSTER_SH, "down"], { env: childEnv, stdio: ["ignore", "ignore", "inherit"] });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping the test cluster in ${dir}`);
    stopSync();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    // Nobody else listening: re-raise so the default action (exit) happens.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", stopSync);

  log(`starting a local test cluster in ${dir} (logs: ${dir}/logs) ...`);
  const started = Date.now();
  const code = await runClusterSh(["up"], childEnv);
  if (code !== 0) {
    stopSync();
    throw new Error(
      `the local test cluster failed to start (cluster.sh up exited ${code}); see the messages above and ${dir}/logs/`,
    );
  }
  log(`local test cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);

  const stop = async (): Promise<void> => {
    stopSync();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", stopSync);
    // Keep the last run's logs for post-mortems; drop the rest (etcd/prometheus data, keys).
    const keep = path.join(REPO_ROOT, ".kanaria", "last-test-logs");
    rmSync(keep, { recursive: true, force: true });
    await cp(path.join(dir, "logs"), keep, { recursive: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  return infoFromEnv(readEnvFile(path.join(dir, "env")), stop);
}

function infoFromProcessEnv(kubeconfig: string, stop: () => Promise<void>): ClusterInfo {
  return {
    kubeconfig,
    clusterDir: "",
    kubernetesVersion: "",
    prometheusUrl: process.env.PROMETHEUS_URL ?? "",
    prometheusTargetsDir: process.env.PROMETHEUS_TARGETS_DIR ?? "",
    cloudwatchEndpoint: process.env.CLOUDWATCH_ENDPOINT ?? "",
    sigv4PrometheusUrl: process.env.SIGV4_PROMETHEUS_URL ?? "",
    sigv4Region: process.env.SIGV4_REGION ?? "",
    dataplane: undefined,
    stop,
  };
}

function startExisting(): ClusterInfo {
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig || !existsSync(kubeconfig.split(path.delimiter)[0] ?? "")) {
    throw new Error("KANARIA_TEST_CLUSTER=existing needs KUBECONFIG pointing at a kubeconfig file");
  }
  return infoFromProcessEnv(kubeconfig.split(path.delimiter)[0] ?? kubeconfig, async () => {});
}

async function startK3s(): Promise<ClusterInfo> {
  // Needs a Docker engine (not available on the project's CI machines).
  const { K3sContainer } = await import("@testcontainers/k3s");
  const image = process.env.KANARIA_K3S_IMAGE ?? "rancher/k3s:v1.35.4-k3s1";
  log(`starting ${image} with testcontainers ...`);
  const container = await new K3sContainer(image).start();
  const dir = path.join(REPO_ROOT, ".kanaria", `k3s-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const kubeconfig = path.join(dir, "kubeconfig");
  writeFileSync(kubeconfig, container.getKubeConfig(), { mode: 0o600 });
  return infoFromProcessEnv(kubeconfig, async () => {
    await container.stop();
    rmSync(dir, { recursive: true, force: true });
  });
}

function crdFiles(): string[] {
  const files = yamlFilesIn(process.env.KANARIA_CRDS_DIR ?? path.join(REPO_ROOT, "crds"));
  const res = spawnSync("bash", [CLUSTER_SH, "third-party-crds"], { encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`cluster.sh third-party-crds failed (needs Go and the module proxy):\n${res.stderr}`);
  }
  files.push(...res.stdout.split("\n").filter((l) => l.trim() !== ""));
  return files;
}

/**
 * The integration projects (the files that run side by side and those that stop shared parts of the
 * cluster, run after them) each call this setup; they share one cluster, started by the first call
 * and stopped when the last of them tears down. vitest runs both setups in its main process.
 */
interface SharedCluster {
  ready: Promise<{ info: ClusterInfo; mode: Mode }>;
  users: number;
}
const shared = globalThis as { __kanariaTestCluster?: SharedCluster };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared.__kanariaTestCluster ??= { ready: startCluster(), users: 0 };
  const cluster = shared.__kanariaTestCluster;
  cluster.users++;
  const { info, mode } = await cluster.ready;
  project.provide("kubeconfig", info.kubeconfig);
  project.provide("clusterMode", mode);
  project.provide("clusterDir", info.clusterDir);
  project.provide("kubernetesVersion", info.kubernetesVersion);
  project.provide("prometheusUrl", info.prometheusUrl);
  project.provide("prometheusTargetsDir", info.prometheusTargetsDir);
  project.provide("cloudwatchEndpoint", info.cloudwatchEndpoint);
  project.provide("sigv4PrometheusUrl", info.sigv4PrometheusUrl);
  project.provide("sigv4Region", info.sigv4Region);
  project.provide("dataplane", info.dataplane);
  return async () => {
    if (--cluster.users > 0) return;
    shared.__kanariaTestCluster = undefined;
    await info.stop();
  };
}

async function startCluster(): Promise<{ info: ClusterInfo; mode: Mode }> {
  const mode = (process.env.KANARIA_TEST_CLUSTER ?? "local") as Mode;
  let info: ClusterInfo;
  switch (mode) {
    case "local":
      info = await startLocal();
      break;
    case "existing":
      info = startExisting();
      break;
    case "k3s":
      info = await startK3s();
      break;
    default:
      throw new Error(`KANARIA_TEST_CLUSTER must be local, existing or k3s (got "${String(mode)}")`);
  }

  try {
    const started = Date.now();
    const files = crdFiles();
    const names = await installCrds(info.kubeconfig, files, { fieldManager: FIELD_MANAGER });
    log(
      `applied ${names.length} CRDs from ${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
  } catch (err) {
    await info.stop();
    throw err;
  }
  // Also for code under test that reads the environment (workers inherit it).
  process.env.KUBECONFIG = info.kubeconfig;
  if (info.prometheusUrl) process.env.PROMETHEUS_URL = info.prometheusUrl;
  if (info.cloudwatchEndpoint) process.env.CLOUDWATCH_ENDPOINT = info.cloudwatchEndpoint;
  return { info, mode };
}
