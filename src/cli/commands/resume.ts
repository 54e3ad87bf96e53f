import type { Command } from "commander";
import { API_VERSION } from "../../api/common.ts";
import { CliError, type ClusterFlags, clusterOptions, connect, getCanary, refusable } from "../canaries.ts";

export function register(program: Command): void {
  clusterOptions(
    program.command("resume").argument("<name>", "the Canary").description("clear spec.suspend"),
  ).action((name: string, flags: ClusterFlags) =>
    refusable(async () => {
      const cluster = await connect(flags);
      const canary = await getCanary(cluster, name);
      if (canary.spec.suspend !== true)
        throw new CliError(`Canary ${cluster.namespace}/${name} is not suspended`);
      // null removes the field (JSON merge patch), as if it had never been set.
      await cluster.client.mergePatch(
        { apiVersion: API_VERSION, kind: "Canary", namespace: cluster.namespace, name },
        { spec: { suspend: null } },
      );
      process.stdout.write(`${cluster.namespace}/${name} resumed\n`);
    }),
  );
}
