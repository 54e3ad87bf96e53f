/**
 * The controller process: watches Canaries and the objects they depend on (watched-kinds.ts), and
 * reconciles each Canary through a per-key queue (never two reconciles of one Canary at once), at
 * every analysis interval and immediately on relevant changes. The reconcile's dependencies are
 * wired in wiring.ts, the queue's handler, the Canary events and the resync are in queue-handler.ts.
 */
import type { Logger } from "pino";
import type { Canary, ProviderName } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import type { Sigv4Spec } from "../api/metric-template.ts";
import { CachedKubeClient, CacheRegistry, type CacheStats, cacheForm } from "../kube/cached-client.ts";
import { createKubeClient } from "../kube/client.ts";
import type { KubeConnection } from "../kube/connection.ts";
import { servesApi } from "../kube/discovery.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import { createWatcher, type Watcher, type WatchHandlers } from "../kube/watcher.ts";
import type { ProviderRef } from "../notifiers/outbox.ts";
import type { ControllerMetrics } from "../observability/metrics.ts";
import { WorkQueue } from "../work-queue.ts";
import type { LabelPrefixes } from "../workloads/label-prefix.ts";
import { CanaryIndex } from "./canary-index.ts";
import { canaryEventHandlers, reconcileHandler, startResync } from "./queue-handler.ts";
import { reconcileCanary } from "./reconciler.ts";
import { servedKinds, WATCHED_KINDS, type WatchedKind } from "./watched-kinds.ts";
import { reconcilerWiring, type WatchCaches } from "./wiring.ts";

/** How often a Canary nothing woke is reconciled anyway. */
const RESYNC_MS = 30_000;

export interface ControllerOptions {
  connection: KubeConnection;
  logger: Logger;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  defaultProvider: ProviderName;
  /** Prometheus for built-in metrics when neither the Canary nor a MetricTemplate names one. */
  metricsServer?: string;
  /** How to sign requests to metricsServer (--metrics-server-sigv4-*). */
  metricsSigv4?: Sigv4Spec;
  nginxAnnotationPrefix?: string;
  /** --include-label-prefix: the target's labels its primary and config copies carry. */
  labelPrefixes?: LabelPrefixes;
  workers: number;
  /** Relist a watch that has been silent this long. */
  watchdogMs?: number;
  /** --alert-provider (for Canaries without analysis.alerts) and --cluster-name (in every alert). */
  alerts?: {
    defaultProvider?: ProviderRef | undefined;
    clusterName?: string | undefined;
    /** How long a failed alert is retried. */
    retryForMs?: number;
  };
  /** With leader election: only while this is true does the process reconcile (watches stay warm). */
  isLeader?: () => boolean;
  metrics?: ControllerMetrics;
  /** The API server client under the watch caches (tests pass one that counts requests). */
  apiClient?: KubeClient;
  /** At most this many metric queries at once across all Canaries; default 16. */
  maxConcurrentQueries?: number;
}

export interface RunningController {
  /** Stops watching, lets in-flight reconciles finish (up to timeoutMs) and returns. */
  stop(timeoutMs?: number): Promise<void>;
  /** Queues every cached Canary, e.g. when this process has just become the leader. */
  resync(): void;
  /** Reads answered from the watch caches or sent to the API server, and applies skipped. */
  readonly cacheStats: CacheStats;
}

type CanaryObject = Canary & KubeObject;

/** Events from dependent objects within this window make one reconcile (a rollout updates a Deployment often). */
const COALESCE_MS = 200;

