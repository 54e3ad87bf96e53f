/** Finding manifest files and parsing them into documents that remember where each node came from. */
import type { Dirent } from "node:fs";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { type Document, LineCounter, parseAllDocuments, parseDocument } from "yaml";
import { locate } from "./locate.ts";
import type { Problem } from "./problem.ts";

export interface IoError {
  path: string;
  message: string;
}

export interface SourceFile {
  /** The path as shown in problems: the argument joined with the path found below it. */
  file: string;
  text: string;
}

/** One YAML document that is a Kubernetes-style object (a mapping). */
export interface Manifest {
  file: string;
  doc: Document;
  lines: LineCounter;
  value: Record<string, unknown>;
  apiVersion: string | undefined;
  kind: string | undefined;
  name: string | undefined;
  namespace: string | undefined;
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
      sources.push({ file, text: await readFile(file, "utf8") });
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
 * cannot be trusted, and one broken document does not hide the others. */
export function parseSource(source: SourceFile): { manifests: Manifest[]; problems: Problem[] } {
  const lines = new LineCounter();
  const manifests: Manifest[] = [];
  const problems: Problem[] = [];
  for (const doc of parseAllDocuments(source.text, { lineCounter: lines, prettyErrors: false })) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        problems.push(
          syntaxProblem(source.file, lines, err.pos[0], `YAML syntax error: ${err.message.split("\n")[0]}`),
        );
      }
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
    if (value === null || typeof value !== "object" || Array.isArray(value)) continue;
    manifests.push({
      file: source.file,
      doc,
      lines,
      value: value as Record<string, unknown>,
      apiVersion: stringAt(value, "apiVersion"),
      kind: stringAt(value, "kind"),
      name: stringAt(value, "metadata", "name"),
      namespace: stringAt(value, "metadata", "namespace"),
    });
  }
  return { manifests, problems };
}

/** The directory of a file as shown, used to decide whether two namespace-less objects sit together. */
export function dirOf(file: string): string {
  return file.slice(0, file.length - basename(file).length);
}
