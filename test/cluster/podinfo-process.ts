// How the pod runner (pod-runner.ts) turns a podinfo container into a process: its arguments, its env
// and the readiness probe to wait for.
import type { V1Container, V1Probe } from "@kubernetes/client-node";

export interface ProcessPlan {
  args: string[];
  env: Record<string, string>;
  /** Names of env vars set from valueFrom (Secrets, ConfigMaps, fields): the runner does not resolve them. */
  skippedEnv: string[];
  /** An HTTP GET on path when set, else a TCP connect. */
  probe: { host: string; port: number; path?: string };
}

const DEFAULT_PORT = 9898;

/** The value of the last `--name=value` or `--name value` in args. */
function flagValue(args: string[], name: string): string | undefined {
  let value: string | undefined;
  args.forEach((arg, i) => {
    if (arg === `--${name}`) value = args[i + 1];
    else if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3);
  });
  return value;
}

function probePort(probe: V1Probe | undefined, container: V1Container, appPort: number): number {
  const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
  if (typeof port === "number") return port;
  if (typeof port === "string") {
    const named = container.ports?.find((p) => p.name === port)?.containerPort;
    if (named !== undefined) return named;
    if (/^\d+$/.test(port)) return Number(port);
  }
  return appPort;
}

/**
 * The podinfo process for CONTAINER on IP. The image's entrypoint is podinfo, so a `command` whose
 * first word is podinfo (Flagger's manifests say `./podinfo --port=9898 ...`) gives the arguments
 * after it, followed by `args`. Then the runner's own flags, last so they win: the HTTP server binds
 * the pod IP; the metrics server binds every address, so each process gets a METRICS_PORT of its own
 * (Prometheus scrapes it there: on the HTTP port, each scrape would count as a request in the very
 * `http_request_duration_seconds` it reads, and `--random-error`/`--random-delay` would hit the
 * scrapes); the gRPC server (every address too) stays off.
 */
export function podinfoProcess(container: V1Container, ip: string, metricsPort: number): ProcessPlan {
  const command = container.command ?? [];
  const fromCommand = command.length > 0 && /(^|\/)podinfo$/.test(command[0] ?? "") ? command.slice(1) : [];
  const userArgs = [...fromCommand, ...(container.args ?? [])];
  const port = Number(flagValue(userArgs, "port") ?? DEFAULT_PORT);
  const env: Record<string, string> = {};
  const skippedEnv: string[] = [];
  for (const e of container.env ?? []) {
    if (e.valueFrom) skippedEnv.push(e.name);
    else env[e.name] = e.value ?? "";
  }
  const probe = container.readinessProbe;
  const path = probe?.httpGet ? (probe.httpGet.path ?? "/") : undefined;
  return {
    args: [...userArgs, `--host=${ip}`, `--port=${port}`, `--port-metrics=${metricsPort}`, "--grpc-port=0"],
    env,
    skippedEnv,
    probe: { host: ip, port: probePort(probe, container, port), ...(path !== undefined ? { path } : {}) },
  };
}
