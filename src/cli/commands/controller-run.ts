// The body of `kanaria controller` (see controller.ts and controller-flags.ts for its flags): loaded
// only when it runs.
import { createRequire } from "node:module";
import pino, { type Logger } from "pino";
import { routerOf } from "../../api/canary.ts";
import { parseDuration } from "../../api/common.ts";
import { type RunningController, startController } from "../../controller/manager.ts";
import { loadConnection } from "../../kube/connection.ts";
import {
  apiServerLeaseStore,
  defaultIdentity,
  defaultLeaseNamespace,
  type LeaderElectionConfig,
  LeaderElector,
  validateLeaderConfig,
} from "../../kube/leader.ts";
import { parseProviderRef } from "../../notifiers/alerts.ts";
import { ControllerMetrics } from "../../observability/metrics.ts";
import { startObservabilityServer } from "../../observability/server.ts";
import { redactingStream } from "../../security/redact.ts";
import { parseLabelPrefixes } from "../../workloads/label-prefix.ts";
import { sigv4FromFlags } from "../sigv4-flags.ts";
import { version } from "../version.ts";
import type { ControllerFlags, LeaderElectionFlags } from "./controller-flags.ts";

export async function runController(flags: ControllerFlags): Promise<void> {
  const logger = makeLogger(flags.logLevel);
  const workers = Number.parseInt(flags.workers, 10);
  if (!Number.isInteger(workers) || workers < 1)
    throw new Error(`--workers must be a whole number >= 1, got ${flags.workers}`);
  const metricsSigv4 = sigv4FromFlags(flags);
  const connection = loadConnection(flags.kubeconfig);
  const leaderConfig = flags.leaderElect ? leaderConfigFromFlags(flags) : undefined;
  const metrics = new ControllerMetrics(version());
  const server = await startObservabilityServer(flags.metricsBindAddress, metrics.registry, logger);
  let controller: RunningController | undefined;
  // Elected only once the caches are synced, so the new leader's resync sees every Canary.
  const elector =
    leaderConfig &&
    new LeaderElector(
      apiServerLeaseStore(connection, leaderConfig.namespace, leaderConfig.name),
      leaderConfig,
      { onStartedLeading: () => controller?.resync(), onStoppedLeading: () => {} },
      { logger },
    );
  controller = await startController({
    connection,
    metrics,
    ...(elector ? { isLeader: () => elector.isLeader() } : {}),
    logger,
    namespaces: flags.namespace,
    // Flagger's -mesh-provider spellings (gatewayapi:v1, as its Helm chart sets) name the router they run.
    defaultProvider: routerOf(flags.provider),
    ...(flags.metricsServer ? { metricsServer: flags.metricsServer } : {}),
    ...(metricsSigv4 ? { metricsSigv4 } : {}),
    nginxAnnotationPrefix: flags.nginxAnnotationsPrefix,
    labelPrefixes: parseLabelPrefixes(flags.includeLabelPrefix),
    workers,
    alerts: {
      defaultProvider: flags.alertProvider ? parseProviderRef(flags.alertProvider) : undefined,
      clusterName: flags.clusterName,
      retryForMs: parseFlagDuration("--alert-retry-timeout", flags.alertRetryTimeout),
    },
  });
  server.setReady(true);
  elector?.start();
  await untilSignal(logger);
  server.setReady(false);
  await controller.stop();
  // Only after the last reconcile: the next leader must not overlap with this one.
  await elector?.stop();
  await server.close();
}

function parseFlagDuration(flag: string, value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new Error(`${flag} must be a duration such as 30s or 5m, got ${JSON.stringify(value)}`);
  }
}

export function leaderConfigFromFlags(flags: LeaderElectionFlags): LeaderElectionConfig {
  const duration = (flag: string, value: string) => {
    try {
      return parseDuration(value);
    } catch (err) {
      throw new Error(`--${flag}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const config: LeaderElectionConfig = {
    namespace: flags.leaderElectionNamespace || defaultLeaseNamespace("kanaria-system"),
    name: flags.leaderElectionId,
    identity: defaultIdentity(),
    leaseDurationMs: duration("leader-election-lease-duration", flags.leaderElectionLeaseDuration),
    renewDeadlineMs: duration("leader-election-renew-deadline", flags.leaderElectionRenewDeadline),
    retryPeriodMs: duration("leader-election-retry-period", flags.leaderElectionRetryPeriod),
  };
  validateLeaderConfig(config);
  return config;
}

/** JSON logs, pretty on a terminal (pino-pretty is a dev tool: fall back to JSON where it is absent). */
function makeLogger(level: string): Logger {
  // Every line passes the redaction helper before it is written, pretty or not.
  if (process.stdout.isTTY) {
    try {
      const pretty = createRequire(import.meta.url)("pino-pretty") as (o: object) => NodeJS.WritableStream;
      return pino({ level }, redactingStream(pretty({ colorize: true })));
    } catch {
      // pino-pretty not installed: plain JSON below.
    }
  }
  return pino({ level }, redactingStream(process.stdout));
}

function untilSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, "shutting down: finishing in-flight reconciles");
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
