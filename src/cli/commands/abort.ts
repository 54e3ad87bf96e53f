import { type Command, Option } from "commander";
import { registerRequest, UNDER_WAY } from "../canaries.ts";

export function register(program: Command): void {
  registerRequest(program, {
    kind: "abort",
    description: "roll the release under way back now",
    allowed: UNDER_WAY,
    options: [new Option("--reason <text>", "why, for the Event")],
    extra: (flags) => (typeof flags.reason === "string" ? { reason: flags.reason } : {}),
    done: (ref, revision) => `rollback of ${ref} revision ${revision} requested`,
  });
}
