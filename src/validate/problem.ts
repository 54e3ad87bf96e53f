/** One finding of `kanaria validate`, positioned at the YAML node it is about. */
/** A note says what kanaria makes of a valid field (e.g. which router a Flagger spelling runs); it never fails. */
export type Severity = "error" | "warning" | "note";

export interface Problem {
  file: string;
  /** 1-based line and column of the offending node (for a missing field: of its parent). */
  line: number;
  column: number;
  severity: Severity;
  /** Kind and name of the object the problem is about; null for file-level problems such as YAML syntax. */
  kind: string | null;
  name: string | null;
  namespace: string | null;
  /** Field path inside the object, e.g. `spec.analysis.metrics[2].thresholdRange`; empty for the whole object. */
  path: string;
  message: string;
}

/** A key shown bare in a path; anything else (dots, slashes, spaces, control characters) is quoted. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;
/** Keys and paths longer than this are cut in the middle: a path is for finding the field, not a copy. */
const MAX_KEY = 64;
const MAX_PATH = 200;

/**
 * Renders a zod-style path the way people write it in YAML discussions: `a.b[2].c`, with keys that are
 * not plain words quoted (`metadata.labels["app.kubernetes.io/name"]`), so every path reads one way.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (PLAIN_KEY.test(String(seg)) && String(seg).length <= MAX_KEY)
      out += out === "" ? String(seg) : `.${String(seg)}`;
    else out += `[${JSON.stringify(shorten(String(seg), MAX_KEY))}]`;
  }
  return shorten(out, MAX_PATH);
}

/** The text cut to at most max characters, keeping both ends: `abc…(1234 more)…xyz`. */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const keep = Math.max(2, Math.floor((max - 20) / 2));
  return `${text.slice(0, keep)}…(${text.length - 2 * keep} more)…${text.slice(-keep)}`;
}

/** Problems in reading order: by file (in the order files were read), then line, then column. */
export function sortProblems(problems: Problem[], fileOrder: readonly string[]): Problem[] {
  const rank = new Map(fileOrder.map((f, i) => [f, i]));
  return [...problems].sort(
    (a, b) =>
      (rank.get(a.file) ?? Number.MAX_SAFE_INTEGER) - (rank.get(b.file) ?? Number.MAX_SAFE_INTEGER) ||
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.column - b.column,
  );
}
