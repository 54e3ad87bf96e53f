// CLI of the traffic simulator, e.g.
//   node test/simulator/main.ts --kubeconfig .kanaria/cluster/kubeconfig --namespace test \
//     --target podinfo --rps 50 --profiles test/simulator/profiles.example.json \
//     --prometheus-targets-dir .kanaria/cluster/prometheus/targets
// Prints the metrics URL on stdout and runs until SIGINT/SIGTERM.
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadSimulatorConfig, type Profile, parseSimulatorConfig, type SimulatorConfig } from "./profiles.ts";
import { startSimulator } from "./simulator.ts";

const USAGE = `usage: node test/simulator/main.ts --namespace N --target NAME [options]

  --kubeconfig FILE              default $KUBECONFIG
  --namespace N                  namespace of the Deployments and Ingresses (required)
  --target NAME                  canary Deployment; the primary is NAME-primary (required)
  --router nginx|gatewayapi|appmesh  where the split is read from (default nginx: the canary Ingress;
                                 appmesh: the VirtualRouter named like --service)
  --ingress NAME                 main Ingress; the canary one is NAME-canary (default: target)
  --route NAME                   HTTPRoute of the gatewayapi router (default: service)
  --service NAME                 backend service of the main Ingress (default: target)
  --rps N                        requests per second, 0 = none (default: config's rps, else 10)
  --profiles FILE                JSON/YAML: {rps?, headerShare?, profiles: {IMAGE: PROFILE}, default?}
  --profile IMAGE=SR,P50,P99     a profile on the command line (success rate 0..1, latency ms); repeatable
  --default-profile SR,P50,P99   profile of images without one
  --header-share X               share (0..1) of requests carrying the canary header/cookie
  --seed N                       PRNG seed (default 1)
  --port N                       port on 127.0.0.1, 0 = pick a free one (default 0)
  --port-file FILE               also write the chosen port there
  --prometheus-targets-dir DIR   write a Prometheus file_sd file there (removed on exit)
  --cloudwatch-endpoint URL      push RequestCount/ErrorCount/LatencyP99 there every 5 s
  --cloudwatch-namespace NS      default Kanaria/Simulator
`;

const OPTIONS = {
  kubeconfig: { type: "string" },
  namespace: { type: "string" },
  target: { type: "string" },
  router: { type: "string" },
  ingress: { type: "string" },
  route: { type: "string" },
  service: { type: "string" },
  rps: { type: "string" },
  profiles: { type: "string" },
  profile: { type: "string", multiple: true },
  "default-profile": { type: "string" },
  "header-share": { type: "string" },
  seed: { type: "string" },
  port: { type: "string" },
  "port-file": { type: "string" },
  "prometheus-targets-dir": { type: "string" },
  "cloudwatch-endpoint": { type: "string" },
  "cloudwatch-namespace": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) fail(`--${flag} must be a number, got "${value}"`);
  return n;
}

/** "SR,P50,P99" -> a profile; buildConfig validates it with the config schema. */
function profileArg(flag: string, value: string): Profile {
  const [successRate, p50, p99, extra] = value.split(",").map((v) => number(flag, v));
  if (successRate === undefined || p50 === undefined || p99 === undefined || extra !== undefined) {
    fail(`--${flag} takes SUCCESS_RATE,P50_MS,P99_MS, got "${value}"`);
  }
  return { successRate, latencyMs: { p50, p99 } };
}

function buildConfig(values: ReturnType<typeof parse>): SimulatorConfig {
  const config = values.profiles ? loadSimulatorConfig(values.profiles) : { profiles: {} };
  const profiles = { ...config.profiles };
  for (const arg of values.profile ?? []) {
    const eq = arg.lastIndexOf("=");
    if (eq <= 0) fail(`--profile takes IMAGE=SUCCESS_RATE,P50_MS,P99_MS, got "${arg}"`);
    profiles[arg.slice(0, eq)] = profileArg("profile", arg.slice(eq + 1));
  }
  const merged = {
    ...config,
    profiles,
    default: values["default-profile"]
      ? profileArg("default-profile", values["default-profile"])
      : config.default,
    headerShare: number("header-share", values["header-share"]) ?? config.headerShare,
  };
  // Through the schema again, so command-line profiles get the same checks as file ones.
  return parseSimulatorConfig(JSON.stringify(merged), "command line");
}

function parse() {
  try {
    return parseArgs({ options: OPTIONS, strict: true }).values;
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

async function main(): Promise<void> {
  const values = parse();
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!values.namespace || !values.target) fail("--namespace and --target are required");
  if (
    values.router !== undefined &&
    values.router !== "nginx" &&
    values.router !== "gatewayapi" &&
    values.router !== "appmesh"
  ) {
    fail(`--router must be nginx, gatewayapi or appmesh, got "${values.router}"`);
  }
  const cloudwatchEndpoint = values["cloudwatch-endpoint"];
  const simulator = await startSimulator({
    kubeconfig: values.kubeconfig,
    namespace: values.namespace,
    target: values.target,
    router: values.router,
    ingress: values.ingress,
    route: values.route,
    service: values.service,
    rps: number("rps", values.rps),
    config: buildConfig(values),
    seed: number("seed", values.seed),
    port: number("port", values.port),
    prometheusTargetsDir: values["prometheus-targets-dir"],
    cloudwatch: cloudwatchEndpoint
      ? { endpoint: cloudwatchEndpoint, namespace: values["cloudwatch-namespace"] }
      : undefined,
  });
  if (values["port-file"]) writeFileSync(values["port-file"], `${simulator.port}\n`);
  process.stdout.write(`${simulator.url}\n`);

  const shutdown = (signal: NodeJS.Signals): void => {
    process.stderr.write(`[simulator] ${signal}: stopping\n`);
    simulator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`[simulator] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
