import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "./work-queue.ts";

const logger = pino({ level: "silent" });

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function gate(): Gate {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Records when each key starts (fake ms since the test began) and lets the test decide when it ends. */
function recorder() {
  const started: { key: string; at: number }[] = [];
  const gates = new Map<string, Gate[]>();
  const t0 = Date.now();
  const handler = vi.fn(async (key: string) => {
    started.push({ key, at: Date.now() - t0 });
    const g = gate();
    gates.set(key, [...(gates.get(key) ?? []), g]);
    await g.promise;
  });
  /** Finishes the oldest unfinished run of `key`. */
  const finish = async (key: string): Promise<void> => {
    gates.get(key)?.shift()?.open();
    await vi.advanceTimersByTimeAsync(0);
  };
  return { started, handler, finish };
}

/** A one-worker queue over a recorder, with the lateness its onStart reports for each key. */
function oneWorkerReportingLateness() {
  const r = recorder();
  const late: [string, number][] = [];
  const queue = new WorkQueue(r.handler, {
    maxConcurrency: 1,
    logger,
    onStart: (key, lateMs) => late.push([key, lateMs]),
  });
  return { r, late, queue };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("WorkQueue", () => {
  it("coalesces a key enqueued several times before it runs", async () => {
    const handler = vi.fn(async () => {});
    const queue = new WorkQueue(handler, { logger });
    queue.enqueue("a", 10);
    queue.enqueue("a", 10);
    queue.enqueue("a", 10);
    await vi.advanceTimersByTimeAsync(10);
    expect(handler).toHaveBeenCalledTimes(1);
    expect(handler).toHaveBeenCalledWith("a");
  });

  it("never runs a key twice at once and runs it once more when enqueued meanwhile", async () => {
    const r = recorder();
    const queue = new WorkQueue(r.handler, { maxConcurrency: 4, logger });
    queue.enqueue("a");
    await vi.advanceTimersByTimeAsync(0);
    queue.enqueue("a");
    queue.enqueue("a");
    await vi.advanceTimersByTimeAsync(100);
    expect(r.started.map((s) => s.key)).toEqual(["a"]);
    expect(queue.processing).toBe(1);

    await r.finish("a");
    expect(r.started.map((s) => s.key)).toEqual(["a", "a"]);
    await r.finish("a");
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.handler).toHaveBeenCalledTimes(2);
    expect(queue.processing).toBe(0);
  });

  it("runs at most maxConcurrency keys at once, oldest first", async () => {
    const r = recorder();
    const queue = new WorkQueue(r.handler, { maxConcurrency: 2, logger });
    for (const key of ["a", "b", "c", "d"]) queue.enqueue(key);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.started.map((s) => s.key)).toEqual(["a", "b"]);
    expect(queue.waiting).toBe(2);
    await r.finish("b");
    expect(r.started.map((s) => s.key)).toEqual(["a", "b", "c"]);
    await r.finish("a");
    expect(r.started.map((s) => s.key)).toEqual(["a", "b", "c", "d"]);
  });

  it("reports how long each key queued for a worker after it was due", async () => {
    const { r, late, queue } = oneWorkerReportingLateness();
    queue.enqueue("a");
    queue.enqueue("b", 100);
    await vi.advanceTimersByTimeAsync(250);
    // b was due at 100 but the only worker is busy with a until 250.
    await r.finish("a");
    expect(late).toEqual([
      ["a", 0],
      ["b", 150],
    ]);
  });

  it("keeps the earliest requested time for a delayed key", async () => {
    const r = recorder();
    const queue = new WorkQueue(r.handler, { logger });
    queue.enqueue("late-then-early", 1000);
    queue.enqueue("late-then-early", 300);
    queue.enqueue("early-then-late", 200);
    queue.enqueue("early-then-late", 5000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.started).toEqual([
      { key: "early-then-late", at: 200 },
      { key: "late-then-early", at: 300 },
    ]);
  });

  it("runs a key enqueued with a delay while it is processed after both the run and the delay", async () => {
    const r = recorder();
    const queue = new WorkQueue(r.handler, { logger });
    queue.enqueue("a");
    await vi.advanceTimersByTimeAsync(0);
    queue.enqueue("a", 500);
    await vi.advanceTimersByTimeAsync(100);
    await r.finish("a");
    expect(r.started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(400);
    expect(r.started).toEqual([
      { key: "a", at: 0 },
      { key: "a", at: 500 },
    ]);
  });

  it("retries a failing key with exponential backoff until it succeeds", async () => {
    const t0 = Date.now();
    const runs: number[] = [];
    let failuresLeft = 3;
    const queue = new WorkQueue(
      async () => {
        runs.push(Date.now() - t0);
        if (failuresLeft-- > 0) throw new Error("boom");
      },
      { backoffBaseMs: 100, logger },
    );
    queue.enqueue("a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toEqual([0, 100, 300, 700]);
  });

  it("caps the backoff and starts over after forget()", () => {
    const queue = new WorkQueue(async () => {}, { backoffBaseMs: 100, backoffMaxMs: 500, logger });
    const delays = [1, 2, 3, 4, 5].map(() => queue.enqueueWithBackoff("a"));
    expect(delays).toEqual([100, 200, 400, 500, 500]);
    queue.forget("a");
    expect(queue.enqueueWithBackoff("a")).toBe(100);
  });

  it("stop() gives up after its timeout", async () => {
    const r = recorder();
    const queue = new WorkQueue(r.handler, { logger });
    queue.enqueue("stuck");
    await vi.advanceTimersByTimeAsync(0);
    const stopped = queue.stop(1000);
    await vi.advanceTimersByTimeAsync(999);
    let settled = false;
    void stopped.then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(stopped).resolves.toBe(false);
  });

  it("stop() drops waiting keys and waits only for the running ones", async () => {
    const r = recorder();
    const queue = new WorkQueue(r.handler, { maxConcurrency: 1, logger });
    queue.enqueue("running");
    queue.enqueue("due");
    await vi.advanceTimersByTimeAsync(0);
    queue.enqueue("running");

    const stopped = queue.stop(5000);
    await r.finish("running");
    await expect(stopped).resolves.toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.started.map((s) => s.key)).toEqual(["running"]);
  });

  it("does not retry a failure that happens after stop()", async () => {
    const g = gate();
    const handler = vi.fn(async () => {
      await g.promise;
      throw new Error("boom");
    });
    const queue = new WorkQueue(handler, { backoffBaseMs: 10, logger });
    queue.enqueue("a");
    await vi.advanceTimersByTimeAsync(0);
    const stopped = queue.stop();
    g.open();
    await expect(stopped).resolves.toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(handler).toHaveBeenCalledTimes(1);
  });

  it("resync starts a waiting key and a key that is not queued now; the handler plans the next time", async () => {
    const seen: string[] = [];
    const queue = new WorkQueue(async (key) => void seen.push(key), { logger });
    queue.enqueue("a", 10_000);
    queue.resync("a");
    queue.resync("b");
    await vi.advanceTimersByTimeAsync(0);
    expect(seen.sort()).toEqual(["a", "b"]);
    // The planned time was replaced, not kept beside: nothing runs at 10 s.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toHaveLength(2);
  });

  it("resync starts a waiting key whose time passed without its timer firing", async () => {
    const seen: string[] = [];
    const queue = new WorkQueue(async (key) => void seen.push(key), { logger });
    queue.enqueue("late", 100);
    vi.setSystemTime(Date.now() + 1_000); // the clock moves on, the timer has not run
    queue.resync("late");
    await Promise.resolve();
    expect(seen).toEqual(["late"]);
  });

  it("resync requests wait for the keys that are due, and do not count as late", async () => {
    const { r, late, queue } = oneWorkerReportingLateness();
    queue.enqueue("busy");
    await vi.advanceTimersByTimeAsync(0);
    queue.resync("r1");
    queue.resync("r2");
    queue.enqueue("step", 100);
    queue.enqueue("event");
    expect(queue.waiting).toBe(4);
    await vi.advanceTimersByTimeAsync(200);
    await r.finish("busy");
    await r.finish("event");
    await r.finish("step");
    await r.finish("r1");
    expect(r.started.map((s) => s.key)).toEqual(["busy", "event", "step", "r1", "r2"]);
    expect(late).toEqual([
      ["busy", 0],
      ["event", 200],
      ["step", 100],
    ]);
  });

  it("a resync keeps the time a key waits for: whichever comes first runs it", async () => {
    const { r, late, queue } = oneWorkerReportingLateness();
    queue.enqueue("busy");
    queue.enqueue("a", 500);
    await vi.advanceTimersByTimeAsync(0);
    queue.resync("a");
    await vi.advanceTimersByTimeAsync(1000);
    await r.finish("busy");
    // Due at 500, started at 1000: late, and run once for both requests.
    expect(late).toEqual([
      ["busy", 0],
      ["a", 500],
    ]);
    await r.finish("a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.started.map((s) => s.key)).toEqual(["busy", "a"]);
    expect(queue.waiting).toBe(0);
  });

  it("resync leaves a running key to requeue itself, and a failing key to its backoff", async () => {
    let release: () => void = () => {};
    const runs: string[] = [];
    const queue = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (key === "slow") await new Promise<void>((r) => (release = r));
        if (key === "broken") throw new Error("API down");
      },
      { logger, backoffBaseMs: 60_000 },
    );
    queue.enqueue("slow");
    queue.enqueue("broken");
    await vi.advanceTimersByTimeAsync(0);
    queue.resync("slow");
    queue.resync("broken");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs.sort()).toEqual(["broken", "slow"]);
    release();
    await vi.advanceTimersByTimeAsync(58_000);
    expect(runs.filter((k) => k === "broken")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(runs.filter((k) => k === "broken")).toHaveLength(2);
  });

  it("runs every request after it is made and no later than it is due (or the run in progress ends): random interleavings", async () => {
    for (let seed = 1; seed <= 60; seed++) await checkEveryRequestRuns(seed);
  });
});

