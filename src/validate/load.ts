/** Finding manifest files and parsing them into documents that remember where each node came from. */
import type { Dirent } from "node:fs";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import {
  Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit as visitYaml,
} from "yaml";
import { type Decoded, decode } from "./decode.ts";
import { fileTooLarge, tooDeepMessage, tooManyMessage } from "./limits.ts";
import { locate } from "./locate.ts";
import type { Lines, Manifest } from "./manifest.ts";
import type { Problem } from "./problem.ts";
import { type ScannedDocument, type Span, scan } from "./scan.ts";

export type { Manifest } from "./manifest.ts";

export interface IoError {
  path: string;
  message: string;
}

export interface SourceFile {
  /** The path as shown in problems: the argument joined with the path found below it. */
  file: string;
  text: string;
  /** Size on disk when the file was too large to read (text is then empty). */
  bytes?: number;
  /** Why the file's bytes were not decoded (an encoding kubectl would garble); text is then empty. */
  unreadable?: Exclude<Decoded, { text: string }>;
}

const YAML_FILE = /\.ya?ml$/i;

export function errorText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return err instanceof Error ? err.message : String(err);
}

/** Directories a GitOps repository holds that are not manifests: VCS and tool state, dependencies, and a
 * Helm chart's templates (Go templates, not YAML until rendered). */
function skipDir(entry: Dirent, siblings: readonly Dirent[]): boolean {
  if (entry.name.startsWith(".") || entry.name === "node_modules") return true;
  return entry.name === "templates" && siblings.some((s) => s.isFile() && s.name === "Chart.yaml");
}

interface Walk {
  files: string[];
  ioErrors: IoError[];
  /** Real paths of directories and files already seen: symlink loops and repeated arguments. */
  seen: Set<string>;
  /** Absolute paths of kustomize patches found while walking. */
  patches: Set<string>;
}

const KUSTOMIZATION = new Set(["kustomization.yaml", "kustomization.yml", "Kustomization"]);

/** Files a kustomization applies as patches: partial objects (a Canary patch may hold only
 * spec.analysis.threshold), so validating them as whole objects would report bogus missing fields. */
async function kustomizePatches(dir: string, file: string): Promise<string[]> {
  let doc: unknown;
  try {
    doc = parseDocument(await readFile(join(dir, file), "utf8")).toJS();
  } catch {
    return []; // an unreadable or broken kustomization is reported when it is validated as a file
  }
  const fields = (doc ?? {}) as { patchesStrategicMerge?: unknown; patches?: unknown };
  const paths = [
    ...(Array.isArray(fields.patchesStrategicMerge) ? fields.patchesStrategicMerge : []),
    ...(Array.isArray(fields.patches)
      ? fields.patches.map((p: unknown) => (p as { path?: unknown } | null)?.path)
      : []),
  ];
  return paths.filter((p): p is string => typeof p === "string").map((p) => resolve(dir, p));
}

async function walkDir(dir: string, walk: Walk): Promise<void> {
  let entries: Dirent[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  } catch (err) {
    walk.ioErrors.push({ path: dir, message: errorText(err) });
    return;
  }
  for (const entry of entries.filter((e) => KUSTOMIZATION.has(e.name))) {
    for (const patch of await kustomizePatches(dir, entry.name)) walk.patches.add(patch);
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    // A symlink is followed to what it points at; a dangling one is skipped like any non-YAML entry.
    const isDir =
      entry.isDirectory() ||
      (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isDirectory());
    if (isDir) {
      if (!skipDir(entry, entries)) await visit(path, true, walk);
    } else if (YAML_FILE.test(entry.name)) {
      await visit(path, false, walk);
    }
  }
}

async function visit(path: string, isDir: boolean, walk: Walk): Promise<void> {
  const real = await realpath(path).catch(() => path);
  if (walk.seen.has(real)) return;
  walk.seen.add(real);
  if (isDir) await walkDir(path, walk);
  else walk.files.push(path);
}

/** Expands the arguments: files are taken as given (any extension), directories are searched
 * recursively for .yaml and .yml files, skipping dot-directories, node_modules, Helm templates and the
 * patches that kustomizations list (unless a patch is named as an argument itself). */
