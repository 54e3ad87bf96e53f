/** One finding of `kanaria validate`, positioned at the YAML node it is about. */
export type Severity = "error" | "warning";

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

/** Renders a zod-style path the way people write it in YAML discussions: `a.b[2].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out;
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
