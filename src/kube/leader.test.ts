import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConflictError } from "./errors.ts";
import {
  defaultIdentity,
  defaultLeaseNamespace,
  type LeaderElectionConfig,
  LeaderElector,
  type Lease,
  type LeaseStore,
  microTime,
  validateLeaderConfig,
} from "./leader.ts";

const logger = pino({ level: "silent" });

/** An in-memory Lease with the API server's optimistic concurrency (resourceVersion checks). */
function memoryStore() {
  let lease: Lease | undefined;
  let version = 0;
  let failing = false;
  const conflict = () => new ConflictError("the object has been modified");
  const store: LeaseStore = {
    async get() {
      if (failing) throw new Error("connection refused");
      return lease && structuredClone(lease);
    },
    async create(l) {
      if (failing) throw new Error("connection refused");
      if (lease) throw new ConflictError("already exists", "AlreadyExists");
      lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++version) } };
      return structuredClone(lease);
    },
    async update(l) {
      if (failing) throw new Error("connection refused");
      if (!lease || l.metadata.resourceVersion !== lease.metadata.resourceVersion) throw conflict();
      lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++version) } };
      return structuredClone(lease);
    },
  };
  return {
    store,
    current: () => lease,
    setFailing(value: boolean) {
      failing = value;
    },
  };
}

const config = (identity: string): LeaderElectionConfig => ({
  namespace: "kanaria-system",
  name: "kanaria-leader",
  identity,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
});

function candidate(store: LeaseStore, identity: string) {
  const transitions: string[] = [];
  const elector = new LeaderElector(
    store,
    config(identity),
    {
      onStartedLeading: () => transitions.push("started"),
      onStoppedLeading: () => transitions.push("stopped"),
    },
    { logger, random: () => 0 },
  );
  return { elector, transitions };
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-12-01T12:00:00Z") });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("LeaderElector.tryAcquireOrRenew", () => {
  it("creates the Lease when there is none, and a second candidate does not get it", async () => {
    const mem = memoryStore();
    const a = candidate(mem.store, "a");
    const b = candidate(mem.store, "b");
    expect(await a.elector.tryAcquireOrRenew()).toBe(true);
    expect(await b.elector.tryAcquireOrRenew()).toBe(false);
    expect(mem.current()?.spec).toEqual({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      acquireTime: "2026-12-01T12:00:00.000000Z",
      renewTime: "2026-12-01T12:00:00.000000Z",
      leaseTransitions: 0,
    });
  });

  it("renewing keeps the acquire time and moves the renew time", async () => {
    const mem = memoryStore();
    const a = candidate(mem.store, "a");
    await a.elector.tryAcquireOrRenew();
    vi.advanceTimersByTime(2_000);
    expect(await a.elector.tryAcquireOrRenew()).toBe(true);
    expect(mem.current()?.spec.acquireTime).toBe("2026-12-01T12:00:00.000000Z");
    expect(mem.current()?.spec.renewTime).toBe("2026-12-01T12:00:02.000000Z");
  });

  it("takes a Lease whose holder stopped renewing only after the lease duration on its own clock", async () => {
    const mem = memoryStore();
    await candidate(mem.store, "a").elector.tryAcquireOrRenew();
    const b = candidate(mem.store, "b");
    expect(await b.elector.tryAcquireOrRenew()).toBe(false); // first seen now
    vi.advanceTimersByTime(14_999);
    expect(await b.elector.tryAcquireOrRenew()).toBe(false);
    vi.advanceTimersByTime(2);
    expect(await b.elector.tryAcquireOrRenew()).toBe(true);
    expect(mem.current()?.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
  });

  it("a Lease renewed meanwhile is not taken", async () => {
    const mem = memoryStore();
    const a = candidate(mem.store, "a");
    const b = candidate(mem.store, "b");
    await a.elector.tryAcquireOrRenew();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(5_000);
      await a.elector.tryAcquireOrRenew();
      expect(await b.elector.tryAcquireOrRenew()).toBe(false);
    }
  });

  it("two candidates racing for an expired Lease: the write with the stale resourceVersion loses", async () => {
    const mem = memoryStore();
    await candidate(mem.store, "a").elector.tryAcquireOrRenew();
    const b = candidate(mem.store, "b");
    const c = candidate(mem.store, "c");
    await b.elector.tryAcquireOrRenew();
    await c.elector.tryAcquireOrRenew();
    vi.advanceTimersByTime(16_000);
    const results = await Promise.all([b.elector.tryAcquireOrRenew(), c.elector.tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(["b", "c"]).toContain(mem.current()?.spec.holderIdentity);
  });
});

describe("LeaderElector loop", () => {
  it("on stop the leader releases the Lease and the next candidate takes it at its next retry", async () => {
    const mem = memoryStore();
    const a = candidate(mem.store, "a");
    const b = candidate(mem.store, "b");
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    b.elector.start();
    await vi.advanceTimersByTimeAsync(4_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    await a.elector.stop();
    expect(a.transitions).toEqual(["started", "stopped"]);
    expect(mem.current()?.spec).toMatchObject({ holderIdentity: null, leaseDurationSeconds: 1 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(mem.current()?.spec.holderIdentity).toBe("b");
    await b.elector.stop();
  });

  it("a leader that cannot renew for the renew deadline stops leading before the Lease expires", async () => {
    const mem = memoryStore();
    const a = candidate(mem.store, "a");
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(a.elector.isLeader()).toBe(true);
    mem.setFailing(true);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(a.elector.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.transitions).toEqual(["started", "stopped"]);
    mem.setFailing(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.elector.isLeader(), "it campaigns again once the API server answers").toBe(true);
    await a.elector.stop();
  });

  it("a leader that finds another holder stops leading at once", async () => {
    const mem = memoryStore();
    const a = candidate(mem.store, "a");
    a.elector.start();
    await vi.advanceTimersByTimeAsync(0);
    const lease = mem.current() as Lease;
    await mem.store.update({ ...lease, spec: { ...lease.spec, holderIdentity: "intruder" } });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.elector.isLeader()).toBe(false);
    await a.elector.stop();
    expect(mem.current()?.spec.holderIdentity, "a non-leader does not release").toBe("intruder");
  });
});

describe("leader election settings", () => {
  it("rejects durations client-go rejects, naming the flag", () => {
    expect(() => validateLeaderConfig({ ...config("a"), renewDeadlineMs: 20_000 })).toThrow(
      /--leader-election-lease-duration \(15s\) must be greater than --leader-election-renew-deadline \(20s\)/,
    );
    expect(() => validateLeaderConfig({ ...config("a"), retryPeriodMs: 9_000 })).toThrow(
      /--leader-election-renew-deadline/,
    );
    expect(() => validateLeaderConfig({ ...config("a"), retryPeriodMs: 0 })).toThrow(/retry-period/);
  });

  it("identities differ between calls in one process", () => {
    const a = defaultIdentity();
    expect(a).toContain(`_${process.pid}_`);
    expect(defaultIdentity()).not.toBe(a);
  });

  it("the namespace comes from the service account file, else the fallback", () => {
    const dir = mkdtempSync(join(tmpdir(), "kanaria-sa-"));
    writeFileSync(join(dir, "namespace"), "apps-system\n");
    expect(defaultLeaseNamespace("default", join(dir, "namespace"))).toBe("apps-system");
    expect(defaultLeaseNamespace("default", join(dir, "missing"))).toBe("default");
  });

  it("MicroTime has six fractional digits", () => {
    expect(microTime(new Date("2026-12-01T12:00:00.123Z"))).toBe("2026-12-01T12:00:00.123000Z");
  });
});
