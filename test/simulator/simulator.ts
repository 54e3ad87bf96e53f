// The traffic simulator as a library: plays the data plane for tests and the demo. It polls the cluster
// for the routing and ready pods, simulates requests arithmetically (it never sends any), serves them
// as ingress-nginx/Envoy metrics on 127.0.0.1 for Prometheus, and optionally pushes them to CloudWatch.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import {
  type CloudWatchOptions,
  cloudWatchClient,
  DEFAULT_CLOUDWATCH_NAMESPACE,
  metricData,
  putWindow,
} from "./cloudwatch.ts";
import { kubeStateReader, type StateReader, type WeightSource } from "./cluster-state.ts";
import type { Exposition } from "./exposition.ts";
import { httpRouteWeightSource } from "./httproute-weight-source.ts";
import { nginxWeightSource } from "./nginx-weight-source.ts";
import type { SimulatorConfig } from "./profiles.ts";
import { Simulation, type SimulationSnapshot } from "./simulation.ts";
import { virtualRouterWeightSource } from "./virtualrouter-weight-source.ts";

export interface SimulatorOptions {
  namespace: string;
  /** The canary Deployment; the primary is "<target>-primary". */
  target: string;
  /**
   * The router whose objects carry the split: nginx (default, the canary Ingress), gatewayapi (an
   * HTTPRoute), appmesh (the VirtualRouter <service>), or kubernetes (no split: see
   * KUBERNETES_LOAD_TEST_SHARE). Behind gatewayapi no Envoy sidecar series are written (exposition.ts).
   */
  router?: "nginx" | "gatewayapi" | "appmesh" | "kubernetes";
  /** Main Ingress for the nginx router; default `target`. */
  ingress?: string;
  /** HTTPRoute for the gatewayapi router; default the apex Service (`service`). */
  route?: string;
  /** Backend service of the main Ingress (nginx), the apex Service (gatewayapi); default `target`. */
  service?: string;
  /** Requests per second (0: no traffic at all); default config.rps, else 10. */
  rps?: number;
  /** Profiles per image; images without one get config.default, else DEFAULT_PROFILE. */
  config?: SimulatorConfig;
  /** PRNG seed; the same seed and cluster states give the same requests. Default 1. */
  seed?: number;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Default $KUBECONFIG. Not read when `reader` is given. */
  kubeconfig?: string;
  /** Replaces the Kubernetes reader, e.g. to drive the simulator from a test without a cluster. */
  reader?: StateReader;
  /** Default 1000. */
  pollIntervalMs?: number;
  /** Each tick simulates rps * tickIntervalMs / 1000 requests. Default 1000. */
  tickIntervalMs?: number;
  /** Pushes to CloudWatch when given; off otherwise. */
  cloudwatch?: CloudWatchOptions & { intervalMs?: number };
  /** Writes a Prometheus file_sd file for the endpoint there, removed again on stop. */
  prometheusTargetsDir?: string;
  /** Default: stderr. */
  log?: (message: string) => void;
}

export interface RunningSimulator {
  port: number;
  /** http://127.0.0.1:<port>/metrics */
  url: string;
  snapshot(): SimulationSnapshot;
  stop(): Promise<void>;
}