export async function collectFiles(
  paths: readonly string[],
): Promise<{ files: string[]; ioErrors: IoError[] }> {
  const walk: Walk = { files: [], ioErrors: [], seen: new Set(), patches: new Set() };
  const explicit = new Set<string>();
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (err) {
      walk.ioErrors.push({ path, message: errorText(err) });
      continue;
    }
    if (!isDir) explicit.add(resolve(path));
    await visit(path, isDir, walk);
  }
  const files = walk.files.filter((f) => explicit.has(resolve(f)) || !walk.patches.has(resolve(f)));
  return { files, ioErrors: walk.ioErrors };
}

/** One file, decoded as kubectl decodes it; a file too large or in an encoding kubectl would garble is
 * a source with a problem instead of text. */
export async function readSource(file: string): Promise<SourceFile> {
  // A file over the limit is not read at all: its size alone is the problem.
  const { size } = await stat(file);
  if (fileTooLarge(size)) return { file, text: "", bytes: size };
  const decoded = decode(await readFile(file));
  if ("problem" in decoded) return { file, text: "", unreadable: decoded };
  return { file, text: decoded.text };
}

export async function readSources(
  files: readonly string[],
): Promise<{ sources: SourceFile[]; ioErrors: IoError[] }> {
  const sources: SourceFile[] = [];
  const ioErrors: IoError[] = [];
  for (const file of files) {
    try {
      sources.push(await readSource(file));
    } catch (err) {
      ioErrors.push({ path: file, message: errorText(err) });
    }
  }
  return { sources, ioErrors };
}

function stringAt(value: unknown, ...path: string[]): string | undefined {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === "string" ? current : undefined;
}

function problemAtPosition(file: string, line: number, column: number, message: string): Problem {
  return {
    file,
    line,
    column,
    severity: "error",
    kind: null,
    name: null,
    namespace: null,
    path: "",
    message,
  };
}

function syntaxProblem(file: string, lines: Lines, offset: number, message: string): Problem {
  const { line, col } = lines.linePos(offset);
  return problemAtPosition(file, line, col, message);
}

/** What one document or List item of a file yields: an object (with the values it was parsed from, the
 * measure of what it keeps in memory) or a problem. */
export type Parsed = { manifest: Manifest; values: number; keep: () => Manifest } | { problem: Problem };

/** The text of a span of the file, copied: what a parse tree keeps of it does not hold the whole file. */
function pieceOf(text: string, span: Span, skip = 0): string {
  return Buffer.from(" ".repeat(span.column - 1 + skip) + text.slice(span.start + skip, span.end)).toString();
}

/** Parses a piece of the file on its own, with positions that are those of the file: the piece starts
 * with as many spaces as the span's column, so columns match, and lines count from the span's line. */
function compose(piece: string, line: number): { doc: Document.Parsed; lines: Lines } {
  const counter = new LineCounter();
  // Duplicate keys are found below in linear time; the parser's own check is quadratic per mapping.
  const doc = parseDocument(piece, {
    lineCounter: counter,
    prettyErrors: false,
    uniqueKeys: false,
    logLevel: "error", // no process warnings on stderr (a mapping used as a key)
  });
  const lines: Lines = {
    linePos(offset) {
      const at = counter.linePos(offset);
      return { line: line + at.line - 1, col: at.col };
    },
  };
  return { doc, lines };
}

/** The manifest without its parse tree, which is parsed again from the piece only if a problem is
 * located in it: a kept object then costs its value and its text, a few KB, not its tree. */
function detached(m: Manifest, piece: string, line: number): Manifest {
  let parsed: { doc: Document; lines: Lines } | undefined;
  const load = () => {
    parsed ??= compose(piece, line);
    return parsed;
  };
  const { doc: _doc, lines: _lines, ...rest } = m;
  return {
    ...rest,
    get doc() {
      return load().doc;
    },
    get lines() {
      return load().lines;
    },
  };
}

/** The document's problems, or its value: a syntax error, a repeated key or an alias bomb leave nothing
 * to trust in it, and one broken document does not hide the others. */
