import type { Command } from "commander";
import {
  type ClusterFlags,
  clusterOptions,
  connect,
  getCanary,
  refusable,
  resumeCanary,
} from "../canaries.ts";

export function register(program: Command): void {
  clusterOptions(
    program.command("resume").argument("<name>", "the Canary").description("clear spec.suspend"),
  ).action((name: string, flags: ClusterFlags) =>
    refusable(async () => {
      const cluster = await connect(flags);
      await resumeCanary(cluster, await getCanary(cluster, name));
      process.stdout.write(`${cluster.namespace}/${name} resumed\n`);
    }),
  );
}
