/**
 * The controller process: watches Canaries and the objects they depend on, and reconciles each Canary
 * through a per-key queue (never two reconciles of one Canary at once), at every analysis interval
 * and immediately on relevant changes.
 */
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { Canary, ProviderName } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { Sigv4Spec } from "../api/metric-template.ts";
import { CachedKubeClient, CacheRegistry, type CacheStats, cacheForm } from "../kube/cached-client.ts";
import { createKubeClient } from "../kube/client.ts";
import type { KubeConnection } from "../kube/connection.ts";
import { servesApi } from "../kube/discovery.ts";
import { WorkQueue } from "../kube/queue.ts";
import { ConflictError, type KubeClient, type KubeObject } from "../kube/types.ts";
import { createWatcher, objectKey, type Watcher } from "../kube/watcher.ts";
import {
  kubeLookups,
  offlineProviders,
  parseTemplate,
  type RunChecksInput,
  runChecks,
} from "../metrics/analysis.ts";
import { createMetricProvider } from "../metrics/factory.ts";
import { alertHooks } from "../notifiers/alerts.ts";
import { createDeliveryQueue } from "../notifiers/delivery.ts";
import type { ProviderRef } from "../notifiers/outbox.ts";
import type { ControllerMetrics } from "../observability/metrics.ts";
import { createRouter } from "../routers/factory.ts";
import { CanaryIndex, type ReferencedKind } from "./canary-index.ts";
import { type ReconcilerDeps, reconcileCanary } from "./reconciler.ts";

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
  // Reads come from the watch caches below once each has listed; writes go to the API server.
  const registry = new CacheRegistry();
  const client = new CachedKubeClient(
    options.apiClient ?? createKubeClient(options.connection, logger),
    registry,
  );
  const queryLimit = pLimit(options.maxConcurrentQueries ?? 16);
  /** A watcher answers reads for its kind and namespace once its first list is in. */
  const serveFromCache = <T extends KubeObject>(
    w: Watcher<T>,
    scope: { apiVersion: string; kind: string; namespace: string | undefined },
  ) => {
    const { apiVersion, kind, namespace } = scope;
    w.synced.then(
      () => registry.register({ apiVersion, kind, ...(namespace ? { namespace } : {}) }, w),
      () => {},
    );
  };
  const templateWatchers: Watcher<KubeObject>[] = [];
  const lookups = cachedTemplateLookups(kubeLookups(client), templateWatchers, options.namespaces);
  const canaries: Watcher<CanaryObject>[] = [];
  const analysisInput = (canary: Canary, resolved: ResolvedCanary): RunChecksInput => ({
    canary,
    resolved,
    defaultMetricsServer: canary.spec.metricsServer ?? options.metricsServer,
    defaultMetricsSigv4: options.metricsSigv4,
    providers: createMetricProvider,
    ...lookups,
    now: () => new Date(),
  });
  const deps: ReconcilerDeps = {
    client,
    logger,
    now: () => new Date(),
    defaultProvider: options.defaultProvider,
    router: (provider) =>
      createRouter(provider, { client, nginxAnnotationPrefix: options.nginxAnnotationPrefix }),
    runChecks: (canary, resolved) => queryLimit(() => runChecks(analysisInput(canary, resolved))),
    offlineProviders: (canary, resolved) =>
      queryLimit(() => offlineProviders(analysisInput(canary, resolved))),
    listCanaries: async (namespace) =>
      canaries.flatMap((w) => w.list()).filter((c) => c.metadata.namespace === namespace),
  };
  // Alerts go out from here, in the background: a reconcile only records them in the status.
  const alertQueue = createDeliveryQueue({
    client,
    logger: logger.child({ component: "alerts" }),
    clusterName: options.alerts?.clusterName,
    ...(options.alerts?.retryForMs !== undefined ? { retryForMs: options.alerts.retryForMs } : {}),
    isLeader: () => options.isLeader?.() ?? true,
  });
  deps.alerts = alertHooks(alertQueue, options.alerts?.defaultProvider);

  const queue: WorkQueue = new WorkQueue(
    async (key) => {
      // A replica that is not the leader drops the key; resync() queues everything on election.
      if (options.isLeader && !options.isLeader()) return;
      const [namespace = "", name = ""] = key.split("/");
      const started = performance.now();
      let failed = false;
      try {
        const result = await reconcileCanary(deps, namespace, name);
        // Guarded: the log object would be built on every tick even with debug off.
        if (logger.isLevelEnabled("debug"))
          logger.debug({ key, requeueAfterMs: result.requeueAfterMs }, "reconciled");
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.enqueue(key, result.requeueAfterMs);
      } catch (err) {
        // Someone else wrote the Canary between our read and our write: read it again at once.
        if (err instanceof ConflictError) queue.enqueue(key, 0);
        else {
          failed = true;
          throw err;
        }
      } finally {
        options.metrics?.reconciled(key, (performance.now() - started) / 1000, failed);
      }
    },
    {
      maxConcurrency: options.workers,
      logger: logger.child({ component: "queue" }),
      onStart: (_key, lateMs) => options.metrics?.queued(lateMs / 1000),
    },
  );

  const enqueueCanary = (c: KubeObject) => queue.enqueue(objectKey(c));
  const isLeader = () => options.isLeader?.() ?? true;
  const index = new CanaryIndex();
  const onCanaryAdd = (c: CanaryObject) => {
    index.set(c);
    enqueueCanary(c);
  };
  const onCanaryUpdate = (c: CanaryObject, previous: CanaryObject) => {
    // Its own status writes too: they carry the configs it tracks.
    index.set(c);
    // kanaria's own status and finalizer writes do not wake it: the reconcile that wrote them requeued.
    if (!client.wrote(c)) enqueueCanary(c);
    // Counted by the leader only, so a release that ends is counted once across the replicas.
    if (isLeader()) {
      options.metrics?.phaseChanged(
        c.metadata.namespace ?? "",
        c.metadata.name,
        previous.status?.phase,
        c.status?.phase,
      );
    }
  };
  const onCanaryDelete = (c: CanaryObject) => {
    index.delete(c);
    enqueueCanary(c);
    options.metrics?.forget(c.metadata.namespace ?? "", c.metadata.name);
  };
  const watcherOptions = (kind: string) => ({
    logger,
    transform: cacheForm,
    ...(options.watchdogMs ? { watchdogMs: options.watchdogMs } : {}),
    onRestart: (reason: string) => options.metrics?.watchRestarted(kind, reason),
  });
  options.metrics?.attach({
    canaries: () => canaries.flatMap((w) => w.list()),
    queueDepth: () => queue.waiting + queue.processing,
    isLeader,
  });
  /** Wakes the Canaries a dependent object leads back to (owner, or naming it as `kind`). */
  const wakeFor = (kind?: ReferencedKind) => (o: KubeObject) => {
    for (const key of index.canariesFor(o, kind)) queue.enqueue(key, COALESCE_MS);
  };
  const dependents: Watcher<KubeObject>[] = [];
  const watch = (apiVersion: string, kind: string, toCanaries: (o: KubeObject) => void) => {
    const created: Watcher<KubeObject>[] = [];
    // An object kanaria just wrote itself wakes nobody: the Canary that wrote it knows.
    const wake = (o: KubeObject) => {
      if (!client.wrote(o)) toCanaries(o);
    };
    for (const namespace of options.namespaces.length > 0 ? options.namespaces : [undefined]) {
      const w = createWatcher<KubeObject>(
        options.connection,
        { apiVersion, kind, ...(namespace ? { namespace } : {}) },
        { onAdd: wake, onUpdate: wake, onDelete: toCanaries },
        watcherOptions(kind),
      );
      serveFromCache(w, { apiVersion, kind, namespace });
      created.push(w);
    }
    dependents.push(...created);
    return created;
  };

  for (const namespace of options.namespaces.length > 0 ? options.namespaces : [undefined]) {
    const w = createWatcher<CanaryObject>(
      options.connection,
      { apiVersion: API_VERSION, kind: "Canary", ...(namespace ? { namespace } : {}) },
      { onAdd: onCanaryAdd, onUpdate: onCanaryUpdate, onDelete: onCanaryDelete },
      watcherOptions("Canary"),
    );
    serveFromCache(w, { apiVersion: API_VERSION, kind: "Canary", namespace });
    canaries.push(w);
  }
  // The target and its primary, the ConfigMaps and Secrets a release tracks, generated Services.
  watch("apps/v1", "Deployment", wakeFor("Deployment"));
  watch("v1", "ConfigMap", wakeFor("ConfigMap"));
  watch("v1", "Secret", wakeFor("Secret"));
  watch("v1", "Service", wakeFor());
  // A template that appears or changes wakes the Canaries using it (e.g. one held because it was missing).
  templateWatchers.push(...watch(API_VERSION, "MetricTemplate", wakeFor("MetricTemplate")));
  watch("networking.k8s.io/v1", "Ingress", wakeFor("Ingress"));
  // App Mesh: an edited VirtualRouter wakes the Canary that owns it. Only where the App Mesh CRDs are
  // installed: a watch on a kind the server does not serve never finishes its first list.
  if (await servesApi(options.connection, "appmesh.k8s.aws", "v1beta2")) {
    watch("appmesh.k8s.aws/v1beta2", "VirtualRouter", wakeFor());
  } else {
    logger.info("appmesh.k8s.aws/v1beta2 is not served: not watching App Mesh VirtualRouters");
  }
  // Gateway API: a changed HTTPRoute (re-applied from Git, or a parent's verdict in its status) wakes
  // the Canary that generated it or names it in spec.routeRef.
  if (await servesApi(options.connection, "gateway.networking.k8s.io", "v1")) {
    watch("gateway.networking.k8s.io/v1", "HTTPRoute", wakeFor("HTTPRoute"));
  } else {
    logger.info("gateway.networking.k8s.io/v1 is not served: not watching HTTPRoutes");
  }

  // Canaries first, so the dependents' first events already find them in the cache.
  await Promise.all(canaries.map((w) => w.start()));
  await Promise.all(dependents.map((w) => w.start()));
  logger.info(
    {
      namespaces: options.namespaces.length > 0 ? options.namespaces : "all",
      canaries: canaries.flatMap((w) => w.list()).length,
    },
    "kanaria controller started",
  );

  // Level-triggered to the end: every Canary that is not being reconciled (or backing off) is
  // reconciled every RESYNC_MS, so a wake-up lost anywhere (a watch gap, an ignored self-write, a
  // timer) costs seconds, never a release. An idle reconcile reads only the caches. These runs take
  // the workers no due Canary needs: under a release of a thousand, steps and events go first.
  const resyncTimer = setInterval(() => {
    if (!isLeader()) return;
    for (const w of canaries) for (const c of w.list()) queue.resync(objectKey(c));
  }, RESYNC_MS);
  resyncTimer.unref();

  return {
    async stop(timeoutMs = 30_000) {
      clearInterval(resyncTimer);
      await Promise.all([...canaries, ...dependents].map((w) => w.stop()));
      const finished = await queue.stop(timeoutMs);
      await alertQueue.stop(5_000);
      logger.info({ finished }, "kanaria controller stopped");
    },
    cacheStats: client.stats,
    resync() {
      for (const w of canaries) for (const c of w.list()) enqueueCanary(c);
    },
  };
}

/**
 * MetricTemplates come from the watch cache in the namespaces the controller watches (where the cache
 * is complete); a template in another namespace is read from the API server.
 */
function cachedTemplateLookups(
  lookups: ReturnType<typeof kubeLookups>,
  watchers: Watcher<KubeObject>[],
  namespaces: string[],
): ReturnType<typeof kubeLookups> {
  return {
    ...lookups,
    async templates(namespace, name) {
      if (namespaces.length > 0 && !namespaces.includes(namespace)) return lookups.templates(namespace, name);
      const cached = watchers.map((w) => w.get(`${namespace}/${name}`)).find((t) => t !== undefined);
      return cached && parseTemplate(cached);
    },
  };
}
