import { spawn } from "node:child_process";
import type { Command } from "commander";
import pino from "pino";
import { CliError, refusable } from "../canaries.ts";

interface DashboardFlags {
  namespace?: string;
  kubeconfig?: string;
  port: string;
  open?: boolean;
  metricsServer?: string;
}

export function register(program: Command): void {
  program
    .command("dashboard")
    .description("watch and steer releases in a browser: a web server on 127.0.0.1 using your kubeconfig")
    .option("-n, --namespace <name>", "only this namespace's Canaries (default: every namespace)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .option("-p, --port <port>", "port on 127.0.0.1 (0: any free port)", "0")
    .option("--open", "open the dashboard in the default browser")
    .option("--metrics-server <url>", "Prometheus for the built-in metrics' history (as the controller's)")
    .action((flags: DashboardFlags) => refusable(() => run(flags)));
}

async function run(flags: DashboardFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`--port must be a port number (0-65535), got ${flags.port}`);
  }
  // Loaded here: the server, the watches and the page never weigh on other commands or the controller.
  const [{ loadConnection }, { createKubeClient }, { startDashboard }] = await Promise.all([
    import("../../kube/connection.ts"),
    import("../../kube/client.ts"),
    import("../../dashboard/server.ts"),
  ]);
  const connection = loadConnection(flags.kubeconfig);
  const logger = pino({ level: "warn" }, pino.destination(2));
  const dashboard = await startDashboard({
    connection,
    cluster: {
      client: createKubeClient(connection, logger),
      namespace: flags.namespace ?? connection.namespace ?? "default",
      user: connection.user ?? "unknown",
    },
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    ...(flags.metricsServer ? { metricsServer: flags.metricsServer } : {}),
    port,
    logger,
  });
  process.stdout.write(
    `kanaria dashboard: ${dashboard.url}\n  (the link carries this session's key; Ctrl-C stops the server)\n`,
  );
  if (flags.open) openBrowser(dashboard.url);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await dashboard.close();
}

/** The platform's "open this URL" command; a failure only means the user opens the printed URL. */
function openBrowser(url: string): void {
  const [command, ...args] =
    process.platform === "darwin"
      ? ["open", url]
      : process.platform === "win32"
        ? ["cmd", "/c", "start", '""', url]
        : ["xdg-open", url];
  const child = spawn(command as string, args, { detached: true, stdio: "ignore" });
  child.on("error", () =>
    process.stderr.write(`kanaria dashboard: could not run ${command}; open the URL above\n`),
  );
  child.unref();
}
