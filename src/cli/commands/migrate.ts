// `kanaria migrate appmesh-to-gatewayapi PATH...`: moves Canaries off App Mesh onto Gateway API (VPC Lattice).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { type MigratedFile, type MigrateOptions, migrateSource } from "../../migrate/index.ts";
import { formatCanaries, formatNextSteps } from "../../migrate/report.ts";
import { collectFiles, readSources } from "../../validate/load.ts";

interface MigrateFlags {
  gateway?: string;
  gatewayNamespace?: string;
  sectionName?: string;
  includeUnsetProvider?: boolean;
  write?: boolean;
  outDir?: string;
}

const HELP_AFTER = `
Rewrites every Canary with spec.provider appmesh (also Flagger's appmesh:v1beta2) to provider gatewayapi
for Amazon VPC Lattice: service.meshName becomes service.gatewayRefs to a Gateway of the
amazon-vpc-lattice GatewayClass (named after the mesh unless --gateway is given); hosts and timeout are
kept; backends, retries, rewrite and the access log annotation are removed and reported. Only the
changed parts of a file are touched: comments and layout elsewhere stay.

Without --write or --out-dir the converted files are printed (each after a "# Source: FILE" line) and
the report goes to stderr. Every converted Canary is checked against the API schema (as kanaria
validate) and the gatewayapi router's checks.

Exit codes: 0 converted (or nothing to convert), 1 a Canary could not be converted or would not be
accepted, 2 usage or I/O error.`;

async function output(files: MigratedFile[], flags: MigrateFlags, roots: string[]): Promise<void> {
  const changed = files.filter((f) => f.changed);
  if (flags.write) {
    for (const f of changed) await writeFile(f.file, f.text);
    return;
  }
  if (flags.outDir) {
    const base = roots.length === 1 ? resolve(roots[0] as string) : process.cwd();
    for (const f of changed) {
      const rel = relative(base, resolve(f.file));
      const to = join(
        flags.outDir,
        rel === "" || rel.startsWith("..") ? f.file.replace(/^.*[\\/]/, "") : rel,
      );
      await mkdir(dirname(to), { recursive: true });
      await writeFile(to, f.text);
    }
    return;
  }
  for (const f of changed)
    process.stdout.write(`# Source: ${f.file}\n${f.text.endsWith("\n") ? f.text : `${f.text}\n`}`);
}

export function register(program: Command): void {
  const migrate = program
    .command("migrate")
    .description("rewrite Canary manifests from one traffic provider to another");
  migrate
    .command("appmesh-to-gatewayapi")
    .description("move Canaries off App Mesh (provider appmesh) onto Gateway API with Amazon VPC Lattice")
    .argument("<paths...>", "YAML files, or directories searched recursively for *.yaml and *.yml")
    .option(
      "--gateway <name>",
      "Gateway (VPC Lattice service network) to attach to; default: the Canary's service.meshName",
    )
    .option("--gateway-namespace <namespace>", "namespace of the Gateway; default: the Canary's")
    .option("--section-name <listener>", "listener of the Gateway to attach to")
    .option(
      "--include-unset-provider",
      "also convert Canaries without spec.provider (the controller's --provider was appmesh)",
    )
    .option("--write", "rewrite the files in place")
    .option("--out-dir <dir>", "write the converted files under this directory (same relative paths)")
    .addHelpText("after", HELP_AFTER)
    .action(async (paths: string[], flags: MigrateFlags) => {
      if (flags.write && flags.outDir) {
        process.stderr.write("kanaria migrate: --write and --out-dir exclude each other\n");
        process.exitCode = 2;
        return;
      }
      const options: MigrateOptions = {
        ...(flags.gateway && { gateway: flags.gateway }),
        ...(flags.gatewayNamespace && { gatewayNamespace: flags.gatewayNamespace }),
        ...(flags.sectionName && { sectionName: flags.sectionName }),
        includeUnsetProvider: flags.includeUnsetProvider === true,
      };
      const found = await collectFiles(paths);
      const read = await readSources(found.files);
      const ioErrors = [...found.ioErrors, ...read.ioErrors];
      for (const e of ioErrors) process.stderr.write(`kanaria migrate: ${e.path}: ${e.message}\n`);
      const files = read.sources.map((s) => migrateSource(s, options));
      await output(files, flags, paths);
      const report = flags.write || flags.outDir ? process.stdout : process.stderr;
      const canaries = files.flatMap((f) => f.canaries);
      if (canaries.length === 0) report.write("no Canary with provider appmesh found\n");
      report.write(formatCanaries(files));
      const next = formatNextSteps(files);
      if (next) report.write(`\n${next}`);
      const failed =
        canaries.some((c) => c.error !== undefined || c.problems.length > 0) ||
        files.some((f) => f.syntaxErrors.length > 0);
      process.exitCode = ioErrors.length > 0 ? 2 : failed ? 1 : 0;
    });
}
