import type { Command } from "commander";
import { registerRequest } from "../canaries.ts";

export function register(program: Command): void {
  registerRequest(program, {
    kind: "retry",
    description: "analyse a failed revision again",
    allowed: ["Failed"],
    done: (ref, revision) => `new analysis of ${ref} revision ${revision} requested`,
  });
}
