// The data plane's pod runner (cluster.sh up with KANARIA_DATAPLANE=traefik; runs inside the data
// plane's network namespace): one real podinfo process per Pod whose container image is podinfo (any
// registry, any tag), bound to the Pod's IP, with the container's command-line arguments and env.
//
//   * KWOK gives such a Pod its IP and makes it Running but not Ready (kwok/process-start.yaml); this
//     runner starts the process, probes it like a kubelet would (the readinessProbe's httpGet, else a
//     TCP connect to the port) and only then sets the annotation kanaria.dev/process-ready=true, on
//     which KWOK makes the Pod Ready (kwok/process-ready.yaml). No request reaches a Pod that is not
//     listening.
//   * When the Pod is deleted the process keeps serving for DRAIN_MS (the EndpointSlice controller
//     and Traefik drop the endpoint meanwhile), then gets SIGTERM. When KWOK hands the IP to a new pod
//     before that, the old process is killed at once. A process that exits is not restarted.
//   * Each process serves its metrics on a port of its own (METRICS_PORTS), and TARGETS_FILE lists the
//     processes of Ready pods as Prometheus file_sd targets (pod-targets.ts): a target appears once the
//     Pod is Ready and goes when the process is stopped (after the drain) or exits. Prometheus reaches
//     them through the bridge's HTTP proxy (cluster.sh's `kubernetes-pods` job).
//
// Usage: node test/cluster/pod-runner.ts PODINFO_BIN LOG_DIR TARGETS_FILE   (KUBECONFIG names the cluster)
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect, createServer } from "node:net";
import path from "node:path";
import type { V1Container } from "@kubernetes/client-node";
import pino from "pino";
import { createKubeClient } from "../../src/kube/client.ts";
import { loadConnection } from "../../src/kube/connection.ts";
import { createWatcher } from "../../src/kube/watcher.ts";
import { spawnLogged } from "../support/child-log.ts";
import { type Pod, podTarget, type TargetGroup, writeTargets } from "./pod-targets.ts";
import { podinfoProcess } from "./podinfo-process.ts";

const READY_ANNOTATION = "kanaria.dev/process-ready";
const DRAIN_MS = Number(process.env.KANARIA_POD_DRAIN_MS ?? 5_000);
const PROBE_EVERY_MS = 200;
// podinfo's metrics server binds every address of the namespace, so each process needs a port of its
// own. Below Linux's ephemeral range (32768-60999), where the cluster's other listeners and every
// outgoing connection get theirs.
const METRICS_PORTS = { first: 29_000, count: 1_000 };

interface Running {
  pod: string;
  ip: string;
  child: ChildProcess;
  exited: Promise<void>;
  stopping: boolean;
  metricsPort: number;
  /** Its Prometheus target: set once the Pod is Ready, cleared when the process is signalled to stop. */
  target?: TargetGroup;
}

const [podinfoBin, logDir, targetsFile] = process.argv.slice(2);
if (!podinfoBin || !logDir || !targetsFile) {
  process.stderr.write("usage: node test/cluster/pod-runner.ts PODINFO_BIN LOG_DIR TARGETS_FILE\n");
  process.exit(2);
}
mkdirSync(logDir, { recursive: true });
const logger = pino({ base: { component: "pod-runner" } });
const connection = loadConnection();
const client = createKubeClient(connection, logger);
const running = new Map<string, Running>();

const isPodinfo = (c: V1Container): boolean => /(^|\/)podinfo(:|@|$)/.test(c.image ?? "");
const podName = (pod: Pod): string => `${pod.metadata.namespace}/${pod.metadata.name}`;
const isReady = (pod: Pod): boolean =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** Rewrites the targets file from the running processes (called on every change of one). */
function publishTargets(): void {
  const groups = [...running.values()].flatMap((r) => (r.target ? [r.target] : []));
  try {
    writeTargets(targetsFile as string, groups);
  } catch (err) {
    logger.error({ file: targetsFile, err: String(err) }, "could not write the Prometheus targets file");
  }
}

/** Whether PORT can be bound on every address of the namespace right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "0.0.0.0", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

let nextMetricsPort = 0;
/** A metrics port no running process holds and nothing else has bound. */
async function metricsPort(): Promise<number> {
  const held = new Set([...running.values()].map((r) => r.metricsPort));
  for (let i = 0; i < METRICS_PORTS.count; i++) {
    const port = METRICS_PORTS.first + ((nextMetricsPort + i) % METRICS_PORTS.count);
    if (held.has(port) || !(await portFree(port))) continue;
    nextMetricsPort = (nextMetricsPort + i + 1) % METRICS_PORTS.count;
    return port;
  }
  throw new Error(
    `no free metrics port in ${METRICS_PORTS.first}-${METRICS_PORTS.first + METRICS_PORTS.count - 1} for a podinfo process`,
  );
}

