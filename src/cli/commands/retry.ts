import type { Command } from "commander";
import {
  type ClusterFlags,
  clusterOptions,
  connect,
  getCanary,
  refusable,
  writeRequest,
} from "../canaries.ts";

export function register(program: Command): void {
  clusterOptions(
    program.command("retry").argument("<name>", "the Canary").description("analyse a failed revision again"),
  ).action((name: string, flags: ClusterFlags) =>
    refusable(async () => {
      const cluster = connect(flags);
      const canary = await getCanary(cluster, name);
      const revision = await writeRequest(cluster, canary, "retry", ["Failed"]);
      process.stdout.write(`new analysis of ${cluster.namespace}/${name} revision ${revision} requested\n`);
    }),
  );
}
