/**
 * The file side of `kanaria migrate appmesh-to-gatewayapi`: every YAML document of a file is parsed
 * with the yaml Document API, App Mesh Canaries are converted in place (appmesh-to-gatewayapi.ts), and
 * the file is printed again only if something changed, so everything else keeps its comments and layout.
 * Each converted Canary is then checked as the controller would: the API schema (as `kanaria validate`)
 * and the gatewayapi router's own checks, so what is printed is what the controller accepts.
 */
import { type Document, LineCounter, parseAllDocuments } from "yaml";
import { canary as canarySchema } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import type { KubeClient } from "../kube/types.ts";
import { unsupportedRouting } from "../routers/capabilities.ts";
import { createRouter, routerCapabilities } from "../routers/factory.ts";
import { validateSources } from "../validate/index.ts";
import type { SourceFile } from "../validate/load.ts";
import {
  type CanaryMigration,
  type CanaryRewrite,
  type Edit,
  isAppMeshCanary,
  type MigrateOptions,
  migrateCanary,
} from "./appmesh-to-gatewayapi.ts";

export type { CanaryMigration, MigrateOptions, Note } from "./appmesh-to-gatewayapi.ts";

export interface MigratedCanary extends CanaryMigration {
  /** What would still stop the converted Canary: schema errors and gatewayapi router refusals. */
  problems: string[];
}

export interface MigratedFile {
  file: string;
  /** The file as it should be now; equal to the input when nothing was converted. */
  text: string;
  changed: boolean;
  canaries: MigratedCanary[];
  /** YAML syntax errors: such a file is left alone. */
  syntaxErrors: string[];
}

/**
 * Block sequences under a key are indented ("key:\n  - a") or not ("key:\n- a"); the file's own habit
 * is kept so the untouched parts print as they were.
 */
export function indentsSequences(text: string): boolean {
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  let indented = 0;
  let compact = 0;
  for (let i = 0; i + 1 < lines.length; i++) {
    const key = /^(\s*)[^\s-][^:]*:\s*$/.exec(lines[i] as string);
    const item = /^(\s*)- /.exec(lines[i + 1] as string);
    if (!key || !item) continue;
    if ((item[1] as string).length > (key[1] as string).length) indented++;
    else compact++;
  }
  return indented >= compact;
}

/** The router's checks never touch the cluster; a client that would is a bug here. */
const OFFLINE: KubeClient = new Proxy({} as KubeClient, {
  get: () => () => Promise.reject(new Error("kanaria migrate works offline")),
});

/** Schema and router problems of one converted Canary document. */
function controllerProblems(doc: Document): string[] {
  const parsed = canarySchema.safeParse(doc.toJS());
  if (!parsed.success) return []; // validateSources reports these, positioned.
  const canary = {
    ...parsed.data,
    metadata: {
      ...parsed.data.metadata,
      namespace: parsed.data.metadata.namespace ?? "default",
      uid: "migrate",
    },
  };
  const resolved = resolveCanary(canary.spec, "gatewayapi");
  const problems: string[] = [];
  const capabilities = routerCapabilities("gatewayapi");
  const blocked = capabilities && unsupportedRouting(canary.spec, resolved, "gatewayapi", capabilities);
  if (blocked) problems.push(blocked.message);
  try {
    createRouter("gatewayapi", { client: OFFLINE }).check({ canary, resolved });
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  }
  return problems;
}

/** Applies non-overlapping edits, last first so the offsets of the earlier ones stay right. */
function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start))
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

export function migrateSource(source: SourceFile, options: MigrateOptions): MigratedFile {
  const lines = new LineCounter();
  const docs = parseAllDocuments(source.text, { lineCounter: lines, prettyErrors: false });
  const syntaxErrors = docs.flatMap((d) =>
    d.errors.map((e) => `${lines.linePos(e.pos[0]).line}: ${e.message.split("\n")[0]}`),
  );
  const none = { file: source.file, text: source.text, changed: false, canaries: [], syntaxErrors };
  if (syntaxErrors.length > 0) return none;
  const indentSeq = indentsSequences(source.text);
  const rewrites = new Map<Document, CanaryRewrite>();
  for (const doc of docs) {
    if (isAppMeshCanary(doc, options)) {
      rewrites.set(doc, migrateCanary(doc, lines, source.text, { ...options, indentSeq }));
    }
  }
  if (rewrites.size === 0) return none;
  const all = [...rewrites.values()];
  const changed = all.some((r) => r.migration.error === undefined);
  let text = source.text;
  if (changed && all.every((r) => r.textual))
    text = applyEdits(
      source.text,
      all.flatMap((r) => r.edits),
    );
  else if (changed) {
    // Some change was not expressible as a text edit: print the documents again (comments survive).
    text = docs.map((d) => (rewrites.get(d)?.work ?? d).toString({ lineWidth: 0, indentSeq })).join("");
  }
  const validation = validateSources([{ file: source.file, text }]);
  const after = parseAllDocuments(text);
  const canaries = all.map(({ migration }) => {
    if (migration.error !== undefined) return { ...migration, problems: [] };
    const schema = validation.problems
      .filter((p) => p.severity === "error" && p.kind === "Canary" && p.name === migration.name)
      .map((p) => `${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`);
    const doc = after.find(
      (d) => d.getIn(["kind"]) === "Canary" && d.getIn(["metadata", "name"]) === migration.name,
    );
    return { ...migration, problems: [...schema, ...(doc ? controllerProblems(doc) : [])] };
  });
  return { file: source.file, text, changed, canaries, syntaxErrors };
}
