import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { KubeObject } from "./types.ts";
import { type WatchEvent, Watcher, type WatchSource } from "./watcher.ts";

const logger = pino({ level: "silent" });

type Obj = KubeObject & { data?: Record<string, string> };

interface Stream {
  resourceVersion: string;
  onEvent: (event: WatchEvent) => void;
  onDone: (err?: unknown) => void;
  aborted: boolean;
}

/** An in-memory API server for one resource type, with controls to break its watch streams. */
class FakeServer implements WatchSource<Obj> {
  objects = new Map<string, Obj>();
  revision = 10;
  lists: number[] = [];
  streams: Stream[] = [];
  listError: Error | undefined;
  private readonly t0 = Date.now();

  async list() {
    this.lists.push(Date.now() - this.t0);
    if (this.listError) throw this.listError;
    return { items: [...this.objects.values()], resourceVersion: String(this.revision) };
  }

  async watch(resourceVersion: string, onEvent: Stream["onEvent"], onDone: Stream["onDone"]) {
    const stream: Stream = { resourceVersion, onEvent, onDone, aborted: false };
    this.streams.push(stream);
    return () => {
      stream.aborted = true;
    };
  }

  get stream(): Stream {
    const stream = this.streams.at(-1);
    if (!stream) throw new Error("no watch stream yet");
    return stream;
  }

  /** Changes an object; `quietly` skips telling the watch stream (a change the watcher missed). */
  put(name: string, data: Record<string, string>, quietly = false): Obj {
    const existed = this.objects.has(name);
    const object: Obj = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace: "ns", resourceVersion: String(++this.revision) },
      data,
    };
    this.objects.set(name, object);
    if (!quietly) this.stream.onEvent({ type: existed ? "MODIFIED" : "ADDED", object });
    return object;
  }

  remove(name: string, quietly = false): void {
    const object = this.objects.get(name);
    this.objects.delete(name);
    this.revision += 1;
    if (object && !quietly) {
      this.stream.onEvent({
        type: "DELETED",
        object: { ...object, metadata: { ...object.metadata, resourceVersion: String(this.revision) } },
      });
    }
  }

  bookmark(): void {
    this.stream.onEvent({
      type: "BOOKMARK",
      object: { metadata: { resourceVersion: String(this.revision) } },
    });
  }

  expire(): void {
    this.stream.onEvent({
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" },
    });
  }
}

function handlers() {
  const calls: string[] = [];
  return {
    calls,
    handlers: {
      onAdd: (o: Obj): void => {
        calls.push(`add ${o.metadata.name}`);
      },
      onUpdate: (o: Obj, old: Obj): void => {
        calls.push(`update ${o.metadata.name} ${old.data?.v}->${o.data?.v}`);
      },
      onDelete: (o: Obj): void => {
        calls.push(`delete ${o.metadata.name}`);
      },
    },
  };
}

const tick = () => vi.advanceTimersByTimeAsync(0);

let server: FakeServer;
let watcher: Watcher<Obj> | undefined;

beforeEach(() => {
  vi.useFakeTimers();
  server = new FakeServer();
});

afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
  vi.useRealTimers();
});

/** Starts a watcher on `server` and returns once its first watch stream is open. */
async function start(h: ReturnType<typeof handlers>["handlers"], options: { watchdogMs?: number } = {}) {
  watcher = new Watcher(server, h, { logger, random: () => 0.5, backoffBaseMs: 1000, ...options });
  await watcher.start();
  await tick();
}

