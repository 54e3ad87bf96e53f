// `kanaria backtest FILE...`: how a Canary's metric thresholds would have behaved on history.
import { writeFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import pino from "pino";
import {
  type Canary,
  PROVIDERS,
  type ProviderName,
  type ProviderSpelling,
  routerOf,
} from "../../api/canary.ts";
import { formatJson, formatTable } from "../../backtest/format.ts";
import { backtest, DEFAULT_FALSE_FAILURE_RATE } from "../../backtest/run.ts";
import { fromCluster, fromFiles } from "../../backtest/sources.ts";
import { parseSpan, parseTime, type Span } from "../../backtest/time.ts";
import type { KubeClient } from "../../kube/types.ts";
import { SERIES, type Series } from "../../metrics/builtin.ts";
import { createMetricProvider } from "../../metrics/factory.ts";
import { type Sigv4Flags, sigv4FromFlags, sigv4Options } from "../sigv4-flags.ts";

interface BacktestFlags extends Sigv4Flags {
  canary?: string;
  from: string;
  to: string;
  fromCluster?: boolean;
  kubeconfig?: string;
  target?: string;
  metricsServer?: string;
  provider: ProviderName;
  series?: Series;
  falseFailureRate: string;
  exclude: string[];
  includeIncident: string[];
  output: "table" | "json";
  plot?: string;
}

const HELP_AFTER = `
Each metric is replayed as the controller runs it: one window per analysis interval, the same
MetricTemplate or built-in query, {{ target }} the primary (<target>-primary) unless --target says
otherwise. Prometheus is read with query_range (step = the analysis interval), CloudWatch with
GetMetricData over the range. Times: ISO 8601, Unix seconds, now, or now-7d. Spans: FROM/TO.

Exit codes: 0 report written, 1 a metric could not be replayed, 2 usage or input errors.`;

const repeat = (value: string, all: string[]) => [...all, value];

export function register(program: Command): void {
  const command = program
    .command("backtest")
    .description(
      "replay a Canary's metrics over history: failed windows, false rollbacks, suggested thresholds",
    )
    .argument("[paths...]", "YAML files or directories with the Canary and its MetricTemplates")
    .option("--canary <name>", "the Canary (NAME or NAMESPACE/NAME) when the files hold several")
    .requiredOption("--from <time>", "start of the history, e.g. now-7d or 2026-11-24T00:00:00Z")
    .option("--to <time>", "end of the history", "now")
    .option("--from-cluster", "read the Canary, MetricTemplates and Secrets from the cluster")
    .option("--kubeconfig <path>", "kubeconfig for --from-cluster")
    .option("--target <name>", "value of {{ target }} (default: <target>-primary)")
    .option(
      "--metrics-server <url>",
      "Prometheus for built-in metrics when the Canary names none",
      process.env.KANARIA_METRICS_SERVER,
    )
    .addOption(
      new Option("--provider <name>", "router for a Canary without spec.provider")
        .choices(PROVIDERS)
        .default("kubernetes"),
    )
    .addOption(
      new Option(
        "--series <implementation>",
        "whose series the built-in metrics read (default: the router's; with --from-cluster, those of the implementation serving the route)",
      ).choices(SERIES),
    )
    .option(
      "--false-failure-rate <share>",
      "share of healthy windows a suggested threshold may fail",
      String(DEFAULT_FALSE_FAILURE_RATE),
    )
    .option(
      "--exclude <from/to>",
      "a known incident to leave out (repeat for several)",
      repeat,
      [] as string[],
    )
    .option(
      "--include-incident <from/to>",
      "an incident the thresholds should catch (repeat for several)",
      repeat,
      [] as string[],
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"),
    )
    .option("--plot <file.svg>", "also draw each metric with its thresholds to an SVG file")
    .addHelpText("after", HELP_AFTER);
  for (const option of sigv4Options()) command.addOption(option);
  command.action(async (paths: string[], flags: BacktestFlags) => {
    const now = new Date();
    const rate = Number(flags.falseFailureRate);
    if (!(rate > 0 && rate < 1)) {
      throw new Error(
        `--false-failure-rate must be a share between 0 and 1, e.g. 0.005; got ${flags.falseFailureRate}`,
      );
    }
    const spans = (list: string[], flag: string): Span[] => list.map((s) => parseSpan(s, now, flag));
    const from = parseTime(flags.from, now);
    const to = parseTime(flags.to, now);
    if (from.getTime() >= to.getTime()) throw new Error("--from must be before --to");
    if (!flags.fromCluster && paths.length === 0)
      throw new Error("name the manifest files, or use --from-cluster");
    const metricsSigv4 = sigv4FromFlags(flags);
    const client = flags.fromCluster ? await clusterClient(flags.kubeconfig) : undefined;
    const sources = client ? await fromCluster(client, flags.canary) : await fromFiles(paths, flags.canary);
    const progress = (line: string) => process.stderr.write(`kanaria backtest: ${line}\n`);
    const series =
      flags.series ?? (client && (await clusterSeries(client, sources.canary, flags.provider, progress)));
    const report = await backtest({
      ...sources,
      providers: createMetricProvider,
      defaultProvider: flags.provider,
      ...(flags.metricsServer ? { metricsServer: flags.metricsServer } : {}),
      metricsSigv4,
      from,
      to,
      ...(flags.target ? { target: flags.target } : {}),
      falseFailureRate: rate,
      exclude: spans(flags.exclude, "--exclude"),
      incidents: spans(flags.includeIncident, "--include-incident"),
      ...(series ? { series } : {}),
      progress,
    });
    process.stdout.write(flags.output === "json" ? formatJson(report) : formatTable(report));
    if (flags.plot) {
      // Vega is large: loaded only when a plot is asked for, so every other command starts fast.
      const { renderPlot } = await import("../../backtest/plot.ts");
      await writeFile(flags.plot, await renderPlot(report));
      process.stderr.write(`kanaria backtest: plot written to ${flags.plot}\n`);
    }
    process.exitCode = report.metrics.some((m) => m.error) ? 1 : 0;
  });
}

/** As the controller chooses them: from the GatewayClass or IngressClass of the Canary's route; says which. */
async function clusterSeries(
  client: KubeClient,
  canary: Pick<Canary, "metadata" | "spec">,
  defaultProvider: ProviderName,
  progress: (line: string) => void,
): Promise<Series | undefined> {
  const { SeriesResolver, describeChoice } = await import("../../metrics/series.ts");
  const router = routerOf((canary.spec.provider ?? defaultProvider) as ProviderSpelling);
  const resolver = new SeriesResolver(client, async (_canary, choice) => progress(describeChoice(choice)));
  return (await resolver.choose(canary as Canary, router))?.series;
}

/** The Kubernetes client is loaded only for --from-cluster: file-based backtests start without it. */
async function clusterClient(kubeconfig: string | undefined): Promise<KubeClient> {
  const [{ loadConnection }, { createKubeClient }] = await Promise.all([
    import("../../kube/connection.ts"),
    import("../../kube/client.ts"),
  ]);
  return createKubeClient(loadConnection(kubeconfig), pino({ level: "warn" }));
}
