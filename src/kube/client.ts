/**
 * The KubeClient the controller writes through: typed get/list/apply/patch/status/delete over the REST
 * layer (rest.ts), every failure naming the action and the object, and Events through the recorder
 * (events.ts).
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { KubeConnection } from "./connection.ts";
import { apiErrorFor, errorMessage, KubeApiError, UnservedKindError } from "./errors.ts";
import { EventRecorder } from "./events.ts";
import { describe, refOf } from "./objects.ts";
import { FIELD_MANAGER, KubeRest, MERGE_PATCH, SERVER_SIDE_APPLY } from "./rest.ts";
import type { EventInput, KubeClient, KubeObject, ObjectRef } from "./types.ts";

function describeCollection(apiVersion: string, kind: string, namespace: string | undefined): string {
  return `${kind} (${apiVersion}) ${namespace ? `in namespace ${namespace}` : "in all namespaces"}`;
}

/** Prefixes what was attempted, keeping the error's class (a 409 stays a ConflictError to re-read and retry). */
function failure(attempted: string, err: unknown): Error {
  const message = `${attempted}: ${errorMessage(err)}`;
  if (err instanceof UnservedKindError) return new UnservedKindError(message, { cause: err });
  if (!(err instanceof KubeApiError)) return new Error(message, { cause: err });
  return apiErrorFor(err.code, message, err.reason, { cause: err });
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
