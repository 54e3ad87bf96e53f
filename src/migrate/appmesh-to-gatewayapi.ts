/**
 * `kanaria migrate appmesh-to-gatewayapi`: one Canary with provider appmesh, as a YAML document, is
 * rewritten in place to provider gatewayapi for Amazon VPC Lattice (the AWS Gateway API Controller):
 * service.meshName becomes service.gatewayRefs to a Gateway of the amazon-vpc-lattice GatewayClass,
 * hosts and timeout stay (Gateway API's hostnames and timeouts.request), and what Gateway API or VPC
 * Lattice cannot express is removed and reported. Edits go through the yaml Document API, so the
 * comments and the layout of everything else in the file stay as they were.
 */
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  stringify,
  type YAMLMap,
} from "yaml";
import { API_VERSION } from "../api/common.ts";

const FLAGGER_API_VERSION = "flagger.app/v1beta1";
/** Flagger's names for App Mesh; kanaria's is the first. */
export const APPMESH_PROVIDERS = ["appmesh", "appmesh:v1beta2", "appmesh:v1beta1"];
const ACCESS_LOG_ANNOTATION = "appmesh.flagger.app/accesslog";
/** VPC Lattice rules match headers exactly, at most 5 a rule (AWS Gateway API Controller's limits). */
const LATTICE_MAX_HEADERS = 5;

export interface MigrateOptions {
  /** Name of the Gateway (VPC Lattice service network); default: the Canary's service.meshName. */
  gateway?: string;
  /** Namespace of the Gateway; default: the Canary's own. */
  gatewayNamespace?: string;
  /** Listener of the Gateway to attach to (sectionName). */
  sectionName?: string;
  /** Also convert Canaries without spec.provider (a controller whose --provider was appmesh). */
  includeUnsetProvider?: boolean;
}

/** unmapped: removed, nothing in Gateway API/VPC Lattice does it; review: kept or changed, check it. */
export type NoteKind = "unmapped" | "review";

export interface Note {
  line: number;
  field: string;
  kind: NoteKind;
  message: string;
}

export interface CanaryMigration {
  name: string;
  namespace: string | undefined;
  apex: string;
  port: number | undefined;
  gateway: { name: string; namespace: string | undefined; sectionName: string | undefined } | undefined;
  /** Why the Canary could not be converted; the document is then left as it was. */
  error: string | undefined;
  notes: Note[];
}

type Path = (string | number)[];

function scalarAt(doc: Document, path: Path): string | undefined {
  const v = doc.getIn(path);
  return typeof v === "string" ? v : undefined;
}

/** Whether this document is a Canary the migration applies to. */
export function isAppMeshCanary(doc: Document, options: MigrateOptions): boolean {
  const apiVersion = scalarAt(doc, ["apiVersion"]);
  if (
    doc.getIn(["kind"]) !== "Canary" ||
    (apiVersion !== API_VERSION && apiVersion !== FLAGGER_API_VERSION)
  ) {
    return false;
  }
  const provider = doc.getIn(["spec", "provider"]);
  if (provider === undefined || provider === null) return options.includeUnsetProvider === true;
  return typeof provider === "string" && APPMESH_PROVIDERS.includes(provider);
}

/** A text edit of the source: replace [start, end) with text. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * The changes to one Canary, made twice: as text edits on the source (so nothing else in the file
 * moves, not even the indentation of a list) and on a copy of the document, which is printed instead
 * when a change cannot be made as a text edit (e.g. a key in a flow mapping). Reads see the original.
 */
class Rewrite {
  readonly notes: Note[] = [];
  readonly edits: Edit[] = [];
  /** False once a change could not be made as a text edit: then print `work` instead. */
  textual = true;
  readonly work: Document;
  readonly #doc: Document;
  readonly #lines: LineCounter;
  readonly #source: string;
  readonly #indentSeq: boolean;
  readonly #removed = new Set<string>();

  constructor(doc: Document, lines: LineCounter, source: string, indentSeq: boolean) {
    this.#doc = doc;
    this.work = doc.clone();
    this.#lines = lines;
    this.#source = source;
    this.#indentSeq = indentSeq;
  }

