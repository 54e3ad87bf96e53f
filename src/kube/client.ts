import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { type HttpResponse, type KubeConnection, readBody } from "./connection.ts";
import { ConflictError, type EventInput, type KubeClient, type KubeObject, type ObjectRef } from "./types.ts";

const FIELD_MANAGER = "kanaria";
const REQUEST_TIMEOUT_MS = 30_000;
const LIST_PAGE_SIZE = 500;

type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
const SERVER_SIDE_APPLY = "application/apply-patch+yaml";
const MERGE_PATCH = "application/merge-patch+json";

/** A failed API request; `message` carries the API server's Status.message so callers can show it. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  /** HTTP status code (404, 422, ...). */
  readonly code: number;
  /** Status.reason ("NotFound", "Invalid", ...), when the server sent a Status. */
  readonly reason: string | undefined;

  constructor(code: number, message: string, reason?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.reason = reason;
  }
}

/** What is needed to find a resource's REST path; without `name` it is the collection. */
export interface ResourceRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
}

export interface ListResult<T> {
  items: T[];
  /** The list's resourceVersion: a watch started from it sees every later change. */
  resourceVersion: string;
}

interface KubeList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

interface KubeStatus {
  message?: string;
  reason?: string;
}

/** A group/version's kinds, as discovery lists them. */
type Resources = Map<string, { plural: string; namespaced: boolean }>;

/** How long a discovery answer that lacks a kind is trusted (a CRD may be installed meanwhile). */
const DISCOVERY_RETRY_MS = 10_000;

/**
 * Raw JSON access to any resource over a KubeConnection: discovery (kind -> plural and scope, cached
 * per apiVersion), requests that keep the JSON exactly as sent (timestamps stay strings, fields newer
 * than any generated model survive server-side apply), and watch streams.
 */
export class KubeRest {
  readonly connection: KubeConnection;
  private readonly discovery = new Map<string, { at: number; resources: Promise<Resources> }>();

  constructor(connection: KubeConnection) {
    this.connection = connection;
  }

  /** REST path of an object, or of its collection when `name` is absent (all namespaces without `namespace`). */
  async resourcePath(ref: ResourceRef): Promise<string> {
    let resource: { plural: string; namespaced: boolean } | undefined;
    try {
      resource = (await this.resources(ref.apiVersion, ref.kind)).get(ref.kind);
    } catch (err) {
      // A plain Error, not a KubeApiError: a 404 from discovery must not read as "object not found".
      throw new Error(`cannot resolve ${ref.kind} (${ref.apiVersion}): ${errorMessage(err)}`, { cause: err });
    }
    if (!resource) {
      throw new Error(
        `cannot resolve ${ref.kind} (${ref.apiVersion}): the API server does not serve this kind`,
      );
    }
    const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
    // An object named without a namespace is in the context's namespace, as kubectl reads it.
    const namespace = ref.namespace ?? (ref.name ? (this.connection.namespace ?? "default") : undefined);
    const scope = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    return `${base}${scope}/${resource.plural}${ref.name ? `/${encodeURIComponent(ref.name)}` : ""}`;
  }

  /** The kinds of an apiVersion; asked again when a kind is missing from an answer older than DISCOVERY_RETRY_MS. */
  private resources(apiVersion: string, kind: string): Promise<Resources> {
    const cached = this.discovery.get(apiVersion);
    if (cached) {
      const stale = Date.now() - cached.at > DISCOVERY_RETRY_MS;
      const answer = cached.resources.then(
        (r) => (r.has(kind) || !stale ? r : undefined),
        () => undefined,
      );
      return answer.then((r) => r ?? this.discover(apiVersion));
    }
    return this.discover(apiVersion);
  }

  private discover(apiVersion: string): Promise<Resources> {
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const resources = this.request<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>(
      "GET",
      path,
    ).then((list) => {
      const byKind: Resources = new Map();
      for (const r of list.resources ?? []) {
        if (!r.name.includes("/")) byKind.set(r.kind, { plural: r.name, namespaced: r.namespaced });
      }
      return byKind;
    });
    this.discovery.set(apiVersion, { at: Date.now(), resources });
    // A failed discovery is not kept: the next call asks again.
    resources.catch(() => this.discovery.delete(apiVersion));
    return resources;
  }