/** A small deterministic generator (LCG), so a failing seed can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

/**
 * Workers outnumber keys, so a request waits only for its time and for the key's run in progress:
 * it must be answered by a start after it, at the latest when it is due or when that run ends. The
 * handler behaves like the reconcile handler (requeues itself, sometimes fails), while watch events
 * and resyncs arrive at random times.
 */
async function checkEveryRequestRuns(seed: number): Promise<void> {
  const rand = random(seed);
  const keys = ["a", "b", "c"];
  let seq = 0;
  const runs: { key: string; seq: number; at: number; endedAt?: number }[] = [];
  const requests: { key: string; seq: number; dueAt: number; runInProgress?: (typeof runs)[number] }[] = [];
  const request = (key: string, delayMs: number): void => {
    const running = runs.find((r) => r.key === key && r.endedAt === undefined);
    requests.push({
      key,
      seq: ++seq,
      dueAt: Date.now() + delayMs,
      ...(running ? { runInProgress: running } : {}),
    });
    queue.enqueue(key, delayMs);
  };
  const queue: WorkQueue = new WorkQueue(
    async (key) => {
      const run: (typeof runs)[number] = { key, seq: ++seq, at: Date.now() };
      runs.push(run);
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 300)));
      const fails = rand() < 0.1;
      if (!fails) {
        queue.forget(key);
        if (rand() < 0.8) request(key, Math.floor(rand() * 2000));
      }
      run.endedAt = Date.now();
      if (fails) throw new Error("API down");
    },
    { maxConcurrency: keys.length + 1, logger, backoffBaseMs: 100, backoffMaxMs: 100 },
  );
  for (let step = 0; step < 150; step++) {
    const key = keys[Math.floor(rand() * keys.length)] ?? "a";
    const action = rand();
    if (action < 0.3) request(key, Math.floor(rand() * 1500));
    else if (action < 0.4) queue.resync(key);
    await vi.advanceTimersByTimeAsync(Math.floor(rand() * 200));
  }
  await vi.advanceTimersByTimeAsync(10_000);
  for (const req of requests) {
    const answer = runs.find((r) => r.key === req.key && r.seq > req.seq);
    const deadline = Math.max(req.dueAt, req.runInProgress?.endedAt ?? 0);
    // The handler keeps requeuing: its last requests are not due yet.
    if (deadline > Date.now()) continue;
    expect(answer?.at, `seed ${seed}: ${req.key} due at ${deadline}`).toBeLessThanOrEqual(deadline);
  }
}