  has(path: Path): boolean {
    return this.#doc.hasIn(path);
  }

  get(path: Path): unknown {
    const v = this.#doc.getIn(path);
    return v !== null && typeof v === "object" && "toJSON" in v ? (v as { toJSON(): unknown }).toJSON() : v;
  }

  line(path: Path): number {
    for (let p = path; ; p = p.slice(0, -1)) {
      const node = this.#doc.getIn(p, true) as Node | undefined;
      if (node?.range) return this.#lines.linePos(node.range[0]).line;
      if (p.length === 0) return 1;
    }
  }

  note(kind: NoteKind, path: Path, message: string): void {
    this.notes.push({ line: this.line(path), field: fieldName(path), kind, message });
  }

  #lineStart(offset: number): number {
    return this.#source.lastIndexOf("\n", offset - 1) + 1;
  }

  #lineEnd(offset: number): number {
    const i = this.#source.indexOf("\n", offset);
    return i < 0 ? this.#source.length : i + 1;
  }

  /** The pair of a block mapping at path, when its key starts its own line. */
  #pair(path: Path): { pair: Pair; indent: string } | undefined {
    const map = this.#doc.getIn(path.slice(0, -1), true);
    if (!isMap(map) || map.flow) return undefined;
    const pair = map.items.find((p) => isScalar(p.key) && p.key.value === path.at(-1));
    const start = (pair?.key as Node | undefined)?.range?.[0];
    if (!pair || start === undefined) return undefined;
    const indent = this.#source.slice(this.#lineStart(start), start);
    return /^ *$/.test(indent) ? { pair, indent } : undefined;
  }

  /** Sets a scalar, keeping a comment on it. */
  setScalar(path: Path, value: string): void {
    const node = this.#doc.getIn(path, true);
    const work = this.work.getIn(path, true);
    if (isScalar(work)) work.value = value;
    if (isScalar(node) && node.range && node.type === "PLAIN") {
      this.edits.push({ start: node.range[0], end: node.range[1], text: value });
    } else this.textual = false;
  }

  /** Removes the pair at path (with the comment lines right above it); a map left empty goes too. */
  remove(path: Path, kind: NoteKind, message: string): void {
    if (!this.has(path)) return;
    this.note(kind, path, message);
    this.#removed.add(JSON.stringify(path));
    const parent = path.slice(0, -1);
    const siblings = this.children(parent);
    if (path.length > 1 && siblings.every((k) => this.#removed.has(JSON.stringify([...parent, k])))) {
      // The text edit of the parent covers the children's.
      this.edits.splice(0, this.edits.length, ...this.edits.filter((e) => !this.#within(e, parent)));
      this.#removeText(parent);
      this.work.deleteIn(parent);
      return;
    }
    this.#removeText(path);
    this.work.deleteIn(path);
  }

  #within(edit: Edit, path: Path): boolean {
    const range = this.#span(path);
    return range !== undefined && edit.start >= range.start && edit.end <= range.end;
  }

  /** The lines of the pair at path: comment lines right above it, the key's line, its value's lines. */
  #span(path: Path): { start: number; end: number } | undefined {
    const found = this.#pair(path);
    if (!found) return undefined;
    const key = found.pair.key as Node;
    const value = found.pair.value as Node | null;
    const keyStart = key.range?.[0] ?? 0;
    const valueEnd = value?.range?.[1] ?? key.range?.[1] ?? keyStart;
    let start = this.#lineStart(keyStart);
    for (;;) {
      const above = this.#lineStart(start - 1);
      if (start === 0 || !this.#source.slice(above, start).trimStart().startsWith("#")) break;
      start = above;
    }
    const end = this.#lineEnd(Math.max(keyStart, valueEnd - 1));
    return { start, end };
  }

  #removeText(path: Path): void {
    const span = this.#span(path);
    if (span) this.edits.push({ ...span, text: "" });
    else this.textual = false;
  }

  /** Puts key: value into the map at `at`, in place of `instead` when it is there, else as its last key. */
  replaceKey(at: Path, instead: string, key: string, value: unknown): void {
    const map = this.work.getIn(at, true) as YAMLMap | undefined;
    const pair = this.work.createPair(key, value);
    const index = isMap(map) ? map.items.findIndex((p) => isScalar(p.key) && p.key.value === instead) : -1;
    if (isMap(map) && index >= 0) map.items.splice(index, 1, pair);
    else if (isMap(map)) map.items.push(pair);
    else this.work.setIn([...at, key], value);

    const keys = this.children(at);
    const anchor = keys.includes(instead) ? instead : keys.at(-1);
    const found = anchor === undefined ? undefined : this.#pair([...at, anchor]);
    const span = anchor === undefined ? undefined : this.#span([...at, anchor]);
    if (!found || !span) {
      this.textual = false;
      return;
    }
    const text = stringify({ [key]: value }, { indentSeq: this.#indentSeq, lineWidth: 0 })
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => `${found.indent}${l}\n`)
      .join("");
    if (anchor === instead) this.edits.push({ ...span, text });
    else this.edits.push({ start: span.end, end: span.end, text });
  }

  /** Adds key: value as the first key of the map at `at`. */
  prependKey(at: Path, key: string, value: string): void {
    this.work.setIn([...at, key], value);
    const first = this.children(at)[0];
    const found = first === undefined ? undefined : this.#pair([...at, first]);
    const start = (found?.pair.key as Node | undefined)?.range?.[0];
    if (!found || start === undefined) {
      this.textual = false;
      return;
    }
    const lineStart = this.#lineStart(start);
    this.edits.push({ start: lineStart, end: lineStart, text: `${found.indent}${key}: ${value}\n` });
  }

  /** Keys of a map, or indexes of a sequence, at path. */
  children(path: Path): (string | number)[] {
    const node = this.#doc.getIn(path, true);
    if (isMap(node)) return node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)));
    if (isSeq(node)) return node.items.map((_, i) => i);
    return [];
  }
}

