import { createRequire } from "node:module";
import { type Command, Option } from "commander";
import pino, { type Logger } from "pino";
import { PROVIDERS, type ProviderName } from "../../api/canary.ts";
import { parseDuration } from "../../api/common.ts";
import {
  apiServerLeaseStore,
  type LeaderElectionFlags,
  LeaderElector,
  leaderConfigFromFlags,
  leaderElectionOptions,
} from "../../controller/leader.ts";
import { type RunningController, startController } from "../../controller/manager.ts";
import { loadKubeConfig } from "../../kube/config.ts";
import { parseProviderRef } from "../../notifiers/alerts.ts";
import { ControllerMetrics } from "../../observability/metrics.ts";
import { DEFAULT_BIND_ADDRESS, startObservabilityServer } from "../../observability/server.ts";
import { redactingStream } from "../../security/redact.ts";
import { version } from "../version.ts";

interface ControllerFlags extends LeaderElectionFlags {
  metricsBindAddress: string;
  kubeconfig?: string;
  namespace: string[];
  logLevel: string;
  provider: ProviderName;
  metricsServer?: string;
  nginxAnnotationsPrefix: string;
  workers: string;
  alertProvider?: string;
  clusterName?: string;
  alertRetryTimeout: string;
}

export function register(program: Command): void {
  const command = program
    .command("controller")
    .description("run the kanaria controller against the cluster in KUBECONFIG (or in-cluster config)")
    .option(
      "--kubeconfig <path>",
      "kubeconfig file (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)",
    )
    .addOption(
      new Option("-n, --namespace <name>", "watch only this namespace (repeat, or comma-separated)")
        .argParser((value: string, all: string[]) => [...all, ...value.split(",").filter(Boolean)])
        .default([], "all namespaces"),
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["trace", "debug", "info", "warn", "error"])
        .env("KANARIA_LOG_LEVEL")
        .default("info"),
    )
    .addOption(
      new Option("--provider <name>", "router for Canaries without spec.provider")
        .choices(PROVIDERS)
        .default("kubernetes"),
    )
    .addOption(
      new Option("--metrics-server <url>", "Prometheus for built-in metrics when a Canary names none").env(
        "KANARIA_METRICS_SERVER",
      ),
    )
    .option(
      "--nginx-annotations-prefix <prefix>",
      "ingress-nginx --annotations-prefix",
      "nginx.ingress.kubernetes.io",
    )
    .option("--workers <n>", "Canaries reconciled at the same time", "4")
    .option("--alert-provider <namespace/name>", "AlertProvider for Canaries without analysis.alerts")
    .addOption(
      new Option("--cluster-name <name>", "cluster name shown in every alert").env("KANARIA_CLUSTER_NAME"),
    )
    .option(
      "--alert-retry-timeout <duration>",
      "how long a failed alert is retried before an AlertFailed event",
      "5m",
    )
    .option(
      "--metrics-bind-address <host:port>",
      "where /metrics, /healthz and /readyz are served (port 0: any free port)",
      DEFAULT_BIND_ADDRESS,
    );
  for (const option of leaderElectionOptions()) command.addOption(option);
  command.action(async (flags: ControllerFlags) => {
    const logger = makeLogger(flags.logLevel);
    const workers = Number.parseInt(flags.workers, 10);
    if (!Number.isInteger(workers) || workers < 1)
      throw new Error(`--workers must be a whole number >= 1, got ${flags.workers}`);
    const kubeConfig = loadKubeConfig(flags.kubeconfig);
    const leaderConfig = flags.leaderElect ? leaderConfigFromFlags(flags) : undefined;
    const metrics = new ControllerMetrics(version());
    const server = await startObservabilityServer(flags.metricsBindAddress, metrics.registry, logger);
    let controller: RunningController | undefined;
    // Elected only once the caches are synced, so the new leader's resync sees every Canary.
    const elector =
      leaderConfig &&
      new LeaderElector(
        apiServerLeaseStore(kubeConfig, leaderConfig.namespace, leaderConfig.name),
        leaderConfig,
        { onStartedLeading: () => controller?.resync(), onStoppedLeading: () => {} },
        { logger },
      );
    controller = await startController({
      kubeConfig,
      metrics,
      ...(elector ? { isLeader: () => elector.isLeader() } : {}),
      logger,
      namespaces: flags.namespace,
      defaultProvider: flags.provider,
      ...(flags.metricsServer ? { metricsServer: flags.metricsServer } : {}),
      nginxAnnotationPrefix: flags.nginxAnnotationsPrefix,
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
  });
}

function parseFlagDuration(flag: string, value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new Error(`${flag} must be a duration such as 30s or 5m, got ${JSON.stringify(value)}`);
  }
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