  async request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.connection.open({
      method,
      path: withQuery(path, options.query),
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.contentType ? { contentType: options.contentType } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await readBody(response.body);
    const code = response.statusCode;
    if (code >= 200 && code <= 299) return (text ? JSON.parse(text) : {}) as T;
    throw apiError(code, text);
  }

  /** A streaming GET (a watch); the caller reads the body and aborts through `signal`. */
  async stream(path: string, query: RequestOptions["query"], signal: AbortSignal): Promise<HttpResponse> {
    const response = await this.connection.open({ method: "GET", path: withQuery(path, query), signal });
    const code = response.statusCode;
    if (code >= 200 && code <= 299) return response;
    throw apiError(code, await readBody(response.body));
  }

  /** Lists every object of a kind page by page; items get apiVersion/kind (the server omits them for built-ins). */
  async listAll<T extends KubeObject>(
    ref: Omit<ResourceRef, "name">,
    labelSelector?: string,
  ): Promise<ListResult<T>> {
    const path = await this.resourcePath(ref);
    const items: T[] = [];
    let resourceVersion = "";
    let continueToken: string | undefined;
    do {
      const page = await this.request<KubeList<T>>("GET", path, {
        query: { labelSelector, limit: LIST_PAGE_SIZE, continue: continueToken },
      });
      for (const item of page.items ?? [])
        items.push({ ...item, apiVersion: ref.apiVersion, kind: ref.kind });
      resourceVersion = page.metadata?.resourceVersion ?? "";
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }
}

function withQuery(path: string, query: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

function apiError(code: number, text: string): KubeApiError {
  let status: KubeStatus | undefined;
  try {
    status = JSON.parse(text) as KubeStatus;
  } catch {
    // Not JSON (a proxy's HTML error page, say): the raw text is the best message there is.
  }
  const message = status?.message || text.trim().slice(0, 300) || `HTTP ${code}`;
  return new KubeApiError(code, message, status?.reason);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}

function describeCollection(apiVersion: string, kind: string, namespace: string | undefined): string {
  return `${kind} (${apiVersion}) ${namespace ? `in namespace ${namespace}` : "in all namespaces"}`;
}

function refOf(object: KubeObject): ObjectRef {
  const { apiVersion, kind, metadata } = object;
  return {
    apiVersion,
    kind,
    name: metadata.name,
    ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
  };
}

/** Prefixes what was attempted; 409 becomes ConflictError so callers can re-read and retry. */
function failure(attempted: string, err: unknown): Error {
  const message = `${attempted}: ${errorMessage(err)}`;
  if (!(err instanceof KubeApiError)) return new Error(message, { cause: err });
  if (err.code === 409) return new ConflictError(message, { cause: err });
  return new KubeApiError(err.code, message, err.reason, { cause: err });
}

export interface KubeClientOptions {
  /** Identical consecutive Events for one object within this window bump `count`; default 5 minutes. */
  eventDedupWindowMs?: number;
  /** Events' reportingInstance; default the host name (the Pod name in a cluster). */
  instance?: string;
  now?: () => Date;
}

export function createKubeClient(
  connection: KubeConnection,
  logger: Logger,
  options: KubeClientOptions = {},
): KubeClient {
  const rest = new KubeRest(connection);
  const log = logger.child({ component: "kube-client" });
  const events = new EventRecorder(rest, log, {
    windowMs: options.eventDedupWindowMs ?? 5 * 60_000,
    instance: options.instance ?? hostname(),
    now: options.now ?? (() => new Date()),
  });
  return new ApiServerClient(rest, log, events);
}

class ApiServerClient implements KubeClient {
  private readonly rest: KubeRest;
  private readonly log: Logger;
  private readonly events: EventRecorder;

  constructor(rest: KubeRest, log: Logger, events: EventRecorder) {
    this.rest = rest;
    this.log = log;
    this.events = events;
  }

  async get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.call("get", ref, async (path) => this.rest.request<T>("GET", path));
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<T[]> {
    try {
      return (await this.rest.listAll<T>({ apiVersion, kind, namespace }, labelSelector)).items;
    } catch (err) {
      throw failure(`list ${describeCollection(apiVersion, kind, namespace)}`, err);
    }
  }

  async apply<T extends KubeObject>(object: T): Promise<T> {
    // The server rejects apply requests that carry managedFields (e.g. an object that was read back).
    // A resourceVersion is kept: whoever sets one asks for the apply to fail if the object moved on.
    const { managedFields: _, ...metadata } = object.metadata as KubeObject["metadata"] & {
      managedFields?: unknown;
    };
    const applied = await this.call("apply", refOf(object), async (path) =>
      this.rest.request<T>("PATCH", path, {
        query: { fieldManager: FIELD_MANAGER, force: true },
        body: { ...object, metadata },
        contentType: SERVER_SIDE_APPLY,
      }),
    );
    this.log.debug(refOf(object), "applied");
    return applied;
  }

  async mergePatch<T extends KubeObject>(ref: ObjectRef, patch: Record<string, unknown>): Promise<T> {
    const patched = await this.call("patch", ref, async (path) =>
      this.rest.request<T>("PATCH", path, {
        query: { fieldManager: FIELD_MANAGER },
        body: patch,
        contentType: MERGE_PATCH,
      }),
    );
    this.log.debug(ref, "patched");
    return patched;
  }

  async replaceStatus<T extends KubeObject>(object: T): Promise<T> {
    const ref = refOf(object);
    const replaced = await this.call("update status of", ref, async (path) =>
      this.rest.request<T>("PUT", `${path}/status`, { query: { fieldManager: FIELD_MANAGER }, body: object }),
    );
    this.log.debug(ref, "status updated");
    return replaced;
  }

  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.call("delete", ref, async (path) => this.rest.request("DELETE", path));
      this.log.debug(ref, "deleted");
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 404)) throw err;
    }
  }

  event(input: EventInput): Promise<void> {
    return this.events.record(input);
  }

  /** Resolves the object's path and runs `fn`, describing any failure with the action and object. */
  private async call<T>(action: string, ref: ObjectRef, fn: (path: string) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.rest.resourcePath(ref));
    } catch (err) {
      throw failure(`${action} ${describe(ref)}`, err);
    }
  }
}