function fieldName(path: Path): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === "number" ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg),
    "",
  );
}

const SVC = ["spec", "service"];

type GatewayRef = NonNullable<CanaryMigration["gateway"]>;

function gatewayFor(r: Rewrite, options: MigrateOptions): GatewayRef | string {
  const meshName = r.get([...SVC, "meshName"]);
  const name = options.gateway ?? (typeof meshName === "string" ? meshName : undefined);
  if (!name) {
    return "it has no spec.service.meshName to name the Gateway after: pass --gateway NAME";
  }
  return { name, namespace: options.gatewayNamespace, sectionName: options.sectionName };
}

function mapMeshAndGateway(r: Rewrite, gateway: GatewayRef): void {
  const meshName = r.get([...SVC, "meshName"]);
  if (r.has([...SVC, "gatewayRefs"])) {
    r.remove(
      [...SVC, "meshName"],
      "review",
      `removed; kept the existing service.gatewayRefs in place of mesh ${String(meshName)}`,
    );
    return;
  }
  const ref = {
    name: gateway.name,
    ...(gateway.namespace && { namespace: gateway.namespace }),
    ...(gateway.sectionName && { sectionName: gateway.sectionName }),
  };
  const where = `${gateway.namespace ? `${gateway.namespace}/` : ""}${gateway.name}`;
  if (meshName !== undefined) {
    r.note(
      "review",
      [...SVC, "meshName"],
      `replaced by service.gatewayRefs to Gateway ${where} (the VPC Lattice service network that takes mesh ${String(meshName)}'s place)`,
    );
  } else {
    r.note("review", SVC, `added service.gatewayRefs to Gateway ${where}`);
  }
  r.replaceKey(SVC, "meshName", "gatewayRefs", [ref]);
}

