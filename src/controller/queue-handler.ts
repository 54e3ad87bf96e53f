/**
 * What the work queue does with a Canary's key, what Canary watch events put into it, and the resync
 * that keeps it level-triggered: the controller-runtime Reconciler/EventHandler seams, apart from the
 * wiring (wiring.ts) and the watches (manager.ts), so each is tested on its own.
 */
import type { Logger } from "pino";
import type { Canary } from "../api/canary.ts";
import { ConflictError } from "../kube/errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeObject } from "../kube/types.ts";
import type { ControllerMetrics } from "../observability/metrics.ts";
import type { CanaryIndex } from "./canary-index.ts";

type CanaryObject = Canary & KubeObject;

/** The part of the WorkQueue the handlers use. */
export interface KeyQueue {
  enqueue(key: string, delayMs?: number): void;
  forget(key: string): void;
  resync(key: string): void;
}

type Metrics = Pick<ControllerMetrics, "reconciled" | "phaseChanged" | "forget">;

export interface ReconcileHandlerOptions {
  queue: KeyQueue;
  reconcile(namespace: string, name: string): Promise<{ requeueAfterMs: number | undefined }>;
  /** With leader election: a replica that is not the leader drops keys. */
  isLeader?: (() => boolean) | undefined;
  logger: Logger;
  metrics?: Metrics | undefined;
}

/** The queue's handler: reconciles the Canary a key names and requeues it when the reconcile asks. */
export function reconcileHandler(options: ReconcileHandlerOptions): (key: string) => Promise<void> {
  const { queue, logger } = options;
  return async (key) => {
    // A replica that is not the leader drops the key; resync() queues everything on election.
    if (options.isLeader && !options.isLeader()) return;
    const [namespace = "", name = ""] = key.split("/");
    const started = performance.now();
    let failed = false;
    try {
      const result = await options.reconcile(namespace, name);
      // Guarded: the log object would be built on every tick even with debug off.
      if (logger.isLevelEnabled("debug"))
        logger.debug({ key, requeueAfterMs: result.requeueAfterMs }, "reconciled");
      queue.forget(key);
      if (result.requeueAfterMs !== undefined) queue.enqueue(key, result.requeueAfterMs);
    } catch (err) {
      // Someone else wrote the Canary between our read and our write: read it again at once.
      if (err instanceof ConflictError) queue.enqueue(key, 0);
      else {
        failed = true;
        throw err;
      }
    } finally {
      options.metrics?.reconciled(key, (performance.now() - started) / 1000, failed);
    }
  };
}

export interface CanaryEventOptions {
  queue: KeyQueue;
  index: CanaryIndex;
  /** Whether kanaria itself wrote this version of the object (its own writes wake nobody). */
  wrote(object: KubeObject): boolean;
  isLeader(): boolean;
  metrics?: Metrics | undefined;
}

/** The Canary watch's handlers: keep the index current and queue the Canary. */
export function canaryEventHandlers(options: CanaryEventOptions) {
  const { queue, index, metrics } = options;
  const enqueue = (c: KubeObject) => queue.enqueue(objectKey(c));
  return {
    onAdd(c: CanaryObject) {
      index.set(c);
      enqueue(c);
    },
    onUpdate(c: CanaryObject, previous: CanaryObject) {
      // Its own status writes too: they carry the configs it tracks.
      index.set(c);
      // kanaria's own status and finalizer writes do not wake it: the reconcile that wrote them requeued.
      if (!options.wrote(c)) enqueue(c);
      // Counted by the leader only, so a release that ends is counted once across the replicas.
      if (options.isLeader()) {
        metrics?.phaseChanged(
          c.metadata.namespace ?? "",
          c.metadata.name,
          previous.status?.phase,
          c.status?.phase,
        );
      }
    },
    onDelete(c: CanaryObject) {
      index.delete(c);
      enqueue(c);
      metrics?.forget(c.metadata.namespace ?? "", c.metadata.name);
    },
  };
}

/**
 * Level-triggered to the end: every Canary that is not being reconciled (or backing off) is
 * reconciled every `everyMs`, so a wake-up lost anywhere (a watch gap, an ignored self-write, a
 * timer) costs seconds, never a release. An idle reconcile reads only the caches. These runs take
 * the workers no due Canary needs: under a release of a thousand, steps and events go first.
 * Returns the function that stops it.
 */
export function startResync(
  canaries: () => KubeObject[],
  queue: KeyQueue,
  isLeader: () => boolean,
  everyMs: number,
): () => void {
  const timer = setInterval(() => {
    if (!isLeader()) return;
    for (const c of canaries()) queue.resync(objectKey(c));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
