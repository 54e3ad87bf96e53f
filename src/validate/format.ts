/** Output of `kanaria validate`: one line per problem for people and CI annotations, or JSON for tools. */

import type { ValidateResult } from "./index.ts";
import type { Problem } from "./problem.ts";

/** `FILE:LINE:COL: SEVERITY: KIND/NAME: FIELD.PATH: message`. The object and path parts are left out
 * when there is none (a YAML syntax error belongs to no object), so the line still matches the usual
 * `file:line:col: severity: message` problem matchers. */
export function formatProblem(p: Problem): string {
  const parts = [`${p.file}:${p.line}:${p.column}`, p.severity];
  if (p.kind !== null) parts.push(`${p.kind}/${p.name ?? "<unnamed>"}`);
  if (p.path !== "") parts.push(p.path);
  parts.push(p.message);
  return parts.join(": ");
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** e.g. `3 files, 5 kanaria objects: 2 errors, 1 warning`. */
export function formatSummary(r: ValidateResult): string {
  return `${count(r.files, "file")}, ${count(r.objects, "kanaria object")}: ${count(r.errors, "error")}, ${count(r.warnings, "warning")}`;
}

export function formatText(r: ValidateResult, opts: { quiet?: boolean } = {}): string {
  const lines = r.problems.map(formatProblem);
  if (opts.quiet !== true) lines.push(formatSummary(r));
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

export function formatJson(r: ValidateResult): string {
  const problems = r.problems.map((p) => ({
    file: p.file,
    line: p.line,
    column: p.column,
    severity: p.severity,
    kind: p.kind,
    name: p.name,
    namespace: p.namespace,
    path: p.path,
    message: p.message,
  }));
  const summary = {
    files: r.files,
    objects: r.objects,
    errors: r.errors,
    warnings: r.warnings,
    ioErrors: r.ioErrors,
  };
  return `${JSON.stringify({ problems, summary }, null, 2)}\n`;
}
