import { type Command, Option } from "commander";
import { registerRequest, UNDER_WAY } from "../canaries.ts";

export function register(program: Command): void {
  registerRequest(program, {
    kind: "promote",
    description: "answer yes to the confirm-* webhooks of the revision under analysis (this revision only)",
    allowed: UNDER_WAY,
    options: [
      new Option("--skip-analysis", "promote now, without the rest of the analysis (windows still apply)"),
    ],
    extra: (flags) => (flags.skipAnalysis ? { skipAnalysis: true } : {}),
    done: (ref, revision, flags) =>
      `promotion of ${ref} revision ${revision} requested${flags.skipAnalysis ? " (skipping the analysis)" : ""}`,
  });
}