interface RecorderOptions {
  windowMs: number;
  instance: string;
  now: () => Date;
}

/** The last Event recorded for one object. */
interface LastEvent {
  signature: string;
  namespace: string;
  name: string;
  count: number;
  lastMs: number;
}

/** Enough objects for every Canary of a large cluster; older entries are evicted first. */
const MAX_TRACKED_OBJECTS = 2000;
/**
 * What the API server allows an Event with an eventTime, in bytes: a note (long analysis messages are
 * cut there), and reportingInstance, action and reason.
 */
const MAX_MESSAGE_BYTES = 1024;
const MAX_FIELD_BYTES = 128;

/**
 * Writes core/v1 Events. Like client-go's EventCorrelator, but simpler: when an object gets the same
 * event as its previous one within the window, that Event's count and lastTimestamp are bumped
 * instead of piling up new Event objects (a Canary waiting on a failing check repeats itself a lot).
 */
class EventRecorder {
  private readonly rest: KubeRest;
  private readonly log: Logger;
  private readonly options: RecorderOptions;
  private readonly last = new Map<string, LastEvent>();
  /** The last eventTime handed out, in microseconds since the epoch. */
  private lastMicros = 0;

  constructor(rest: KubeRest, log: Logger, options: RecorderOptions) {
    this.rest = rest;
    this.log = log;
    this.options = options;
  }

  /**
   * The Event is remembered as the object's last before its request goes out, so the Events of one
   * decision can be recorded at once and the next repeat is still compared with the last one asked for.
   */
  async record(input: EventInput): Promise<void> {
    const { regarding } = input;
    const key =
      regarding.metadata.uid ?? `${regarding.apiVersion}/${regarding.kind}/${describe(refOf(regarding))}`;
    const signature = [input.type, input.reason, input.message].join("\n");
    try {
      const now = this.options.now();
      // Taken before the first await: Events asked for at once keep the order they were asked in.
      const at = this.microTime(now);
      const previous = this.last.get(key);
      if (previous?.signature === signature && now.getTime() - previous.lastMs < this.options.windowMs) {
        this.remember(key, previous);
        if (await this.bump(previous, now, at)) return;
      }
      const event = this.named(input, signature, now);
      this.remember(key, event);
      await this.create(input, event, now, at);
    } catch (err) {
      // Events are best effort: the controller must not fail a reconcile because of one.
      this.log.warn(
        { ...refOf(regarding), reason: input.reason, err: errorMessage(err) },
        "recording an event failed",
      );
    }
  }

