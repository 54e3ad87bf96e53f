import { createInterface } from "node:readline";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../clock.ts";
import type { KubeConnection } from "./connection.ts";
import { objectKey } from "./objects.ts";
import { KubeRest, type ListResult } from "./rest.ts";
import type { KubeObject } from "./types.ts";

/** One line of a watch stream: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (object is then a Status). */
export interface WatchEvent {
  type: string;
  object: unknown;
}

/** Where a Watcher gets its data; the API server in production, a fake in unit tests. */
export interface WatchSource<T extends KubeObject> {
  list(): Promise<ListResult<T>>;
  /**
   * Streams the changes after `resourceVersion`. `onDone` is called once when the stream ends:
   * without an argument when it closed cleanly (the server's watch timeout), with the error otherwise.
   * Resolves to a function that aborts the stream.
   */
  watch(
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    onDone: (err?: unknown) => void,
  ): Promise<() => void>;
}

export interface WatchHandlers<T extends KubeObject> {
  onAdd?(object: T): void;
  onUpdate?(object: T, previous: T): void;
  onDelete?(object: T): void;
}

export interface WatcherOptions {
  logger: Logger;
  /** Relist when neither an event nor a bookmark arrived for this long; default 5 minutes. */
  watchdogMs?: number;
  /** First retry delay after a failure; doubles per consecutive failure. Default 1 s. */
  backoffBaseMs?: number;
  /** Default 30 s. */
  backoffMaxMs?: number;
  clock?: Clock;
  /** Jitter source, [0, 1). */
  random?: () => number;
  /** Called when the watch is started over after a 410 Gone, a silent stream or an error (for metrics). */
  onRestart?: (reason: "gone" | "stalled" | "failed") => void;
  /** What the cache keeps of each listed or watched object (e.g. without managedFields). */
  transform?: (object: KubeObject) => KubeObject;
}

/** How one watch stream ended. */
type WatchEnd =
  | { kind: "closed" }
  | { kind: "gone" }
  | { kind: "stalled" }
  | { kind: "stopped" }
  | { kind: "failed"; error: unknown };

/**
 * List+watch of one resource type with a local cache. Recovers on its own: relists when the
 * resourceVersion is too old (410 Gone), after any watch error, and when the stream goes silent for
 * `watchdogMs` (a half-open connection otherwise looks like a quiet cluster forever). Retries back
 * off exponentially with jitter. A relist is diffed against the cache, so handlers see every object
 * that appeared, changed or disappeared meanwhile exactly as if they had been watching.
 */
export class Watcher<T extends KubeObject> {
  /** Resolves once the first list is in the cache; rejects if the watcher is stopped before that. */
  readonly synced: Promise<void>;
  private readonly source: WatchSource<T>;
  private readonly handlers: WatchHandlers<T>;
  private readonly log: Logger;
  private readonly watchdogMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly onRestart: WatcherOptions["onRestart"];
  private readonly transform: (object: T) => T;
  private cache = new Map<string, T>();
  private resourceVersion = "";
  private failures = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** Ends the current watch stream or sleep early (set while one is in progress). */
  private interrupt: (() => void) | undefined;
  private settleSynced: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(source: WatchSource<T>, handlers: WatchHandlers<T>, options: WatcherOptions) {
    this.source = source;
    this.handlers = handlers;
    this.log = options.logger;
    this.watchdogMs = options.watchdogMs ?? 5 * 60_000;
    this.backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onRestart = options.onRestart;
    this.transform = (options.transform as ((object: T) => T) | undefined) ?? ((object) => object);
    this.synced = new Promise((resolve, reject) => {
      this.settleSynced = { resolve, reject };
    });
    // Nobody may be waiting for `synced` when stop() rejects it; that must not be an unhandled rejection.
    this.synced.catch(() => {});
  }