describe("Watcher", () => {
  it("lists, resolves synced, then follows the watch from the list's resourceVersion", async () => {
    server.objects.set("a", {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "a", namespace: "ns", resourceVersion: "5" },
    });
    const h = handlers();
    await start(h.handlers);
    expect(h.calls).toEqual(["add a"]);
    expect(server.stream.resourceVersion).toBe("10");

    server.put("b", { v: "1" });
    server.put("b", { v: "2" });
    server.remove("a");
    expect(h.calls).toEqual(["add a", "add b", "update b 1->2", "delete a"]);
    expect(watcher?.list().map((o) => o.metadata.name)).toEqual(["b"]);
    expect(watcher?.get("ns/b")?.data).toEqual({ v: "2" });
  });

  it("resumes from the last resourceVersion (a bookmark's too) without relisting when the server closes the watch", async () => {
    const h = handlers();
    await start(h.handlers);
    server.put("a", { v: "1" });
    server.revision = 42;
    server.bookmark();
    server.stream.onDone();
    await tick();
    expect(server.lists).toHaveLength(1);
    expect(server.streams.map((s) => s.resourceVersion)).toEqual(["10", "42"]);
  });

  it("relists at once on 410 Gone and reports what changed meanwhile as add/update/delete", async () => {
    const h = handlers();
    await start(h.handlers);
    server.put("kept", { v: "1" });
    server.put("changed", { v: "1" });
    server.put("removed", { v: "1" });
    h.calls.length = 0;

    // Changes the watcher misses, then the server says its resourceVersion is too old.
    server.put("changed", { v: "2" }, true);
    server.remove("removed", true);
    server.put("added", { v: "1" }, true);
    server.expire();
    await tick();

    expect(server.lists).toEqual([0, 0]);
    expect(server.streams[0]?.aborted).toBe(true);
    expect(h.calls.sort()).toEqual(["add added", "delete removed", "update changed 1->2"]);
    expect(server.stream.resourceVersion).toBe(String(server.revision));
  });

  it("treats a 410 on the watch request itself like a Gone event", async () => {
    await start(handlers().handlers);
    server.stream.onDone(Object.assign(new Error("Gone"), { statusCode: 410 }));
    await tick();
    expect(server.lists).toEqual([0, 0]);
  });

  it("backs off when 410s repeat without a healthy watch in between", async () => {
    await start(handlers().handlers);
    server.expire();
    await tick();
    server.expire();
    await tick();
    expect(server.lists).toHaveLength(2);
    // Second consecutive failure: 1000 * 2^1 with jitter 0.5 -> 1500 ms.
    await vi.advanceTimersByTimeAsync(1499);
    expect(server.lists).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.lists).toEqual([0, 0, 1500]);
  });

  it("relists with exponential, capped, jittered backoff after errors", async () => {
    await start(handlers().handlers);
    server.listError = new Error("connection refused");
    server.stream.onDone(new Error("socket hang up"));
    await vi.advanceTimersByTimeAsync(200_000);
    const gaps = server.lists.slice(1).map((at, i) => at - (server.lists[i] ?? 0));
    // 0.75 of 1 s, 2 s, 4 s, 8 s, 16 s, then the 30 s cap.
    expect(gaps.slice(0, 7)).toEqual([750, 1500, 3000, 6000, 12_000, 22_500, 22_500]);

    server.listError = undefined;
    await vi.advanceTimersByTimeAsync(30_000);
    const count = server.lists.length;
    server.put("a", { v: "1" });
    server.stream.onDone(new Error("reset"));
    await vi.advanceTimersByTimeAsync(749);
    expect(server.lists).toHaveLength(count);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.lists).toHaveLength(count + 1);
  });

  it("relists when the stream stays silent past the watchdog, and bookmarks keep it alive", async () => {
    await start(handlers().handlers, { watchdogMs: 60_000 });
    await vi.advanceTimersByTimeAsync(50_000);
    server.bookmark();
    await vi.advanceTimersByTimeAsync(50_000);
    expect(server.lists).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(server.streams[0]?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(750);
    expect(server.lists).toEqual([0, 110_750]);
    expect(server.streams).toHaveLength(2);
  });

  it("does not report an update for a version a relist already delivered", async () => {
    const h = handlers();
    await start(h.handlers);
    const a = server.put("a", { v: "1" }, true);
    server.expire();
    await tick();
    server.stream.onEvent({ type: "MODIFIED", object: a });
    expect(h.calls).toEqual(["add a"]);
  });

  it("keeps going when a handler throws", async () => {
    const h = handlers();
    await start({
      ...h.handlers,
      onAdd: (o: Obj) => {
        if (o.metadata.name === "bad") throw new Error("handler bug");
        h.calls.push(`add ${o.metadata.name}`);
      },
    });
    server.put("bad", { v: "1" });
    server.put("good", { v: "1" });
    expect(h.calls).toEqual(["add good"]);
    expect(watcher?.list()).toHaveLength(2);
  });

  it("stop() aborts the stream and no handler runs afterwards", async () => {
    const h = handlers();
    await start(h.handlers);
    await watcher?.stop();
    expect(server.stream.aborted).toBe(true);
    server.put("late", { v: "1" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.calls).toEqual([]);
    expect(server.lists).toHaveLength(1);
  });

  it("stop() during a backoff ends the loop and rejects synced if no list ever succeeded", async () => {
    server.listError = new Error("forbidden");
    watcher = new Watcher(server, {}, { logger });
    const synced = watcher.start();
    await tick();
    await watcher.stop();
    await expect(synced).rejects.toThrow(/stopped before its first list/);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.lists).toHaveLength(1);
  });
});
