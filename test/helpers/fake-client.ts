import { ConflictError } from "../../src/kube/errors.ts";
import type { EventInput, KubeClient, KubeObject, ObjectRef } from "../../src/kube/types.ts";
import { canonicalJson } from "../../src/workloads/hash.ts";

type Json = Record<string, unknown>;

const asJson = (obj: KubeObject) => obj as unknown as Json;
const asObject = (json: Json) => json as unknown as KubeObject;

const isMap = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** Paths of the leaves of obj; lists count as leaves (replaced as a whole, as atomic lists are in SSA). */
function leafPaths(obj: Json, prefix: string[] = []): string[][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isMap(v) && Object.keys(v).length > 0 ? leafPaths(v, [...prefix, k]) : [[...prefix, k]],
  );
}

function removePath(obj: Json, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) {
    delete obj[head];
    return;
  }
  const child = obj[head];
  if (!isMap(child)) return;
  removePath(child, rest);
  if (Object.keys(child).length === 0) delete obj[head];
}

function deepMerge(base: Json, patch: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const current = out[k];
    out[k] = isMap(v) && isMap(current) ? deepMerge(current, v) : structuredClone(v);
  }
  return out;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(base: Json, patch: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = isMap(v) ? mergePatch(isMap(out[k]) ? (out[k] as Json) : {}, v) : structuredClone(v);
  }
  return out;
}

function keyOf(ref: ObjectRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

function refOf(obj: KubeObject): ObjectRef {
  const ref: ObjectRef = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name };
  if (obj.metadata.namespace) ref.namespace = obj.metadata.namespace;
  return ref;
}

function matchesSelector(obj: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [k, v] = term.split("=");
    if (k === undefined || v === undefined || term.includes("!")) {
      throw new Error(
        `FakeKubeClient supports only equality label selectors (a=b,c=d), got ${JSON.stringify(selector)}`,
      );
    }
    return obj.metadata.labels?.[k.trim()] === v.trim();
  });
}

export interface RecordedWrite {
  op: "apply" | "mergePatch" | "replaceStatus" | "delete";
  ref: ObjectRef;
}

/**
 * In-memory KubeClient for unit tests. apply imitates server-side apply with one field manager: the
 * applied fields are merged in, and the fields the previous apply set but this one leaves out are
 * removed (lists are replaced as a whole). Objects are cloned on the way in and out.
 */
export class FakeKubeClient implements KubeClient {
  readonly events: EventInput[] = [];
  readonly writes: RecordedWrite[] = [];
  readonly #objects = new Map<string, KubeObject>();
  readonly #applied = new Map<string, string[][]>();
  #version = 0;

  constructor(objects: KubeObject[] = []) {
    for (const obj of objects) this.seed(obj);
  }

  /** Creates or replaces obj as another client would (its fields do not count as applied by kanaria). */
  seed<T extends KubeObject>(obj: T): T {
    const stored = structuredClone(obj);
    stored.metadata.uid ??= `uid-${obj.kind.toLowerCase()}-${obj.metadata.name}`;
    stored.metadata.generation ??= 1;
    stored.metadata.resourceVersion = String(++this.#version);
    this.#objects.set(keyOf(refOf(stored)), stored);
    return structuredClone(stored);
  }

  async get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    const obj = this.#objects.get(keyOf(ref));
    return obj ? (structuredClone(obj) as T) : undefined;
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ) {
    return [...this.#objects.values()]
      .filter((o) => o.apiVersion === apiVersion && o.kind === kind)
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .filter((o) => matchesSelector(o, labelSelector))
      .map((o) => structuredClone(o) as T);
  }

  async apply<T extends KubeObject>(object: T): Promise<T> {
    const ref = refOf(object);
    const key = keyOf(ref);
    this.writes.push({ op: "apply", ref });
    const fields = leafPaths(asJson(object));
    const existing = this.#objects.get(key);
    if (!existing) {
      this.#applied.set(key, fields);
      return this.seed(object);
    }
    const base = asJson(structuredClone(existing));
    const newFields = new Set(fields.map((p) => p.join("\u0000")));
    for (const path of this.#applied.get(key) ?? []) {
      if (!newFields.has(path.join("\u0000"))) removePath(base, path);
    }
    this.#applied.set(key, fields);
    return this.#store(existing, asObject(deepMerge(base, asJson(object)))) as T;
  }

  async mergePatch<T extends KubeObject>(ref: ObjectRef, patch: Record<string, unknown>): Promise<T> {
    this.writes.push({ op: "mergePatch", ref });
    const existing = this.#objects.get(keyOf(ref));
    if (!existing) throw new Error(`${ref.kind} ${ref.namespace ?? ""}/${ref.name} not found`);
    // As the API server: a resourceVersion in the patch is a precondition, not a field to write.
    const rv = (patch.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (rv !== undefined && rv !== existing.metadata.resourceVersion) {
      throw new ConflictError(`${ref.kind} ${ref.name}: resourceVersion ${rv} is stale`);
    }
    return this.#store(existing, asObject(mergePatch(asJson(structuredClone(existing)), patch))) as T;
  }

  async replaceStatus<T extends KubeObject>(object: T): Promise<T> {
    const ref = refOf(object);
    this.writes.push({ op: "replaceStatus", ref });
    const existing = this.#objects.get(keyOf(ref));
    if (!existing) throw new Error(`${ref.kind} ${ref.namespace ?? ""}/${ref.name} not found`);
    const rv = object.metadata.resourceVersion;
    if (rv !== undefined && rv !== existing.metadata.resourceVersion) {
      throw new ConflictError(`${ref.kind} ${ref.name}: resourceVersion ${rv} is stale`);
    }
    const updated = { ...structuredClone(existing), status: structuredClone(asJson(object).status) };
    return this.#store(existing, updated) as T;
  }

  async delete(ref: ObjectRef): Promise<void> {
    this.writes.push({ op: "delete", ref });
    this.#objects.delete(keyOf(ref));
    this.#applied.delete(keyOf(ref));
  }

  async event(input: EventInput): Promise<void> {
    this.events.push(structuredClone(input));
  }

  /**
   * Keeps identity fields, bumps resourceVersion, and bumps generation when the spec changed. A write
   * that changes nothing leaves the object and its resourceVersion alone, as the API server does.
   */
  #store(existing: KubeObject, next: KubeObject): KubeObject {
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
    next.metadata.uid = existing.metadata.uid;
    next.metadata.generation = existing.metadata.generation;
    if (canonicalJson(asJson(existing)) === canonicalJson(asJson(next))) return structuredClone(existing);
    const specChanged = canonicalJson(asJson(existing).spec) !== canonicalJson(asJson(next).spec);
    next.metadata.generation = (existing.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    next.metadata.resourceVersion = String(++this.#version);
    this.#objects.set(keyOf(refOf(next)), next);
    return structuredClone(next);
  }
}
