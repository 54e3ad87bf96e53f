// The Event recorder behind KubeClient.event (see EventRecorder below).
import { createHash, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { ConflictError, errorMessage, KubeApiError } from "./errors.ts";
import { describe, refOf } from "./objects.ts";
import { FIELD_MANAGER, type KubeRest, MERGE_PATCH } from "./rest.ts";
import type { EventInput } from "./types.ts";

export interface RecorderOptions {
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
export class EventRecorder {
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
      if (!(input.basis && err instanceof ConflictError)) throw err;
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