function mapService(r: Rewrite, apex: string, namespace: string | undefined): void {
  const backends = r.get([...SVC, "backends"]);
  if (Array.isArray(backends)) {
    r.remove(
      [...SVC, "backends"],
      "unmapped",
      `removed (${backends.join(", ")}): VPC Lattice has no per-workload egress list; make each backend a VPC Lattice service ` +
        "in the service network (an HTTPRoute on the Gateway, or ServiceExport/ServiceImport from another cluster) and limit its callers with an IAMAuthPolicy",
    );
  }
  if (r.has([...SVC, "timeout"])) {
    r.note(
      "review",
      [...SVC, "timeout"],
      "kept as the HTTPRoute's timeouts.request, which the AWS Gateway API Controller does not apply to VPC Lattice",
    );
  }
  const retries = r.get([...SVC, "retries"]);
  if (retries !== undefined) {
    r.remove(
      [...SVC, "retries"],
      "unmapped",
      `removed (${JSON.stringify(retries)}): HTTPRoute retries are not in Gateway API's standard channel and the AWS Gateway API Controller has no retry setting; retry in the clients`,
    );
  }
  const hosts = r.get([...SVC, "hosts"]);
  if (Array.isArray(hosts) && hosts.length > 0) {
    r.note(
      "review",
      [...SVC, "hosts"],
      `kept as the HTTPRoute's hostnames: VPC Lattice serves ${hosts.join(", ")} as custom domain names; point their DNS at the domain VPC Lattice assigns (HTTPRoute annotation application-networking.k8s.aws/lattice-assigned-domain-name)`,
    );
  } else {
    r.note(
      "review",
      SVC,
      `clients reached ${apex}${namespace ? `.${namespace}` : ""} through App Mesh; through VPC Lattice they call the domain it assigns (HTTPRoute annotation application-networking.k8s.aws/lattice-assigned-domain-name), or set service.hosts to a custom domain`,
    );
  }
  const rewrite = r.get([...SVC, "rewrite"]);
  if (rewrite !== undefined) {
    r.remove(
      [...SVC, "rewrite"],
      "unmapped",
      `removed (${JSON.stringify(rewrite)}): VPC Lattice applies no HTTPRoute filters, so the URLRewrite filter kanaria would write from it has no effect there; rewrite in the application`,
    );
  }
  checkMatches(r, [...SVC, "match"]);
}

/** VPC Lattice's limits on matches (AWS Gateway API Controller): flagged, left for the owner to change. */
function checkMatches(r: Rewrite, at: Path): void {
  for (const i of r.children(at)) {
    const m = [...at, i];
    const headers = r.children([...m, "headers"]);
    if (headers.length > LATTICE_MAX_HEADERS) {
      r.note(
        "review",
        [...m, "headers"],
        `has ${headers.length} headers; VPC Lattice matches at most ${LATTICE_MAX_HEADERS} in a rule`,
      );
    }
    for (const h of headers) {
      for (const op of r.children([...m, "headers", h])) {
        if (op !== "exact") {
          r.note(
            "review",
            [...m, "headers", h, op],
            `VPC Lattice matches headers exactly only (the route is rejected with LATTICE_UNSUPPORTED_HEADER_MATCH_TYPE): change it to exact${String(h).toLowerCase() === "cookie" ? ", or move the cookie test into a header the client sets" : ""}`,
          );
        }
      }
    }
    if (r.has([...m, "queryParams"]))
      r.note("review", [...m, "queryParams"], "VPC Lattice cannot match query parameters");
    for (const op of r.children([...m, "uri"])) {
      if (op !== "exact" && op !== "prefix")
        r.note("review", [...m, "uri", op], "VPC Lattice matches paths by exact or prefix only");
    }
  }
}

