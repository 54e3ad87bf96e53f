// A vitest reporter that ends the run's output with one short line per failure. A CI log is often
// read from its tail only, and the default reporter prints each failure's name far above the summary.
import { stripVTControlCharacters } from "node:util";
import type { Reporter, TestModule } from "vitest/node";

interface ErrorLike {
  message?: string;
  name?: string;
  code?: string;
}

/** The first line of an error, without colours, cut to a readable length. */
export function firstLine(error: ErrorLike): string {
  const text = stripVTControlCharacters(error.message || error.name || error.code || "(no message)");
  const line = text.split("\n").find((l) => l.trim() !== "") ?? text;
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

export function failureLines(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<ErrorLike>) {
  const lines: string[] = [];
  for (const module of modules) {
    for (const error of module.errors()) lines.push(`FAILED ${module.relativeModuleId}: ${firstLine(error)}`);
    for (const test of module.children.allTests("failed")) {
      const error = test.result().errors?.[0];
      lines.push(`FAILED ${module.relativeModuleId} > ${test.fullName}: ${error ? firstLine(error) : "?"}`);
    }
  }
  for (const error of unhandled) lines.push(`UNHANDLED ${firstLine(error)}`);
  return lines;
}

export default class FailureSummary implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<ErrorLike>): void {
    const lines = failureLines(modules, unhandled);
    if (lines.length > 0) process.stdout.write(`\n${lines.join("\n")}\n`);
  }
}