function documentValue(
  file: string,
  doc: Document.Parsed,
  lines: Lines,
): { value: unknown } | { problems: Problem[] } {
  if (doc.errors.length > 0) {
    return {
      // The first error only: the ones after it are mostly the parser losing its place.
      problems: doc.errors
        .slice(0, 1)
        .map((err) =>
          syntaxProblem(file, lines, err.pos[0], `YAML syntax error: ${err.message.split("\n")[0]}`),
        ),
    };
  }
  const duplicate = duplicateKey(doc);
  if (duplicate !== undefined)
    return { problems: [syntaxProblem(file, lines, duplicate.offset, duplicate.message)] };
  try {
    return { value: doc.toJS() };
  } catch (err) {
    // e.g. alias expansion beyond the parser's limit (a "billion laughs" document).
    const { line, column } = locate(doc, lines, []);
    return { problems: [problemAtPosition(file, line, column, `YAML error: ${errorText(err)}`)] };
  }
}

/** A document's text with its List items cut out (their lines kept), which leaves `items:` empty. The
 * items of a block sequence follow one another, so they are one range of the text. */
function withoutItems(text: string, doc: ScannedDocument, items: Span[]): string {
  const first = items[0]?.start ?? doc.start;
  const last = items.at(-1)?.end ?? first;
  let lines = 0;
  for (let i = text.indexOf("\n", first); i >= 0 && i < last; i = text.indexOf("\n", i + 1)) lines++;
  return text.slice(doc.start, first) + "\n".repeat(lines) + text.slice(last, doc.end);
}

/** The objects of a file, one document or List item at a time (see scan.ts), with their problems. */
export function* parseObjects(source: SourceFile): Generator<Parsed> {
  const { file, text } = source;
  const tooLarge = fileTooLarge(source.bytes ?? 0);
  if (tooLarge) return yield { problem: problemAtPosition(file, 1, 1, tooLarge) };
  if (source.unreadable !== undefined) {
    const { problem, line, column } = source.unreadable;
    return yield { problem: problemAtPosition(file, line, column, problem) };
  }
  for (const doc of scan(text)) {
    if (doc.tooDeep !== undefined) {
      yield { problem: problemAtPosition(file, doc.tooDeep.line, doc.tooDeep.column, tooDeepMessage()) };
    } else if (doc.items !== undefined && doc.items.length > 0) {
      yield* listObjects(source, doc, doc.items);
    } else {
      yield* wholeDocument(source, doc);
    }
  }
}

function* wholeDocument(source: SourceFile, span: Span): Generator<Parsed> {
  if (span.tooMany !== undefined) {
    const { line, column } = span.tooMany;
    return yield { problem: problemAtPosition(source.file, line, column, tooManyMessage()) };
  }
  const piece = pieceOf(source.text, span);
  const { doc, lines } = compose(piece, span.line);
  const parsed = documentValue(source.file, doc, lines);
  if ("problems" in parsed) return yield* parsed.problems.map((problem) => ({ problem }));
  yield* withDetached(unpack(source.file, doc, lines, parsed.value), doc, piece, span);
}

/** A document with a top-level `items:` block sequence: when its kind is a List, each item is parsed on
 * its own; otherwise the document is one object like any other. */
function* listObjects(source: SourceFile, doc: ScannedDocument, items: Span[]): Generator<Parsed> {
  const headerText = withoutItems(source.text, doc, items);
  const { doc: parsedHeader, lines } = compose(
    pieceOf(headerText, { ...doc, start: 0, end: headerText.length }),
    doc.line,
  );
  const parsed = documentValue(source.file, parsedHeader, lines);
  if ("problems" in parsed) return yield* parsed.problems.map((problem) => ({ problem }));
  const kind = stringAt(parsed.value, "kind");
  if (kind === undefined || !kind.endsWith("List")) return yield* wholeDocument(source, doc);
  for (const [i, item] of items.entries()) {
    if (item.tooMany !== undefined) {
      const { line, column } = item.tooMany;
      yield { problem: problemAtPosition(source.file, line, column, tooManyMessage()) };
      continue;
    }
    // The item is parsed with its `-` as a space, so its mapping keeps its columns.
    const piece = pieceOf(source.text, item, 1);
    const { doc: itemDoc, lines: itemLines } = compose(piece, item.line);
    const value = documentValue(source.file, itemDoc, itemLines);
    if ("problems" in value) {
      yield* value.problems.map((problem) => ({ problem }));
      continue;
    }
    if (!isObject(value.value)) {
      const message = `items[${i}] of ${kind}: expected an object (a mapping with apiVersion and kind)`;
      const { line, column } = locate(itemDoc, itemLines, []);
      yield { problem: problemAtPosition(source.file, line, column, message) };
      continue;
    }
    yield* withDetached(unpack(source.file, itemDoc, itemLines, value.value), itemDoc, piece, item);
  }
}

