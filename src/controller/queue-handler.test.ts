import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { canaryFixture, deploymentFixture } from "../../test/helpers/fixtures.ts";
import type { Canary } from "../api/canary.ts";
import { ConflictError } from "../kube/errors.ts";
import type { KubeObject } from "../kube/types.ts";
import { CanaryIndex } from "./canary-index.ts";
import { canaryEventHandlers, type KeyQueue, reconcileHandler, startResync } from "./queue-handler.ts";

const logger = pino({ level: "silent" });
type CanaryObject = Canary & KubeObject;

/** Records what the handlers ask of the queue. */
function recordingQueue() {
  const calls: string[] = [];
  const queue: KeyQueue = {
    enqueue: (key, delayMs = 0) => calls.push(`enqueue ${key} ${delayMs}`),
    forget: (key) => calls.push(`forget ${key}`),
    resync: (key) => calls.push(`resync ${key}`),
  };
  return { queue, calls };
}

function recordingMetrics() {
  return { reconciled: vi.fn(), phaseChanged: vi.fn(), forget: vi.fn() };
}

describe("reconcileHandler", () => {
  it("reconciles the Canary the key names and requeues it when the reconcile asks", async () => {
    const { queue, calls } = recordingQueue();
    const metrics = recordingMetrics();
    const reconcile = vi.fn(async () => ({ requeueAfterMs: 30_000 }));
    await reconcileHandler({ queue, reconcile, logger, metrics })("shop/podinfo");
    expect(reconcile).toHaveBeenCalledWith("shop", "podinfo");
    expect(calls).toEqual(["forget shop/podinfo", "enqueue shop/podinfo 30000"]);
    expect(metrics.reconciled).toHaveBeenCalledWith("shop/podinfo", expect.any(Number), false);
  });

  it("forgets a key whose reconcile asks for no requeue", async () => {
    const { queue, calls } = recordingQueue();
    await reconcileHandler({ queue, reconcile: async () => ({ requeueAfterMs: undefined }), logger })(
      "shop/gone",
    );
    expect(calls).toEqual(["forget shop/gone"]);
  });

  it("re-reads a Canary at once after a conflict, without counting a failure", async () => {
    const { queue, calls } = recordingQueue();
    const metrics = recordingMetrics();
    const reconcile = async () => {
      throw new ConflictError("the object has been modified");
    };
    await reconcileHandler({ queue, reconcile, logger, metrics })("shop/podinfo");
    expect(calls).toEqual(["enqueue shop/podinfo 0"]);
    expect(metrics.reconciled).toHaveBeenCalledWith("shop/podinfo", expect.any(Number), false);
  });

  it("hands any other error to the queue (which backs off) and counts the failure", async () => {
    const { queue, calls } = recordingQueue();
    const metrics = recordingMetrics();
    const reconcile = async () => {
      throw new Error("connection refused");
    };
    await expect(reconcileHandler({ queue, reconcile, logger, metrics })("shop/podinfo")).rejects.toThrow(
      "connection refused",
    );
    expect(calls).toEqual([]);
    expect(metrics.reconciled).toHaveBeenCalledWith("shop/podinfo", expect.any(Number), true);
  });

  it("drops the key on a replica that is not the leader", async () => {
    const { queue, calls } = recordingQueue();
    const reconcile = vi.fn(async () => ({ requeueAfterMs: 1 }));
    await reconcileHandler({ queue, reconcile, logger, isLeader: () => false })("shop/podinfo");
    expect(reconcile).not.toHaveBeenCalled();
    expect(calls).toEqual([]);
  });
});

describe("canaryEventHandlers", () => {
  const canary = (phase?: "Progressing" | "Succeeded") =>
    ({ ...canaryFixture(), ...(phase ? { status: { phase } } : {}) }) as CanaryObject;
  const setup = (wrote: boolean, leader: boolean) => {
    const { queue, calls } = recordingQueue();
    const index = new CanaryIndex();
    const metrics = recordingMetrics();
    const handlers = canaryEventHandlers({
      queue,
      index,
      wrote: () => wrote,
      isLeader: () => leader,
      metrics,
    });
    return { handlers, calls, index, metrics };
  };

  it("indexes an added Canary and queues it", () => {
    const { handlers, calls, index } = setup(false, true);
    handlers.onAdd(canary());
    expect(calls).toEqual(["enqueue shop/podinfo 0"]);
    expect([...index.canariesFor(deploymentFixture() as KubeObject, "Deployment")]).toEqual(["shop/podinfo"]);
  });

  it("does not queue a Canary for kanaria's own write, but counts its phase change", () => {
    const { handlers, calls, metrics } = setup(true, true);
    handlers.onUpdate(canary("Succeeded"), canary("Progressing"));
    expect(calls).toEqual([]);
    expect(metrics.phaseChanged).toHaveBeenCalledWith("shop", "podinfo", "Progressing", "Succeeded");
  });

  it("queues a Canary someone else changed; a replica that is not the leader counts no phase", () => {
    const { handlers, calls, metrics } = setup(false, false);
    handlers.onUpdate(canary("Succeeded"), canary("Progressing"));
    expect(calls).toEqual(["enqueue shop/podinfo 0"]);
    expect(metrics.phaseChanged).not.toHaveBeenCalled();
  });

  it("takes a deleted Canary out of the index and the metrics, and queues it to finalize", () => {
    const { handlers, calls, index, metrics } = setup(false, true);
    handlers.onAdd(canary());
    handlers.onDelete(canary());
    expect(calls).toEqual(["enqueue shop/podinfo 0", "enqueue shop/podinfo 0"]);
    expect(index.canariesFor(deploymentFixture() as KubeObject, "Deployment").size).toBe(0);
    expect(metrics.forget).toHaveBeenCalledWith("shop", "podinfo");
  });
});

describe("startResync", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resyncs every Canary each interval while leading, and stops when asked", () => {
    vi.useFakeTimers();
    const { queue, calls } = recordingQueue();
    let leader = false;
    const canaries = [canary("a"), canary("b")];
    const stop = startResync(
      () => canaries,
      queue,
      () => leader,
      30_000,
    );
    vi.advanceTimersByTime(30_000);
    expect(calls).toEqual([]);
    leader = true;
    vi.advanceTimersByTime(30_000);
    expect(calls).toEqual(["resync shop/a", "resync shop/b"]);
    stop();
    vi.advanceTimersByTime(60_000);
    expect(calls).toHaveLength(2);
  });

  function canary(name: string): KubeObject {
    return { apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", metadata: { name, namespace: "shop" } };
  }
});
