/**
 * An informer-backed KubeClient: reads come from the watch caches the manager already keeps, writes go
 * to the API server (and are skipped when they would change nothing). Routers and workload code see a
 * plain KubeClient.
 *
 * - A watcher registers itself as the cache of one apiVersion/kind in one namespace (or all) once its
 *   first list is in; kinds nobody watches fall through to the API server.
 * - Read-your-writes: the response of each of kanaria's own writes is kept as an overlay until the
 *   watch delivers that version (or a newer one), so the next tick never acts on the copy from before
 *   the write. A 409 re-reads the object from the API server for the same reason.
 * - Apply skips the request when the cached object already carries every field and value of the
 *   desired one and kanaria applied exactly that object last time (so a field kanaria stopped
 *   setting is still removed by one apply).
 */

import { createHash } from "node:crypto";
import { ConflictError } from "./errors.ts";
import type { EventInput, KubeClient, KubeObject, ObjectRef } from "./types.ts";

/** What a watcher offers the cache: its objects by "namespace/name" (or "name" when cluster-scoped). */
export interface CacheSource {
  get(key: string): KubeObject | undefined;
  list(): KubeObject[];
}

export interface CacheScope {
  apiVersion: string;
  kind: string;
  /** Omit for a watch over all namespaces. */
  namespace?: string;
}

/** Marks a cached object whose content was cut down (a Secret without data): it is read live. */
export const PARTIAL = Symbol("kanaria.partial");

type Partial = { [PARTIAL]?: true };

/** Secret types whose data kanaria may need (config tracking, provider credentials); others keep metadata only. */
const SECRET_TYPES_WITH_DATA = new Set([
  "Opaque",
  "kubernetes.io/basic-auth",
  "kubernetes.io/ssh-auth",
  "kubernetes.io/tls",
]);

/** Client-side `kubectl apply` (and Argo CD by default) keeps a whole copy of the manifest here. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * What the caches keep of an object: no managedFields (often half an object's size), no copy of the
 * manifest that client-side apply keeps in an annotation (kanaria never reads it), no data for
 * Secrets kanaria never reads (service account tokens, registry credentials, Helm releases). Frozen:
 * the object is shared by every reader, so a change must be made on a copy.
 */
export function cacheForm<T extends KubeObject>(object: T): T {
  const { managedFields: _, ...metadata } = object.metadata as T["metadata"] & { managedFields?: unknown };
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _copy, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  let slim = { ...object, metadata } as T;
  if (
    object.kind === "Secret" &&
    !SECRET_TYPES_WITH_DATA.has((object as { type?: string }).type ?? "Opaque")
  ) {
    const { data: _d, stringData: _s, ...rest } = slim as T & { data?: unknown; stringData?: unknown };
    slim = Object.assign(rest as T, { [PARTIAL]: true });
  }
  return deepFreeze(slim);
}

function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

function scopeKey(apiVersion: string, kind: string, namespace: string | undefined): string {
  return `${apiVersion}/${kind}/${namespace ?? "*"}`;
}

/** The registry of watch caches, by apiVersion/kind/namespace. */
export class CacheRegistry {
  private readonly sources = new Map<string, CacheSource[]>();

  /** Makes `source` answer reads in its scope; returns a function that takes it back. */
  register(scope: CacheScope, source: CacheSource): () => void {
    const key = scopeKey(scope.apiVersion, scope.kind, scope.namespace);
    this.sources.set(key, [...(this.sources.get(key) ?? []), source]);
    return () => {
      const rest = (this.sources.get(key) ?? []).filter((s) => s !== source);
      if (rest.length > 0) this.sources.set(key, rest);
      else this.sources.delete(key);
    };
  }

  /** The cache covering a namespace: one for that namespace, else one for all namespaces. */
  lookup(apiVersion: string, kind: string, namespace: string | undefined): CacheSource | undefined {
    const own = namespace === undefined ? undefined : this.sources.get(scopeKey(apiVersion, kind, namespace));
    return (own ?? this.sources.get(scopeKey(apiVersion, kind, undefined)))?.[0];
  }
}

export interface CacheStats {
  /** Reads answered from a cache. */
  hits: number;
  /** Reads sent to the API server. */
  misses: number;
  /** Applies skipped because the cluster already matched. */
  skippedWrites: number;
}