  /** Starts listing and watching; resolves like `synced`. */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.synced;
  }

  /** Ends the watch and waits for the loop to finish; no handler is called afterwards. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.interrupt?.();
    this.settleSynced?.reject(new Error("the watcher was stopped before its first list"));
    await this.loop;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      if (needList) {
        try {
          await this.relist();
        } catch (err) {
          this.failures += 1;
          this.log.warn({ err, failures: this.failures }, "list failed");
          await this.sleep(this.backoff());
          continue;
        }
        if (this.stopped) break;
      }
      const end = await this.watchOnce();
      needList = end.kind !== "closed";
      const delayMs = this.delayAfter(end);
      if (delayMs > 0) await this.sleep(delayMs);
    }
  }

  /** Logs how the stream ended and decides how long to wait before the next list or watch. */
  private delayAfter(end: WatchEnd & { healthy: boolean }): number {
    if (end.healthy) this.failures = 0;
    if (end.kind === "gone" || end.kind === "stalled" || end.kind === "failed") this.onRestart?.(end.kind);
    switch (end.kind) {
      case "stopped":
        return 0;
      case "closed":
        this.log.debug("watch closed by the server; resuming from the last resourceVersion");
        if (end.healthy) return 0;
        break;
      case "gone":
        this.log.info({ resourceVersion: this.resourceVersion }, "resourceVersion too old (410); relisting");
        // Normal after a long disconnect: relist at once, but back off if it keeps happening.
        if (this.failures === 0) {
          this.failures = 1;
          return 0;
        }
        break;
      case "stalled":
        this.log.warn({ watchdogMs: this.watchdogMs }, "no watch event or bookmark in time; relisting");
        break;
      case "failed":
        this.log.warn({ err: end.error }, "watch failed; relisting");
        break;
    }
    this.failures += 1;
    return this.backoff();
  }

  /** Exponential backoff with "equal jitter": between half and all of base * 2^(failures-1), capped. */
  private backoff(): number {
    const ceiling = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.max(0, this.failures - 1));
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const handle = this.clock.setTimeout(() => {
        this.interrupt = undefined;
        resolve();
      }, ms);
      this.interrupt = () => {
        this.clock.clearTimeout(handle);
        resolve();
      };
    });
  }

  /** Replaces the cache with a fresh list and reports the difference to the handlers. */
  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.source.list();
    if (this.stopped) return;
    const previous = this.cache;
    this.cache = new Map(items.map((item) => [objectKey(item), this.transform(item)]));
    this.resourceVersion = resourceVersion;
    for (const [key, item] of this.cache) {
      const old = previous.get(key);
      if (!old) this.emit(item, (h) => h.onAdd?.(item));
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) {
        this.emit(item, (h) => h.onUpdate?.(item, old));
      }
    }
    for (const [key, old] of previous) {
      if (!this.cache.has(key)) this.emit(old, (h) => h.onDelete?.(old));
    }
    this.settleSynced?.resolve();
    this.settleSynced = undefined;
  }

  /** Runs one watch stream until it ends, the watchdog fires or stop() is called. */
  private watchOnce(): Promise<WatchEnd & { healthy: boolean }> {
    return new Promise((resolve) => {
      // Whether the stream delivered anything besides an error: proof that the connection works.
      let healthy = false;
      let ended = false;
      let abort: (() => void) | undefined;
      let watchdog: unknown;
      const end = (how: WatchEnd): void => {
        if (ended) return;
        ended = true;
        this.clock.clearTimeout(watchdog);
        this.interrupt = undefined;
        abort?.();
        resolve({ ...how, healthy });
      };
      const armWatchdog = (): void => {
        this.clock.clearTimeout(watchdog);
        watchdog = this.clock.setTimeout(() => end({ kind: "stalled" }), this.watchdogMs);
      };
      this.interrupt = () => end({ kind: "stopped" });
      armWatchdog();
      const onEvent = (event: WatchEvent): void => {
        if (ended) return;
        if (event.type !== "ERROR") healthy = true;
        armWatchdog();
        const outcome = this.apply(event);
        if (outcome) end(outcome);
      };
      const onDone = (err?: unknown): void => {
        if (err === undefined || err === null) end({ kind: "closed" });
        else end(isGone(err) ? { kind: "gone" } : { kind: "failed", error: err });
      };
      this.source.watch(this.resourceVersion, onEvent, onDone).then(
        (stop) => {
          abort = stop;
          // The stream may have ended (watchdog, stop()) before the connection was even established.
          if (ended) stop();
        },
        (error: unknown) => end({ kind: "failed", error }),
      );
    });
  }

  /** Applies one event to the cache; returns how the stream ends if the event ends it. */
  private apply(event: WatchEvent): WatchEnd | undefined {
    if (event.type === "ERROR") {
      return isGone(event.object) ? { kind: "gone" } : { kind: "failed", error: statusError(event.object) };
    }
    const object = event.object as T;
    const resourceVersion = object?.metadata?.resourceVersion;
    if (!resourceVersion) {
      this.log.warn({ type: event.type }, "ignoring a watch event without an object");
      return undefined;
    }
    this.resourceVersion = resourceVersion;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        this.upsert(this.transform(object));
        break;
      case "DELETED":
        this.remove(object);
        break;
      case "BOOKMARK":
        break;
      default:
        this.log.warn({ type: event.type }, "ignoring a watch event of unknown type");
    }
    return undefined;
  }

  private upsert(object: T): void {
    const key = objectKey(object);
    const old = this.cache.get(key);
    // A relist may already have delivered this version; replaying it would be a spurious update.
    if (old?.metadata.resourceVersion === object.metadata.resourceVersion) return;
    this.cache.set(key, object);
    if (old) this.emit(object, (h) => h.onUpdate?.(object, old));
    else this.emit(object, (h) => h.onAdd?.(object));
  }

  private remove(object: T): void {
    const key = objectKey(object);
    if (!this.cache.delete(key)) return;
    this.emit(object, (h) => h.onDelete?.(object));
  }

  private emit(object: T, call: (handlers: WatchHandlers<T>) => void): void {
    if (this.stopped) return;
    try {
      call(this.handlers);
    } catch (err) {
      // A throwing handler must not break the stream for every other object.
      this.log.error({ err, key: objectKey(object) }, "watch handler failed");
    }
  }
}