async function start(pod: Pod, container: V1Container, ip: string): Promise<void> {
  const uid = pod.metadata.uid ?? podName(pod);
  const port = await metricsPort();
  const plan = podinfoProcess(container, ip, port);
  for (const skipped of plan.skippedEnv) {
    logger.warn({ pod: podName(pod), env: skipped }, "env var from valueFrom is not supported; left out");
  }
  const logFile = path.join(logDir as string, `${pod.metadata.namespace}_${pod.metadata.name}.log`);
  const child = spawnLogged(podinfoBin as string, plan.args, logFile, {
    env: { PATH: process.env.PATH ?? "", ...plan.env },
    cwd: logDir as string,
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const entry: Running = { pod: podName(pod), ip, child, exited, stopping: false, metricsPort: port };
  running.set(uid, entry);
  logger.info({ pod: entry.pod, ip, args: plan.args }, "started podinfo");
  exited.then(() => {
    if (running.get(uid) === entry) running.delete(uid);
    if (!entry.stopping) logger.warn({ pod: entry.pod, code: child.exitCode }, "podinfo exited on its own");
    if (entry.target) publishTargets();
  });
  void markReadyWhenProbed(pod, entry, plan.probe);
}

async function probeOnce(probe: { host: string; port: number; path?: string }): Promise<boolean> {
  if (probe.path !== undefined) {
    try {
      const res = await fetch(`http://${probe.host}:${probe.port}${probe.path}`, {
        signal: AbortSignal.timeout(1_000),
      });
      await res.body?.cancel();
      return res.status >= 200 && res.status < 400;
    } catch {
      return false;
    }
  }
  return new Promise((resolve) => {
    const socket = connect({ host: probe.host, port: probe.port, timeout: 1_000 });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
    socket.on("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function markReadyWhenProbed(
  pod: Pod,
  entry: Running,
  probe: { host: string; port: number; path?: string },
): Promise<void> {
  while (!entry.stopping && entry.child.exitCode === null) {
    if (await probeOnce(probe)) {
      try {
        await client.mergePatch(
          { apiVersion: "v1", kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name },
          { metadata: { annotations: { [READY_ANNOTATION]: "true" } } },
        );
        logger.info({ pod: entry.pod }, "podinfo answers its readiness probe; pod marked ready");
      } catch (err) {
        logger.warn({ pod: entry.pod, err: String(err) }, "could not mark the pod ready");
      }
      return;
    }
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
}

/**
 * Stops UID's process: SIGTERM after delayMs (podinfo then serves 3 s more and exits), or at once with
 * SIGKILL when delayMs is 0 (its IP is wanted by a new pod).
 */
function stop(uid: string, delayMs: number): Promise<void> {
  const entry = running.get(uid);
  if (!entry) return Promise.resolve();
  if (delayMs === 0) {
    entry.stopping = true;
    logger.info({ pod: entry.pod, ip: entry.ip }, "a new pod has this pod's IP; killing its podinfo now");
    entry.target = undefined;
    entry.child.kill("SIGKILL");
    publishTargets();
  } else if (!entry.stopping) {
    entry.stopping = true;
    logger.info({ pod: entry.pod, drainMs: delayMs }, "pod deleted; stopping podinfo after the drain time");
    // Its target stays while it drains: Prometheus still scrapes the requests it serves meanwhile.
    setTimeout(() => {
      entry.target = undefined;
      entry.child.kill("SIGTERM");
      publishTargets();
    }, delayMs);
  }
  return entry.exited;
}

async function reconcile(pod: Pod): Promise<void> {
  const uid = pod.metadata.uid ?? podName(pod);
  const container = pod.spec?.containers.find(isPodinfo);
  if (!container) return;
  if (pod.metadata.deletionTimestamp) {
    void stop(uid, DRAIN_MS);
    return;
  }
  const entry = running.get(uid);
  if (entry) {
    updateTarget(pod, container, entry);
    return;
  }
  const ip = pod.status?.podIP;
  if (!ip || gone.has(uid)) return;
  // KWOK may hand a deleted pod's IP to a new pod while the old process still drains: the new pod wins.
  const holders = [...running.entries()].filter(([, r]) => r.ip === ip);
  if (holders.length > 0) await Promise.all(holders.map(([other]) => stop(other, 0)));
  await start(pod, container, ip);
}

/**
 * ENTRY's target from the Pod as it is now: added when the Pod is first Ready; after that it follows
 * the Pod's labels and readiness (Kubernetes SD keeps an unready pod as a target too) until the process
 * is stopped.
 */
function updateTarget(pod: Pod, container: V1Container, entry: Running): void {
  if (entry.stopping || entry.child.exitCode !== null || entry.child.signalCode !== null) return;
  const ready = isReady(pod);
  if (!entry.target && !ready) return;
  const target = podTarget(pod, container.name, entry.ip, entry.metricsPort, ready);
  if (JSON.stringify(target) === JSON.stringify(entry.target)) return;
  if (!entry.target)
    logger.info({ pod: entry.pod, target: target.targets[0] }, "pod ready; scraped by Prometheus");
  entry.target = target;
  publishTargets();
}

// One event at a time, in the watch's order: a pod deleted before its process started is never started,
// and two pods that got the same IP one after the other never run side by side.
const gone = new Set<string>();
let queue = Promise.resolve();
function enqueue(work: () => Promise<void> | void): void {
  queue = queue.then(work).catch((err: unknown) => logger.error({ err: String(err) }, "pod event failed"));
}

const watcher = createWatcher<Pod>(
  connection,
  { apiVersion: "v1", kind: "Pod" },
  {
    onAdd: (pod) => enqueue(() => reconcile(pod)),
    onUpdate: (pod) => enqueue(() => reconcile(pod)),
    onDelete: (pod) =>
      enqueue(() => {
        const uid = pod.metadata.uid ?? podName(pod);
        gone.add(uid);
        void stop(uid, DRAIN_MS);
      }),
  },
  { logger },
);

function shutdown(): void {
  for (const entry of running.values()) {
    entry.stopping = true;
    entry.target = undefined;
    entry.child.kill("SIGTERM");
  }
  publishTargets();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
publishTargets();
void watcher.start();
logger.info({ podinfo: podinfoBin }, "pod runner watching pods");