export async function startController(options: ControllerOptions): Promise<RunningController> {
  const { logger } = options;
  const isLeader = () => options.isLeader?.() ?? true;
  // Reads come from the watch caches below once each has listed; writes go to the API server.
  const registry = new CacheRegistry();
  const client = new CachedKubeClient(
    options.apiClient ?? createKubeClient(options.connection, logger),
    registry,
  );
  const caches: WatchCaches = { canaries: [], templates: [] };
  const { deps, alertQueue } = reconcilerWiring(
    {
      ...options,
      isLeader,
      driftCorrected: (namespace, name, kind) => options.metrics?.driftCorrected(namespace, name, kind),
    },
    client,
    caches,
  );

  const queue: WorkQueue = new WorkQueue((key) => handle(key), {
    maxConcurrency: options.workers,
    logger: logger.child({ component: "queue" }),
    onStart: (_key, lateMs) => options.metrics?.queued(lateMs / 1000),
  });
  const handle = reconcileHandler({
    queue,
    reconcile: (namespace, name) => reconcileCanary(deps, namespace, name),
    isLeader: options.isLeader,
    logger,
    metrics: options.metrics,
  });
  const index = new CanaryIndex();
  const listCanaries = () => caches.canaries.flatMap((w) => w.list());
  options.metrics?.attach({
    canaries: listCanaries,
    queueDepth: () => queue.waiting + queue.processing,
    isLeader,
  });

  const watches = new Watches(options, registry);
  caches.canaries.push(
    ...watches.add<CanaryObject>(
      API_VERSION,
      "Canary",
      canaryEventHandlers({
        queue,
        index,
        wrote: (o) => client.wrote(o),
        isLeader,
        metrics: options.metrics,
      }),
    ),
  );
  const kinds = await servedKinds(WATCHED_KINDS, (g, v) => servesApi(options.connection, g, v), logger);
  for (const kind of kinds) {
    const created = watches.addDependent(kind, dependentHandlers(kind, index, queue, client));
    if (kind.kind === "MetricTemplate") caches.templates.push(...created);
  }

  // Canaries first, so the dependents' first events already find them in the cache.
  await Promise.all(caches.canaries.map((w) => w.start()));
  await Promise.all(watches.dependents.map((w) => w.start()));
  logger.info(
    {
      namespaces: options.namespaces.length > 0 ? options.namespaces : "all",
      canaries: listCanaries().length,
    },
    "kanaria controller started",
  );
  const stopResync = startResync(listCanaries, queue, isLeader, RESYNC_MS);

  return {
    async stop(timeoutMs = 30_000) {
      stopResync();
      await Promise.all([...caches.canaries, ...watches.dependents].map((w) => w.stop()));
      const finished = await queue.stop(timeoutMs);
      await alertQueue.stop(5_000);
      logger.info({ finished }, "kanaria controller stopped");
    },
    cacheStats: client.stats,
    resync() {
      for (const c of listCanaries()) queue.enqueue(objectKey(c));
    },
  };
}

/**
 * A dependent object's events wake the Canaries it leads back to (owner, or naming it as its kind);
 * one kanaria just wrote itself wakes nobody on add or update: the Canary that wrote it knows.
 */
function dependentHandlers(
  kind: WatchedKind,
  index: CanaryIndex,
  queue: WorkQueue,
  client: CachedKubeClient,
) {
  const referenced = kind.wakes === "owner" ? undefined : kind.wakes;
  const toCanaries = (o: KubeObject) => {
    for (const key of index.canariesFor(o, referenced)) queue.enqueue(key, COALESCE_MS);
  };
  const wake = (o: KubeObject) => {
    if (!client.wrote(o)) toCanaries(o);
  };
  return { onAdd: wake, onUpdate: wake, onDelete: toCanaries };
}

/** One watch per kind and watched namespace, each serving reads for its kind once it has listed. */
class Watches {
  readonly dependents: Watcher<KubeObject>[] = [];
  private readonly options: ControllerOptions;
  private readonly registry: CacheRegistry;

  constructor(options: ControllerOptions, registry: CacheRegistry) {
    this.options = options;
    this.registry = registry;
  }

  add<T extends KubeObject>(apiVersion: string, kind: string, handlers: WatchHandlers<T>): Watcher<T>[] {
    const { options } = this;
    const created: Watcher<T>[] = [];
    for (const namespace of options.namespaces.length > 0 ? options.namespaces : [undefined]) {
      const w = createWatcher<T>(
        options.connection,
        { apiVersion, kind, ...(namespace ? { namespace } : {}) },
        handlers,
        {
          logger: options.logger,
          transform: cacheForm,
          ...(options.watchdogMs ? { watchdogMs: options.watchdogMs } : {}),
          onRestart: (reason: string) => options.metrics?.watchRestarted(kind, reason),
        },
      );
      // A watcher answers reads for its kind and namespace once its first list is in.
      w.synced.then(
        () => this.registry.register({ apiVersion, kind, ...(namespace ? { namespace } : {}) }, w),
        () => {},
      );
      created.push(w);
    }
    return created;
  }

  addDependent(kind: WatchedKind, handlers: WatchHandlers<KubeObject>): Watcher<KubeObject>[] {
    const created = this.add(kind.apiVersion, kind.kind, handlers);
    this.dependents.push(...created);
    return created;
  }
}
