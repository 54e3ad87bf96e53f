import type { Command } from "commander";
import {
  type ClusterFlags,
  clusterOptions,
  connect,
  getCanary,
  refusable,
  UNDER_WAY,
  writeRequest,
} from "../canaries.ts";

export function register(program: Command): void {
  clusterOptions(
    program
      .command("abort")
      .argument("<name>", "the Canary")
      .description("roll the release under way back now")
      .option("--reason <text>", "why, for the Event"),
  ).action((name: string, flags: ClusterFlags & { reason?: string }) =>
    refusable(async () => {
      const cluster = connect(flags);
      const canary = await getCanary(cluster, name);
      const revision = await writeRequest(cluster, canary, "abort", UNDER_WAY, {
        ...(flags.reason ? { reason: flags.reason } : {}),
      });
      process.stdout.write(`rollback of ${cluster.namespace}/${name} revision ${revision} requested\n`);
    }),
  );
}