interface StatusLike {
  code?: number;
  statusCode?: number;
  reason?: string;
  message?: string;
}

/** 410 Gone / reason Expired: the watch's resourceVersion was compacted away; only a relist helps. */
function isGone(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const status = value as StatusLike;
  return (
    status.code === 410 ||
    status.statusCode === 410 ||
    status.reason === "Expired" ||
    status.reason === "Gone"
  );
}

function statusError(value: unknown): Error {
  const status = (typeof value === "object" && value !== null ? value : {}) as StatusLike;
  return new Error(
    `watch error ${status.code ?? "?"} ${status.reason ?? ""}: ${status.message ?? "no message"}`,
  );
}

export interface ResourceSelector {
  apiVersion: string;
  kind: string;
  /** Omit to watch all namespaces. */
  namespace?: string;
  labelSelector?: string;
}

/**
 * The API server as a WatchSource. A stream with no data for `idleTimeoutMs` is cut (the Watcher's own
 * watchdog relists sooner; this only frees a connection the watchdog already gave up on).
 */
export function apiServerWatchSource<T extends KubeObject>(
  connection: KubeConnection,
  resource: ResourceSelector,
  idleTimeoutMs: number,
): WatchSource<T> {
  const rest = new KubeRest(connection);
  const { apiVersion, kind, namespace, labelSelector } = resource;
  return {
    list: () => rest.listAll<T>({ apiVersion, kind, namespace }, labelSelector),
    async watch(resourceVersion, onEvent, onDone) {
      const path = await rest.resourcePath({ apiVersion, kind, namespace });
      const abort = new AbortController();
      // The server ends each watch after 5-10 minutes (spread like client-go) so load rebalances.
      const response = await rest.stream(
        path,
        {
          watch: true,
          allowWatchBookmarks: true,
          resourceVersion,
          labelSelector,
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        },
        abort.signal,
      );
      let done = false;
      const finish = (err?: unknown): void => {
        if (done) return;
        done = true;
        onDone(err);
      };
      const { body } = response;
      response.cutWhenIdle(idleTimeoutMs, () => new Error("watch stream idle"));
      const lines = createInterface({ input: body, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on("line", (line) => {
        if (done || line.trim() === "") return;
        let event: { type?: string; object?: unknown };
        try {
          event = JSON.parse(line) as typeof event;
        } catch (err) {
          finish(new Error(`watch ${kind}: a line that is not JSON`, { cause: err }));
          body.destroy();
          return;
        }
        onEvent({ type: event.type ?? "", object: withKind(event.object, apiVersion, kind) });
      });
      // readline passes its input's errors on; both are handled, and an abort of ours is no error.
      const failed = (err: Error) => finish(abort.signal.aborted ? undefined : err);
      body.on("error", failed);
      lines.on("error", failed);
      lines.on("close", () => finish(response.complete() ? undefined : new Error("watch stream cut")));
      return () => {
        done = true;
        abort.abort();
      };
    },
  };
}

function withKind(object: unknown, apiVersion: string, kind: string): unknown {
  if (typeof object !== "object" || object === null || (object as { kind?: string }).kind === "Status")
    return object;
  return { ...object, apiVersion, kind };
}

/** A Watcher on the API server; call start() to begin. */
export function createWatcher<T extends KubeObject>(
  connection: KubeConnection,
  resource: ResourceSelector,
  handlers: WatchHandlers<T>,
  options: WatcherOptions,
): Watcher<T> {
  const watchdogMs = options.watchdogMs ?? 5 * 60_000;
  const logger = options.logger.child({
    component: "watcher",
    kind: resource.kind,
    namespace: resource.namespace,
  });
  const source = apiServerWatchSource<T>(connection, resource, watchdogMs + 30_000);
  return new Watcher(source, handlers, { ...options, watchdogMs, logger });
}
