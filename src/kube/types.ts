import type { KubernetesObject } from "@kubernetes/client-node";

/** Identifies one object: enough to read, patch or delete it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export type KubeObject = KubernetesObject & { apiVersion: string; kind: string; metadata: { name: string } };

export interface EventInput {
  /** The object the event is about (a Canary, usually). */
  regarding: KubeObject;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /**
   * What the event was decided from (e.g. the Canary's status before the decision). Given one, the
   * Event's name is derived from it, so a process that replays the same decision after a crash finds
   * the Event already there instead of recording it twice.
   */
  basis?: string;
}

/**
 * The Kubernetes operations the controller, routers and workload code need; implemented over the
 * REST layer (kube/rest.ts, raw JSON over a KubeConnection) in kube/client.ts, and by an in-memory
 * fake in unit tests. Field manager "kanaria" is used for every write.
 */
export interface KubeClient {
  /** Returns undefined on 404. */
  get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  /**
   * Reads from the API server past any cache, managedFields included (caches drop them); a client
   * without a cache has no need for it. Only for rare reads, e.g. who changed a drifted object.
   */
  getLive?<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined>;
  list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<T[]>;
  /** Server-side apply of the fields kanaria owns (force: kanaria wins conflicts on those fields). */
  apply<T extends KubeObject>(object: T): Promise<T>;
  /** JSON merge patch of metadata/spec. */
  mergePatch<T extends KubeObject>(ref: ObjectRef, patch: Record<string, unknown>): Promise<T>;
  /** Replaces `.status` through the status subresource; `resourceVersion` guards against lost updates. */
  replaceStatus<T extends KubeObject>(object: T): Promise<T>;
  /** Idempotent: a missing object is not an error. */
  delete(ref: ObjectRef): Promise<void>;
  /** Records a core/v1 Event; failures are logged, never thrown (events are best effort). */
  event(input: EventInput): Promise<void>;
}