const logToStderr = (message: string): void => {
  process.stderr.write(`[simulator] ${message}\n`);
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function defaultReader(options: SimulatorOptions): StateReader {
  const kubeconfig = options.kubeconfig ?? process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error("the simulator needs a kubeconfig (option, --kubeconfig or $KUBECONFIG)");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kubeStateReader(kc, options.namespace, options.target, weightSource(kc, options));
}

/**
 * The kubernetes provider has no router: the apex Service sends users to the primary, and Flagger's
 * load tester (the rollout webhook's `hey ... http://<service>-canary`) sends its own requests to the
 * canary Service. The simulator models that as this share of all requests going to the canary whenever
 * it has ready pods (to the primary otherwise, like every other canary-bound request).
 */
export const KUBERNETES_LOAD_TEST_SHARE = 50;

/** Where the router of `options.router` keeps the split. */
export function weightSource(
  kc: k8s.KubeConfig,
  options: Pick<SimulatorOptions, "namespace" | "target" | "router" | "ingress" | "route" | "service">,
): WeightSource {
  const service = options.service ?? options.target;
  if (options.router === "kubernetes") {
    return { read: async () => ({ canaryWeight: KUBERNETES_LOAD_TEST_SHARE, matchRouting: false }) };
  }
  if (options.router === "appmesh") {
    return virtualRouterWeightSource(kc, { namespace: options.namespace, service });
  }
  if (options.router === "gatewayapi") {
    return httpRouteWeightSource(kc, {
      namespace: options.namespace,
      route: options.route ?? service,
      service,
    });
  }
  return nginxWeightSource(kc, {
    namespace: options.namespace,
    ingress: options.ingress ?? options.target,
    service,
  });
}

/**
 * Runs task every intervalMs, never two at once (a slow apiserver or CloudWatch delays the next run
 * instead of piling runs up). The returned stop waits for a run in progress.
 */
function repeat(intervalMs: number, task: () => Promise<void> | void): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = (): void => {
    timer = setTimeout(() => {
      running = Promise.resolve(task()).finally(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

function serveMetrics(exposition: Exposition, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    exposition.text().then(
      (body) => res.writeHead(200, { "Content-Type": exposition.registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(errorText(err)),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // Loopback only: the simulator is a test tool and must not be reachable from elsewhere.
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** Registers the endpoint with Prometheus (file_sd); write + rename, so no half-written file is read. */
function writeTargetFile(dir: string, port: number): string {
  const file = path.join(dir, `simulator-${port}.json`);
  const body = JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: "simulator" } }]);
  writeFileSync(`${file}.tmp`, body);
  renameSync(`${file}.tmp`, file);
  return file;
}

function startCloudWatch(
  simulation: Simulation,
  options: SimulatorOptions & { cloudwatch: NonNullable<SimulatorOptions["cloudwatch"]> },
  log: (message: string) => void,
): () => Promise<void> {
  const client = cloudWatchClient(options.cloudwatch);
  const namespace = options.cloudwatch.namespace ?? DEFAULT_CLOUDWATCH_NAMESPACE;
  const id = { namespace: options.namespace, target: options.target };
  const stop = repeat(options.cloudwatch.intervalMs ?? 5000, async () => {
    try {
      await putWindow(client, namespace, metricData(id, simulation.drainWindow(), new Date()));
    } catch (err) {
      log(`PutMetricData to ${options.cloudwatch.endpoint} failed: ${errorText(err)}`);
    }
  });
  return async () => {
    await stop();
    client.destroy();
  };
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const log = options.log ?? logToStderr;
  const reader = options.reader ?? defaultReader(options);
  const config = options.config ?? { profiles: {} };
  const simulation = new Simulation({
    namespace: options.namespace,
    rps: options.rps ?? config.rps ?? 10,
    config,
    seed: options.seed ?? 1,
    collectWindow: options.cloudwatch !== undefined,
    envoy: options.router !== "gatewayapi",
  });
  // The first read fails loudly (wrong kubeconfig, no apiserver); later failures keep the last state.
  simulation.setState(await reader.read());

  const server = await serveMetrics(simulation.exposition, options.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const targetFile = options.prometheusTargetsDir
    ? writeTargetFile(options.prometheusTargetsDir, port)
    : undefined;

  const tickMs = options.tickIntervalMs ?? 1000;
  const stoppers = [
    repeat(options.pollIntervalMs ?? 1000, async () => {
      try {
        simulation.setState(await reader.read());
      } catch (err) {
        log(`reading the cluster failed, keeping the last state: ${errorText(err)}`);
      }
    }),
    repeat(tickMs, () => {
      simulation.tick(tickMs / 1000);
    }),
  ];
  if (options.cloudwatch)
    stoppers.push(startCloudWatch(simulation, { ...options, cloudwatch: options.cloudwatch }, log));

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all(stoppers.map((s) => s()));
    if (targetFile) rmSync(targetFile, { force: true });
    // Prometheus keeps its scrape connection open; close it so close() returns now.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    url: `http://127.0.0.1:${port}/metrics`,
    snapshot: () => simulation.snapshot(),
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
