/** Output of `kanaria validate`: one line per problem for people and CI annotations, or JSON for tools. */

import type { ValidateResult } from "./index.ts";
import { type Problem, shorten } from "./problem.ts";

/** `FILE:LINE:COL: SEVERITY: KIND/NAME: FIELD.PATH: message`. The object and path parts are left out
 * when there is none (a YAML syntax error belongs to no object), so the line still matches the usual
 * `file:line:col: severity: message` problem matchers. */
export function formatProblem(problem: Problem): string {
  const p = bounded(problem);
  const parts = [`${escapeText(p.file)}:${p.line}:${p.column}`, p.severity];
  if (p.kind !== null)
    parts.push(`${escapeText(p.kind)}/${p.name === null ? "<unnamed>" : escapeText(p.name)}`);
  if (p.path !== "") parts.push(escapeText(p.path));
  parts.push(escapeText(p.message));
  return parts.join(": ");
}

/** Limits for what input text a problem repeats; a Kubernetes name is at most 253 characters. */
const MAX = { file: 400, kind: 63, name: 253, message: 1000 } as const;

/** The problem with input-derived text cut to size: a 10 MB name is not echoed whole. */
function bounded(p: Problem): Problem {
  return {
    ...p,
    file: shorten(p.file, MAX.file),
    kind: p.kind === null ? null : shorten(p.kind, MAX.kind),
    name: p.name === null ? null : shorten(p.name, MAX.name),
    namespace: p.namespace === null ? null : shorten(p.namespace, MAX.name),
    message: shorten(p.message, MAX.message),
  };
}

/**
 * Input text in a line of output: control characters (CR, LF, NUL, ESC...), invisible and
 * direction-changing characters, and lone UTF-16 surrogates (which a terminal would show as U+FFFD, not
 * as what the file holds) are written as escapes, so one problem is always one line and what it shows
 * is what the file holds.
 */
export function escapeText(text: string): string {
  return text.replace(
    // With the u flag a surrogate range matches only unpaired surrogates; pairs are one code point.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ufffd\ud800-\udfff]/gu,
    (c) => {
      const code = c.charCodeAt(0);
      if (c === "\n") return "\\n";
      if (c === "\r") return "\\r";
      if (c === "\t") return "\\t";
      return code <= 0xff
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : `\\u${code.toString(16).padStart(4, "0")}`;
    },
  );
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** e.g. `3 files, 5 kanaria objects: 2 errors, 1 warning`. */
export function formatSummary(r: ValidateResult): string {
  const notes = r.notes > 0 ? `, ${count(r.notes, "note")}` : "";
  return `${count(r.files, "file")}, ${count(r.objects, "kanaria object")}: ${count(r.errors, "error")}, ${count(r.warnings, "warning")}${notes}`;
}

export function formatText(r: ValidateResult, opts: { quiet?: boolean } = {}): string {
  const lines = r.problems.map(formatProblem);
  if (r.omitted > 0)
    lines.push(
      `... and ${count(r.omitted, "more problem")}, not listed (kanaria validate lists the first ${r.problems.length})`,
    );
  if (opts.quiet !== true) lines.push(formatSummary(r));
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

export function formatJson(r: ValidateResult): string {
  const problems = r.problems.map(bounded).map((p) => ({
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
    ...(r.notes > 0 ? { notes: r.notes } : {}),
    ...(r.omitted > 0 ? { omitted: r.omitted } : {}),
    ioErrors: r.ioErrors,
  };
  return `${JSON.stringify({ problems, summary }, null, 2)}\n`;
}
