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
      .command("promote")
      .argument("<name>", "the Canary")
      .description("answer yes to the confirm-* webhooks of the revision under analysis (this revision only)")
      .option("--skip-analysis", "promote now, without the rest of the analysis (windows still apply)"),
  ).action((name: string, flags: ClusterFlags & { skipAnalysis?: boolean }) =>
    refusable(async () => {
      const cluster = connect(flags);
      const canary = await getCanary(cluster, name);
      const revision = await writeRequest(cluster, canary, "promote", UNDER_WAY, {
        ...(flags.skipAnalysis ? { skipAnalysis: true } : {}),
      });
      process.stdout.write(
        `promotion of ${cluster.namespace}/${name} revision ${revision} requested${flags.skipAnalysis ? " (skipping the analysis)" : ""}\n`,
      );
    }),
  );
}
