/**
 * The composition root of a reconcile: the dependencies reconcileCanary gets in production (the
 * cached client, routers, metric checks behind one concurrency limit, alerts), built from the
 * controller's options and the watch caches.
 */
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { Canary, ProviderName } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { Sigv4Spec } from "../api/metric-template.ts";
import type { CachedKubeClient } from "../kube/cached-client.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import type { Watcher } from "../kube/watcher.ts";
import {
  kubeLookups,
  offlineProviders,
  parseTemplate,
  type RunChecksInput,
  runChecks,
} from "../metrics/analysis.ts";
import { isBuiltinMetric, ROUTER_SERIES, type Series } from "../metrics/builtin.ts";
import { createMetricProvider } from "../metrics/factory.ts";
import { describeChoice, SeriesResolver } from "../metrics/series.ts";
import { alertHooks } from "../notifiers/alerts.ts";
import { type AlertDeliveryQueue, createDeliveryQueue } from "../notifiers/delivery.ts";
import type { ProviderRef } from "../notifiers/outbox.ts";
import { createRouter } from "../routers/factory.ts";
import type { LabelPrefixes } from "../workloads/label-prefix.ts";
import type { ReconcilerDeps } from "./reconciler.ts";

export interface WiringOptions {
  logger: Logger;
  /** Namespaces watched; empty: all. */
  namespaces: string[];
  defaultProvider: ProviderName;
  metricsServer?: string | undefined;
  /** How to sign requests to metricsServer (--metrics-server-sigv4-*). */
  metricsSigv4?: Sigv4Spec | undefined;
  nginxAnnotationPrefix?: string | undefined;
  /** --include-label-prefix: the target's labels its primary and config copies carry. */
  labelPrefixes?: LabelPrefixes | undefined;
  alerts?:
    | { defaultProvider?: ProviderRef | undefined; clusterName?: string | undefined; retryForMs?: number }
    | undefined;
  isLeader: () => boolean;
  /** At most this many metric queries at once across all Canaries; default 16. */
  maxConcurrentQueries?: number | undefined;
  /** Counts a drift correction (kanaria_drift_corrections_total). */
  driftCorrected?: ((namespace: string, name: string, kind: string) => void) | undefined;
}

/** Where the wiring reads Canaries and MetricTemplates from (filled as the watches are made). */
export interface WatchCaches {
  canaries: Watcher<Canary & KubeObject>[];
  templates: Watcher<KubeObject>[];
}

export function reconcilerWiring(
  options: WiringOptions,
  client: CachedKubeClient,
  caches: WatchCaches,
): { deps: ReconcilerDeps; alertQueue: AlertDeliveryQueue } {
  const { logger } = options;
  const queryLimit = pLimit(options.maxConcurrentQueries ?? 16);
  const lookups = cachedTemplateLookups(kubeLookups(client), caches.templates, options.namespaces);
  const seriesOf = builtinSeries(client, logger);
  const analysisInput = (canary: Canary, resolved: ResolvedCanary): RunChecksInput => ({
    canary,
    resolved,
    defaultMetricsServer: canary.spec.metricsServer ?? options.metricsServer,
    defaultMetricsSigv4: options.metricsSigv4,
    providers: createMetricProvider,
    ...lookups,
    now: () => new Date(),
  });
  // Alerts go out from here, in the background: a reconcile only records them in the status.
  const alertQueue = createDeliveryQueue({
    client,
    logger: logger.child({ component: "alerts" }),
    clusterName: options.alerts?.clusterName,
    ...(options.alerts?.retryForMs !== undefined ? { retryForMs: options.alerts.retryForMs } : {}),
    isLeader: options.isLeader,
  });
  const deps: ReconcilerDeps = {
    client,
    logger,
    now: () => new Date(),
    defaultProvider: options.defaultProvider,
    router: (provider) =>
      createRouter(provider, { client, nginxAnnotationPrefix: options.nginxAnnotationPrefix }),
    runChecks: async (canary, resolved) => {
      const series = await seriesOf(canary, resolved);
      return queryLimit(() => runChecks({ ...analysisInput(canary, resolved), series }));
    },
    offlineProviders: (canary, resolved) =>
      queryLimit(() => offlineProviders(analysisInput(canary, resolved))),
    listCanaries: async (namespace) =>
      caches.canaries.flatMap((w) => w.list()).filter((c) => c.metadata.namespace === namespace),
    ...(options.driftCorrected ? { driftCorrected: options.driftCorrected } : {}),
    ...(options.labelPrefixes ? { labelPrefixes: options.labelPrefixes } : {}),
    alerts: alertHooks(alertQueue, options.alerts?.defaultProvider),
  };
  return { deps, alertQueue };
}

/**
 * MetricTemplates come from the watch cache in the namespaces the controller watches (where the cache
 * is complete); a template in another namespace is read from the API server.
 */
export function cachedTemplateLookups(
  lookups: ReturnType<typeof kubeLookups>,
  watchers: Pick<Watcher<KubeObject>, "get">[],
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

/**
 * Whose series a Canary's built-in metrics read: the implementation serving its route (metrics/series.ts),
 * looked up only when the Canary uses a built-in. Each decision is told once, in a BuiltinMetrics Event,
 * when it is not the router's usual series or the lookup could not decide (a Warning when a read failed).
 */
export function builtinSeries(
  client: KubeClient,
  logger: Logger,
): (canary: Canary, resolved: Pick<ResolvedCanary, "provider" | "metrics">) => Promise<Series | undefined> {
  const resolver = new SeriesResolver(client, async (canary, choice) => {
    const usual = choice.series === ROUTER_SERIES[choice.router];
    if (usual && choice.fallback === undefined) return;
    const message = describeChoice(choice);
    logger.info({ canary: `${canary.metadata.namespace}/${canary.metadata.name}` }, message);
    await client.event({
      regarding: canary as Canary & KubeObject,
      type: choice.failed ? "Warning" : "Normal",
      reason: "BuiltinMetrics",
      message,
    });
  });
  return async (canary, resolved) => {
    const builtins = resolved.metrics.some(
      (m) => !m.templateRef && m.query === undefined && isBuiltinMetric(m.name),
    );
    if (!builtins) return undefined;
    try {
      return (await resolver.choose(canary, resolved.provider))?.series;
    } catch (err) {
      // The lookup catches what it reads; anything else leaves the router's default series.
      logger.warn({ err }, "choosing the built-in metrics' series failed; the router's default is used");
      return undefined;
    }
  };
}