/** What unpack yields, with each object the piece's document holds given a detached copy to keep. */
function* withDetached(
  found: Iterable<{ manifest: Manifest } | { problem: Problem }>,
  doc: Document,
  piece: string,
  span: Span,
): Generator<Parsed> {
  let counted = false;
  for (const one of found) {
    if ("problem" in one) {
      yield one;
      continue;
    }
    const m = one.manifest;
    // Items of a List nested in this piece are located from a node of its tree: they keep the tree,
    // which is counted once, with the first of them.
    const keep = m.doc === doc ? () => detached(m, piece, span.line) : () => m;
    yield { manifest: m, values: counted ? 0 : span.values, keep };
    counted = true;
  }
}

/** Parses every document of a file, collecting what parseObjects yields (for callers that want it all). */
export function parseSource(source: SourceFile): { manifests: Manifest[]; problems: Problem[] } {
  const manifests: Manifest[] = [];
  const problems: Problem[] = [];
  for (const item of parseObjects(source)) {
    if ("problem" in item) problems.push(item.problem);
    else manifests.push(item.manifest);
  }
  return { manifests, problems };
}

/** The first key that a mapping repeats (the API server rejects those), with its offset. */
function duplicateKey(doc: Document): { offset: number; message: string } | undefined {
  let found: { offset: number; message: string } | undefined;
  visitYaml(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (seen.has(key)) {
          found = {
            offset: pair.key.range?.[0] ?? 0,
            message: `YAML syntax error: the key ${JSON.stringify(key)} appears twice in one mapping (keys must be unique)`,
          };
          return visitYaml.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** `v1 List`, `CanaryList` and the like (what `kubectl get -o yaml` writes): a mapping with an items list. */
function isList(value: Record<string, unknown>): value is Record<string, unknown> & { items: unknown[] } {
  return typeof value.kind === "string" && value.kind.endsWith("List") && Array.isArray(value.items);
}

/** The object a document holds, or the items of a List (nested Lists too), as manifests. */
function* unpack(
  file: string,
  doc: Document,
  lines: Lines,
  value: unknown,
): Generator<{ manifest: Manifest } | { problem: Problem }> {
  if (!isObject(value)) return;
  if (!isList(value)) return yield { manifest: manifestOf(file, doc, lines, value) };
  const items = itemNodes(doc);
  for (const [i, item] of value.items.entries()) {
    const itemDoc = subDocument(doc, items[i]);
    if (!isObject(item)) {
      const { line, column } = locate(doc, lines, ["items", i]);
      const message = `items[${i}] of ${value.kind}: expected an object (a mapping with apiVersion and kind)`;
      yield { problem: problemAtPosition(file, line, column, message) };
      continue;
    }
    yield* unpack(file, itemDoc, lines, item);
  }
}

function itemNodes(doc: Document): (Node | undefined)[] {
  const root = doc.contents;
  if (!isMap(root)) return [];
  const pair = root.items.find((p) => isScalar(p.key) && p.key.value === "items");
  return isSeq(pair?.value) ? (pair.value.items as Node[]) : [];
}

/** A document whose contents is one node of another: field paths are then located from that node. */
function subDocument(doc: Document, node: Node | undefined): Document {
  const sub = new Document(null, { keepSourceTokens: false });
  sub.contents = (node ?? null) as Document["contents"];
  const [start, valueEnd, end] = node?.range ?? doc.range ?? [0, 0, 0];
  sub.range = [start, valueEnd, end];
  return sub;
}

function manifestOf(file: string, doc: Document, lines: Lines, value: Record<string, unknown>): Manifest {
  return {
    file,
    doc,
    lines,
    value,
    apiVersion: stringAt(value, "apiVersion"),
    kind: stringAt(value, "kind"),
    name: stringAt(value, "metadata", "name"),
    namespace: stringAt(value, "metadata", "namespace"),
  };
}

/** The directory of a file as shown, used to decide whether two namespace-less objects sit together. */
export function dirOf(file: string): string {
  return file.slice(0, file.length - basename(file).length);
}
