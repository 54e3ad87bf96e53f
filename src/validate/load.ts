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
  parseAllDocuments,
  parseDocument,
  visit as visitYaml,
} from "yaml";
import { checkLimits, fileTooLarge } from "./limits.ts";
import { locate } from "./locate.ts";
import type { Manifest } from "./manifest.ts";
import type { Problem } from "./problem.ts";

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
}

const YAML_FILE = /\.ya?ml$/i;

function errorText(err: unknown): string {
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

export async function readSources(
  files: readonly string[],
): Promise<{ sources: SourceFile[]; ioErrors: IoError[] }> {
  const sources: SourceFile[] = [];
  const ioErrors: IoError[] = [];
  for (const file of files) {
    try {
      // A file over the limit is not read at all: its size alone is the problem.
      const { size } = await stat(file);
      if (fileTooLarge(size)) sources.push({ file, text: "", bytes: size });
      else sources.push({ file, text: await readFile(file, "utf8") });
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

function syntaxProblem(file: string, lines: LineCounter, offset: number, message: string): Problem {
  const { line, col } = lines.linePos(offset);
  return {
    file,
    line,
    column: col,
    severity: "error",
    kind: null,
    name: null,
    namespace: null,
    path: "",
    message,
  };
}

/** Parses every document of a file. A document with syntax errors is reported and skipped: its content
 * cannot be trusted, and one broken document does not hide the others. A file over a limit (size,
 * number of values, nesting) is one problem and is not parsed. */
export function parseSource(source: SourceFile): { manifests: Manifest[]; problems: Problem[] } {
  const lines = new LineCounter();
  const tooLarge = fileTooLarge(source.bytes ?? Buffer.byteLength(source.text));
  if (tooLarge) return { manifests: [], problems: [limitProblem(source, 0, tooLarge)] };
  const limit = checkLimits(source.text);
  if (limit) return { manifests: [], problems: [limitProblem(source, limit.offset, limit.message)] };
  let docs: Document.Parsed[];
  try {
    // Duplicate keys are found below in linear time; the parser's own check is quadratic per mapping.
    docs = parseAllDocuments(source.text, {
      lineCounter: lines,
      prettyErrors: false,
      uniqueKeys: false,
      logLevel: "error", // no process warnings on stderr (a mapping used as a key)
    }) as Document.Parsed[];
  } catch (err) {
    // The limits above keep the parser's recursion in bounds; this is the net under them.
    return { manifests: [], problems: [limitProblem(source, 0, `YAML error: ${errorText(err)}`)] };
  }
  const manifests: Manifest[] = [];
  const problems: Problem[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        problems.push(
          syntaxProblem(source.file, lines, err.pos[0], `YAML syntax error: ${err.message.split("\n")[0]}`),
        );
      }
      continue;
    }
    const duplicate = duplicateKey(doc);
    if (duplicate !== undefined) {
      problems.push(syntaxProblem(source.file, lines, duplicate.offset, duplicate.message));
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // e.g. alias expansion beyond the parser's limit (a "billion laughs" document).
      const at = locate(doc, lines, []);
      problems.push({ ...syntaxProblem(source.file, lines, 0, `YAML error: ${errorText(err)}`), ...at });
      continue;
    }
    unpack(source.file, doc, lines, value, manifests, problems);
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

/** `v1 List`, `CanaryList` and the like (what `kubectl get -o yaml` writes): a mapping with an items list. */
function isList(value: Record<string, unknown>): value is Record<string, unknown> & { items: unknown[] } {
  return typeof value.kind === "string" && value.kind.endsWith("List") && Array.isArray(value.items);
}

/** Adds the object a document holds, or the items of a List (nested Lists too), as manifests. */
function unpack(
  file: string,
  doc: Document,
  lines: LineCounter,
  value: unknown,
  manifests: Manifest[],
  problems: Problem[],
): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return;
  const object = value as Record<string, unknown>;
  if (!isList(object)) {
    manifests.push(manifestOf(file, doc, lines, object));
    return;
  }
  const items = itemNodes(doc);
  object.items.forEach((item, i) => {
    const node = items[i];
    const itemDoc = subDocument(doc, node);
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      const at = locate(doc, lines, ["items", i]);
      const message = `items[${i}] of ${object.kind}: expected an object (a mapping with apiVersion and kind)`;
      problems.push({ ...syntaxProblem(file, lines, 0, message), ...at });
      return;
    }
    unpack(file, itemDoc, lines, item, manifests, problems);
  });
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

function manifestOf(
  file: string,
  doc: Document,
  lines: LineCounter,
  value: Record<string, unknown>,
): Manifest {
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

/** A file-level problem at an offset of a file that was not parsed. */
function limitProblem(source: SourceFile, offset: number, message: string): Problem {
  const lines = new LineCounter();
  let start = source.text.indexOf("\n");
  lines.addNewLine(0);
  while (start >= 0 && start < offset) {
    lines.addNewLine(start + 1);
    start = source.text.indexOf("\n", start + 1);
  }
  return syntaxProblem(source.file, lines, offset, message);
}

/** The directory of a file as shown, used to decide whether two namespace-less objects sit together. */
export function dirOf(file: string): string {
  return file.slice(0, file.length - basename(file).length);
}
