// The `kanaria` command: one file per subcommand under commands/, each exporting `register`.
import { Command, CommanderError } from "commander";
import { register as registerAbort } from "./commands/abort.ts";
import { register as registerBacktest } from "./commands/backtest.ts";
import { register as registerController } from "./commands/controller.ts";
import { register as registerDashboard } from "./commands/dashboard.ts";
import { register as registerMigrate } from "./commands/migrate.ts";
import { register as registerPromote } from "./commands/promote.ts";
import { register as registerResume } from "./commands/resume.ts";
import { register as registerRetry } from "./commands/retry.ts";
import { register as registerStatus } from "./commands/status.ts";
import { register as registerValidate } from "./commands/validate.ts";
import { version } from "./version.ts";

export function buildProgram(): Command {
  const program = new Command("kanaria")
    .description(
      "Progressive delivery for Kubernetes: canary, blue/green and A/B releases checked by metrics.",
    )
    .version(version(), "-v, --version")
    .showSuggestionAfterError()
    .showHelpAfterError("(run with --help for usage)")
    // Before the subcommands are added: commander copies this setting into each of them.
    .exitOverride();
  registerValidate(program);
  registerController(program);
  registerMigrate(program);
  registerStatus(program);
  registerPromote(program);
  registerAbort(program);
  registerResume(program);
  registerRetry(program);
  registerBacktest(program);
  registerDashboard(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 1, which we map to 2 as documented.
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`kanaria: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}
