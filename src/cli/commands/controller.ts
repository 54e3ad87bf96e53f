// `kanaria controller`: the flags here; the controller itself (Kubernetes client, AWS SDK, metrics)
// is loaded only when the command runs, so every other command starts without it.
import { type Command, Option } from "commander";
import { PROVIDER_SPELLINGS } from "../../api/canary.ts";
import { DEFAULT_BIND_ADDRESS } from "../../observability/server.ts";
import { sigv4Options } from "../sigv4-flags.ts";
import { type ControllerFlags, leaderElectionOptions } from "./controller-flags.ts";

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
        .choices(PROVIDER_SPELLINGS)
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
    .option(
      "--include-label-prefix <prefixes>",
      "comma-separated prefixes of the target's labels copied to its -primary (and its config copies); * for all but Flux's (Flagger's -include-label-prefix)",
      "",
    )
    .option("--workers <n>", "Canaries reconciled at the same time", "128")
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
  for (const option of sigv4Options()) command.addOption(option);
  for (const option of leaderElectionOptions()) command.addOption(option);
  command.action(async (flags: ControllerFlags) => {
    const { runController } = await import("./controller-run.ts");
    await runController(flags);
  });
}