/** Kanaria's own write, kept until the cache catches up. `object` undefined: kanaria deleted it. */
interface Overlay {
  ref: ObjectRef;
  object: KubeObject | undefined;
  resourceVersion: string | undefined;
  /** The cached object's resourceVersion when the write was made. */
  basis: string | undefined;
}

const refKey = (ref: ObjectRef) => `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
const objectRefOf = (o: KubeObject): ObjectRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
});
const nameKey = (ref: { namespace?: string; name: string }) =>
  ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;

/** a is newer than b; resourceVersions are etcd revisions (integers), compared as such when they are. */
function newer(a: string | undefined, b: string | undefined): boolean | undefined {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  return BigInt(a) > BigInt(b);
}

/** How many overlays may pile up before the ones the caches caught up with are dropped. */
const PRUNE_AT = 1000;

export class CachedKubeClient implements KubeClient {
  readonly stats: CacheStats = { hits: 0, misses: 0, skippedWrites: 0 };
  private readonly inner: KubeClient;
  private readonly registry: CacheRegistry;
  private readonly overlays = new Map<string, Overlay>();
  /** Hash of the object kanaria last applied, per object. */
  private readonly applied = new Map<string, string>();
  private pruneAt = PRUNE_AT;

  constructor(inner: KubeClient, registry: CacheRegistry) {
    this.inner = inner;
    this.registry = registry;
  }

  async get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    const source = this.registry.lookup(ref.apiVersion, ref.kind, ref.namespace);
    if (!source) return this.live(ref);
    const cached = this.fresh(ref, source.get(nameKey(ref)));
    if (cached && (cached as Partial)[PARTIAL]) return this.live(ref);
    this.stats.hits += 1;
    return cached as T | undefined;
  }

  getLive<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    return this.live(ref);
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<T[]> {
    const source = this.registry.lookup(apiVersion, kind, namespace);
    const matches = labelSelector === undefined ? () => true : equalitySelector(labelSelector);
    if (!source || !matches) {
      this.stats.misses += 1;
      return this.inner.list<T>(apiVersion, kind, namespace, labelSelector);
    }
    this.stats.hits += 1;
    const items = source
      .list()
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => this.fresh(objectRefOf(o), o))
      .filter((o): o is KubeObject => o !== undefined && matches(o.metadata.labels ?? {}));
    // Objects kanaria created that the watch has not delivered yet.
    for (const overlay of this.overlays.values()) {
      const o = overlay.object;
      if (!o || o.apiVersion !== apiVersion || o.kind !== kind) continue;
      if (namespace !== undefined && o.metadata.namespace !== namespace) continue;
      if (!source.get(nameKey(objectRefOf(o))) && matches(o.metadata.labels ?? {})) items.push(o);
    }
    if (items.some((o) => (o as Partial)[PARTIAL])) {
      this.stats.misses += 1;
      return this.inner.list<T>(apiVersion, kind, namespace, labelSelector);
    }
    return items as T[];
  }

  async apply<T extends KubeObject>(object: T): Promise<T> {
    const ref = objectRefOf(object);
    const key = refKey(ref);
    const hash = fingerprint(object);
    const source = this.registry.lookup(ref.apiVersion, ref.kind, ref.namespace);
    const current = source && this.fresh(ref, source.get(nameKey(ref)));
    if (
      current &&
      !(current as Partial)[PARTIAL] &&
      this.applied.get(key) === hash &&
      contains(current, object)
    ) {
      this.stats.skippedWrites += 1;
      return current as T;
    }
    const written = await this.write(ref, () => this.inner.apply(object));
    this.applied.set(key, hash);
    return written;
  }

  mergePatch<T extends KubeObject>(ref: ObjectRef, patch: Record<string, unknown>): Promise<T> {
    return this.write(ref, () => this.inner.mergePatch<T>(ref, patch));
  }

  replaceStatus<T extends KubeObject>(object: T): Promise<T> {
    return this.write(objectRefOf(object), () => this.inner.replaceStatus(object));
  }

  async delete(ref: ObjectRef): Promise<void> {
    const basis = this.registry.lookup(ref.apiVersion, ref.kind, ref.namespace)?.get(nameKey(ref));
    await this.inner.delete(ref);
    this.applied.delete(refKey(ref));
    this.overlays.set(refKey(ref), {
      ref,
      object: undefined,
      resourceVersion: undefined,
      basis: basis?.metadata.resourceVersion,
    });
  }

  event(input: EventInput): Promise<void> {
    return this.inner.event(input);
  }

  /** This version of the object is the response to one of kanaria's own writes (its watch event wakes nobody). */
  wrote(object: KubeObject): boolean {
    const version = object.metadata.resourceVersion;
    return (
      version !== undefined && this.overlays.get(refKey(objectRefOf(object)))?.resourceVersion === version
    );
  }

  private async live<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    this.stats.misses += 1;
    return this.inner.get<T>(ref);
  }

  /** Runs a write and keeps its result as the object's overlay; a conflict refreshes the overlay from the server. */
  private async write<T extends KubeObject>(ref: ObjectRef, send: () => Promise<T>): Promise<T> {
    const source = this.registry.lookup(ref.apiVersion, ref.kind, ref.namespace);
    const basis = source?.get(nameKey(ref))?.metadata.resourceVersion;
    try {
      const written = await send();
      if (source) this.remember(ref, written, basis);
      return written;
    } catch (err) {
      if (err instanceof ConflictError && source) {
        // The cache is behind the object; read it once so the retry does not conflict again.
        const latest = await this.live<KubeObject>(ref);
        if (latest) this.remember(ref, latest, basis);
      }
      throw err;
    }
  }

  private remember(ref: ObjectRef, object: KubeObject, basis: string | undefined): void {
    if (this.overlays.size >= this.pruneAt) this.prune();
    this.overlays.set(refKey(ref), {
      ref,
      object: cacheForm(object),
      resourceVersion: object.metadata.resourceVersion,
      basis,
    });
  }

  /** Drops overlays the caches have caught up with (objects kanaria wrote once and never read again). */
  private prune(): void {
    for (const { ref } of [...this.overlays.values()]) {
      const source = this.registry.lookup(ref.apiVersion, ref.kind, ref.namespace);
      // fresh() drops the overlay when the cache has its version or a newer one.
      if (source) this.fresh(ref, source.get(nameKey(ref)));
    }
    this.pruneAt = Math.max(PRUNE_AT, this.overlays.size * 2);
  }

  /** The cached object, unless one of kanaria's writes is newer; drops overlays the cache has caught up with. */
  private fresh(ref: ObjectRef, cached: KubeObject | undefined): KubeObject | undefined {
    const key = refKey(ref);
    const overlay = this.overlays.get(key);
    if (!overlay) return cached;
    const cachedVersion = cached?.metadata.resourceVersion;
    const overlayIsNewer = newer(overlay.resourceVersion, cachedVersion);
    if (overlayIsNewer === true || (overlayIsNewer === undefined && cachedVersion === overlay.basis)) {
      return overlay.object;
    }
    this.overlays.delete(key);
    return cached;
  }
}

/**
 * Identifies an applied object. Plain JSON, not canonical: the same builder produces the same key
 * order, and a different order costs one needless apply, never a missed one.
 */
function fingerprint(object: KubeObject): string {
  return createHash("sha1").update(JSON.stringify(object)).digest("base64");
}

/** Every field of `desired` is in `current` with the same value (lists: same length, item by item). */
export function contains(current: unknown, desired: unknown): boolean {
  if (desired === undefined) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(current)) return desired.length === 0 && current === undefined;
    return desired.length === current.length && desired.every((d, i) => contains(current[i], d));
  }
  if (desired !== null && typeof desired === "object") {
    const entries = Object.entries(desired);
    if (current === undefined) return entries.every(([, v]) => isEmpty(v));
    if (current === null || typeof current !== "object" || Array.isArray(current)) return false;
    const c = current as Record<string, unknown>;
    return entries.every(([k, v]) => contains(c[k], v));
  }
  return current === desired;
}

/** Values the API server drops when stored: an empty map or list, or nothing. */
function isEmpty(value: unknown): boolean {
  if (value === undefined) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (value !== null && typeof value === "object") return Object.values(value).every(isEmpty);
  return false;
}

/**
 * A matcher for label selectors made of `key=value`, `key==value`, `key!=value` terms; undefined for
 * anything else (set-based selectors), which then goes to the API server.
 */
export function equalitySelector(
  selector: string,
): ((labels: Record<string, string>) => boolean) | undefined {
  const terms = selector
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  const parsed: { key: string; value: string; equal: boolean }[] = [];
  for (const term of terms) {
    const m = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/.exec(term);
    if (!m) return undefined;
    parsed.push({ key: m[1] as string, value: m[3] as string, equal: m[2] !== "!=" });
  }
  return (labels) => parsed.every((t) => (labels[t.key] === t.value) === t.equal);
}