  /**
   * When an Event happened, as a MicroTime later than every one this recorder gave before: core/v1's
   * timestamps have whole seconds, so the Events of one decision (NewRevision, then Progressing) could
   * not be told apart by time. Within one millisecond the microseconds count up; readers order
   * Events by eventTime and series.lastObservedTime (src/cli/release-facts.ts).
   */
  private microTime(now: Date): string {
    const micros = Math.max(now.getTime() * 1000, this.lastMicros + 1);
    this.lastMicros = micros;
    const seconds = new Date(Math.floor(micros / 1_000_000) * 1000).toISOString().slice(0, 19);
    return `${seconds}.${String(micros % 1_000_000).padStart(6, "0")}Z`;
  }

  /** Returns false when the Event is gone (Events expire after an hour by default). */
  private async bump(event: LastEvent, now: Date, at: string): Promise<boolean> {
    const path = `${eventsPath(event.namespace)}/${encodeURIComponent(event.name)}`;
    try {
      await this.rest.request("PATCH", path, {
        body: {
          count: event.count + 1,
          lastTimestamp: timestamp(now),
          series: { count: event.count + 1, lastObservedTime: at },
        },
        contentType: MERGE_PATCH,
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return false;
      throw err;
    }
    event.count += 1;
    event.lastMs = now.getTime();
    return true;
  }

  /** The Event a new record becomes, named before it is posted. */
  private named(input: EventInput, signature: string, now: Date): LastEvent {
    const { regarding } = input;
    // Cluster-scoped objects get their Events in "default", as kubectl and client-go do.
    const namespace = regarding.metadata.namespace || "default";
    // client-go's naming scheme (<object>.<unique hex>), with the object part cut so the name stays valid.
    // With a basis the name is the same for the same decision, so a replay of it is found, not repeated.
    const unique = input.basis
      ? createHash("sha256")
          .update(`${regarding.metadata.uid}\n${input.basis}\n${signature}`)
          .digest("hex")
          .slice(0, 24)
      : `${now.getTime().toString(16)}${randomBytes(4).toString("hex")}`;
    const name = `${regarding.metadata.name.slice(0, 200)}.${unique}`;
    return { signature, namespace, name, count: 1, lastMs: now.getTime() };
  }

  private async create(input: EventInput, event: LastEvent, now: Date, at: string): Promise<void> {
    const { namespace, name } = event;
    try {
      await this.post(input, namespace, name, now, at);
    } catch (err) {
      if (!(input.basis && err instanceof KubeApiError && err.code === 409)) throw err;
      // Recorded by a process that stopped before it wrote the decision down: the same decision, once.
      const existing = await this.rest.request<{ count?: number; lastTimestamp?: string }>(
        "GET",
        `${eventsPath(namespace)}/${encodeURIComponent(name)}`,
      );
      event.count = existing.count ?? 1;
    }
  }

  private async post(
    input: EventInput,
    namespace: string,
    name: string,
    now: Date,
    at: string,
  ): Promise<void> {
    const { regarding } = input;
    await this.rest.request("POST", eventsPath(namespace), {
      body: {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          name: regarding.metadata.name,
          namespace: regarding.metadata.namespace,
          uid: regarding.metadata.uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
        type: input.type,
        reason: input.reason,
        message: cutBytes(input.message, MAX_MESSAGE_BYTES),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: cutBytes(this.options.instance, MAX_FIELD_BYTES),
        // With an eventTime the API server asks for an action: what the controller did, as the reason says.
        eventTime: at,
        action: cutBytes(input.reason, MAX_FIELD_BYTES),
        count: 1,
        firstTimestamp: timestamp(now),
        lastTimestamp: timestamp(now),
      },
    });
  }

  private remember(key: string, event: LastEvent): void {
    // Re-inserting keeps the Map in least-recently-used order, so the first key is the one to evict.
    this.last.delete(key);
    this.last.set(key, event);
    if (this.last.size > MAX_TRACKED_OBJECTS) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
  }
}

function eventsPath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
}

/** The longest start of `s` that takes at most `max` bytes in UTF-8, cut between characters. */
export function cutBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let bytes = 0;
  let out = "";
  for (const ch of s) {
    bytes += Buffer.byteLength(ch);
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/** metav1.Time is RFC 3339 with whole seconds. */
function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