function mapAnalysis(r: Rewrite, apex: string, namespace: string | undefined): void {
  checkMatches(r, ["spec", "analysis", "match"]);
  const metrics = r.children(["spec", "analysis", "metrics"]);
  for (const i of metrics) {
    const name = r.get(["spec", "analysis", "metrics", i, "name"]);
    const builtin = name === "request-success-rate" || name === "request-duration";
    if (builtin && !r.has(["spec", "analysis", "metrics", i, "templateRef"])) {
      r.note(
        "review",
        ["spec", "analysis", "metrics", i],
        `the built-in ${String(name)} read the Envoy sidecars' series, which VPC Lattice does not have; with gatewayapi it reads the application's own http_request_duration_seconds histogram by pod, as Flagger's gatewayapi built-ins do: keep it if the pods export that histogram (with a status label) to Prometheus, or judge the canary with a MetricTemplate on VPC Lattice's CloudWatch metrics (namespace AWS/VpcLattice) of the target group of the -canary Service (examples/appmesh/README.md)`,
      );
    }
  }
  if (namespace === undefined) return;
  // Traffic to the Kubernetes Service goes around VPC Lattice, so a load test on it never sees the split.
  const direct = new RegExp(`(^|[^a-z0-9-])${apex}\\.${namespace}([^a-z0-9-]|$)`);
  for (const i of r.children(["spec", "analysis", "webhooks"])) {
    const hook = JSON.stringify(r.get(["spec", "analysis", "webhooks", i]) ?? {});
    if (direct.test(hook)) {
      r.note(
        "review",
        ["spec", "analysis", "webhooks", i],
        `calls ${apex}.${namespace}, the Kubernetes Service, which VPC Lattice does not route: call the VPC Lattice domain so the load reaches both versions by weight`,
      );
    }
  }
}

/** Converts one Canary document in place and says what it did; on error the document is untouched. */
export interface CanaryRewrite {
  migration: CanaryMigration;
  /** Text edits of the source that make the change; apply them when `textual`. */
  edits: Edit[];
  textual: boolean;
  /** The changed document, to print when the change cannot be made as text edits. */
  work: Document;
}

/**
 * Converts one Canary document: returns what changed as text edits of `source` (the whole file the
 * document came from) and as a changed copy of the document; on error, neither changes anything.
 */
export function migrateCanary(
  doc: Document,
  lines: LineCounter,
  source: string,
  options: MigrateOptions & { indentSeq: boolean },
): CanaryRewrite {
  const r = new Rewrite(doc, lines, source, options.indentSeq);
  const name = String(r.get(["metadata", "name"]) ?? "");
  const namespace = r.get(["metadata", "namespace"]) as string | undefined;
  const apex = String(r.get([...SVC, "name"]) ?? r.get(["spec", "targetRef", "name"]) ?? name);
  const port = r.get([...SVC, "port"]);
  const base = { name, namespace, apex, port: typeof port === "number" ? port : undefined };
  const gateway = gatewayFor(r, options);
  if (typeof gateway === "string") {
    return {
      migration: { ...base, gateway: undefined, error: gateway, notes: [] },
      edits: [],
      textual: true,
      work: doc,
    };
  }

  if (r.get(["apiVersion"]) === FLAGGER_API_VERSION) {
    r.note("review", ["apiVersion"], `changed from ${FLAGGER_API_VERSION} to ${API_VERSION}`);
    r.setScalar(["apiVersion"], API_VERSION);
  }
  if (r.has(["spec", "provider"])) {
    r.note("review", ["spec", "provider"], `${String(r.get(["spec", "provider"]))} -> gatewayapi`);
    r.setScalar(["spec", "provider"], "gatewayapi");
  } else {
    r.note(
      "review",
      ["spec"],
      "added provider: gatewayapi (it had none: the controller's --provider was appmesh)",
    );
    r.prependKey(["spec"], "provider", "gatewayapi");
  }
  mapMeshAndGateway(r, gateway);
  mapService(r, apex, namespace);
  mapAnalysis(r, apex, namespace);
  if (r.get(["metadata", "annotations", ACCESS_LOG_ANNOTATION]) !== undefined) {
    r.remove(
      ["metadata", "annotations", ACCESS_LOG_ANNOTATION],
      "unmapped",
      "removed: VPC Lattice access logs are an AccessLogPolicy on the Gateway or the HTTPRoute (to CloudWatch Logs, S3 or Firehose)",
    );
  }
  return {
    migration: { ...base, gateway, error: undefined, notes: r.notes },
    edits: r.edits,
    textual: r.textual,
    work: r.work,
  };
}
