/** Maps a field path of a parsed object back to the line and column of its YAML node. */
import { type Document, isAlias, isMap, isScalar, isSeq, type Node } from "yaml";
import type { Lines, Manifest } from "./manifest.ts";
import { formatPath, type Problem, type Severity } from "./problem.ts";

export interface Position {
  line: number;
  column: number;
}

/** What a path should point at: the value (type errors), or the key (unknown fields). */
export type Target = "value" | "key";

interface Step {
  /** The key scalar that introduced the node, when it was reached through a mapping. */
  key: Node | undefined;
  node: Node | undefined;
}

function childOf(doc: Document, node: Node | undefined, seg: PropertyKey): Step | undefined {
  const resolved = isAlias(node) ? node.resolve(doc) : node;
  if (isMap(resolved)) {
    const pair = resolved.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
    return pair ? { key: pair.key as Node, node: (pair.value ?? undefined) as Node | undefined } : undefined;
  }
  if (isSeq(resolved) && typeof seg === "number") {
    const item = resolved.items[seg] as Node | undefined;
    return item === undefined ? undefined : { key: undefined, node: item };
  }
  return undefined;
}

/** Offset of the node a path points at. A path that runs into a missing field points at the nearest
 * existing parent, preferring the parent's key (`service:`) over its first child, which is where a
 * reader looks to add the field. An empty value (`port:`) has no node of its own, so its key is used. */
function offsetOf(doc: Document, path: readonly PropertyKey[], target: Target): number {
  const root = (doc.contents ?? undefined) as Node | undefined;
  let current: Step = { key: undefined, node: root };
  for (const seg of path) {
    const next = childOf(doc, current.node, seg);
    if (next === undefined) return startOf(current.key ?? current.node) ?? doc.range?.[0] ?? 0;
    current = next;
  }
  // A mapping or list as a whole (a cross-field rule on thresholdRange) is shown at its key, the line
  // that names it, rather than at its first entry.
  const wholeCollection = isMap(current.node) || isSeq(current.node);
  // `port:` with nothing after it parses to a zero-length null scalar at the end of the line.
  const empty = isScalar(current.node) && current.node.range?.[0] === current.node.range?.[2];
  const preferred =
    target === "key" || wholeCollection || empty
      ? (current.key ?? current.node)
      : (current.node ?? current.key);
  return startOf(preferred) ?? doc.range?.[0] ?? 0;
}

function startOf(node: Node | undefined): number | undefined {
  return node?.range?.[0];
}

export function locate(
  doc: Document,
  lines: Lines,
  path: readonly PropertyKey[],
  target: Target = "value",
): Position {
  const { line, col } = lines.linePos(offsetOf(doc, path, target));
  return { line, column: col };
}

/** A problem about one field of a manifest, positioned at that field's node. */
export function problemAt(
  m: Manifest,
  path: readonly PropertyKey[],
  severity: Severity,
  message: string,
  target: Target = "value",
): Problem {
  const { line, column } = locate(m.doc, m.lines, path, target);
  return {
    file: m.file,
    line,
    column,
    severity,
    kind: m.kind ?? null,
    name: m.name ?? null,
    namespace: m.namespace ?? null,
    path: formatPath(path),
    message,
  };
}
