/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's (controller-runtime's)
 * semantics: a candidate takes the Lease when it is free or when its holder has not renewed it for
 * leaseDuration as measured on the candidate's own clock (so clock skew between nodes does not
 * matter); the leader renews every retryPeriod and gives up leading when it could not renew for
 * renewDeadline (< leaseDuration, so it stops before anyone else may start); on shutdown it
 * releases the Lease (no holder, leaseDurationSeconds 1) and the next candidate takes it at its
 * next retry. Every write carries the resourceVersion it read, so two candidates never both win.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../clock.ts";
import type { KubeConnection } from "./connection.ts";
import { ConflictError, KubeApiError } from "./errors.ts";
import { KubeRest } from "./rest.ts";

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** Where the Lease lives; the API server in production, a fake in unit tests. */
export interface LeaseStore {
  get(): Promise<Lease | undefined>;
  /** Fails with a conflict when the Lease exists already. */
  create(lease: Lease): Promise<Lease>;
  /** Fails with a conflict when `lease.metadata.resourceVersion` is not the current one. */
  update(lease: Lease): Promise<Lease>;
}

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

const SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** Unique per process: two replicas on one host (or two processes in one Pod) never share it. */
export function defaultIdentity(): string {
  return `${hostname()}_${process.pid}_${randomBytes(4).toString("hex")}`;
}

/** The Pod's namespace from its service account mount, else `fallback`. */
export function defaultLeaseNamespace(fallback: string, file = SA_NAMESPACE_FILE): string {
  try {
    return readFileSync(file, "utf8").trim() || fallback;
  } catch {
    return fallback;
  }
}

/** Checks the durations like client-go does, so a bad flag fails at start with a clear message. */
export function validateLeaderConfig(c: LeaderElectionConfig): void {
  if (!(c.retryPeriodMs > 0)) throw new Error("--leader-election-retry-period must be greater than 0");
  if (!(c.renewDeadlineMs > c.retryPeriodMs * 1.2)) {
    throw new Error(
      `--leader-election-renew-deadline (${c.renewDeadlineMs / 1000}s) must be greater than 1.2 x --leader-election-retry-period (${c.retryPeriodMs / 1000}s)`,
    );
  }
  if (!(c.leaseDurationMs > c.renewDeadlineMs)) {
    throw new Error(
      `--leader-election-lease-duration (${c.leaseDurationMs / 1000}s) must be greater than --leader-election-renew-deadline (${c.renewDeadlineMs / 1000}s)`,
    );
  }
  if (c.leaseDurationMs < 1000) throw new Error("--leader-election-lease-duration must be at least 1s");
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  private readonly store: LeaseStore;
  private readonly config: LeaderElectionConfig;
  private readonly callbacks: LeaderCallbacks;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly random: () => number;
  private leading = false;
  private stopped = false;
  /** The holder's spec as last seen, and when (on our clock) it last changed. */
  private observed: { key: string; atMs: number } | undefined;
  private lastRenewMs = 0;
  /** Someone else held the Lease at our last read. */
  private heldByOther = false;
  private timer: unknown;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    store: LeaseStore,
    config: LeaderElectionConfig,
    callbacks: LeaderCallbacks,
    options: { logger: Logger; clock?: Clock; random?: () => number },
  ) {
    validateLeaderConfig(config);
    this.store = store;
    this.config = config;
    this.callbacks = callbacks;
    this.log = options.logger.child({
      component: "leader-election",
      lease: `${config.namespace}/${config.name}`,
    });
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  get identity(): string {
    return this.config.identity;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader releases the Lease so the next candidate takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.setLeading(false);
      await this.release();
    }
  }

  /** One attempt, exposed for tests: takes or renews the Lease; resolves whether we hold it. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.clock.now();
    this.heldByOther = false;
    const current = await this.store.get();
    const spec = (holder: string, previous?: LeaseSpec): LeaseSpec => {
      const keep = previous?.holderIdentity === holder && previous.acquireTime;
      return {
        holderIdentity: holder,
        leaseDurationSeconds: Math.ceil(this.config.leaseDurationMs / 1000),
        acquireTime: keep ? previous.acquireTime : microTime(new Date(now)),
        renewTime: microTime(new Date(now)),
        leaseTransitions:
          (previous?.leaseTransitions ?? 0) + (previous && previous.holderIdentity !== holder ? 1 : 0),
      };
    };
    if (!current) {
      try {
        await this.store.create({
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.config.name, namespace: this.config.namespace },
          spec: spec(this.config.identity),
        });
      } catch (err) {
        if (err instanceof ConflictError) return false;
        throw err;
      }
      this.observe(undefined, now);
      return true;
    }
    this.observe(current.spec, now);
    const holder = current.spec.holderIdentity;
    const durationMs = (current.spec.leaseDurationSeconds ?? 0) * 1000;
    this.heldByOther = Boolean(holder && holder !== this.config.identity);
    if (this.heldByOther && (this.observed?.atMs ?? now) + durationMs > now) return false;
    try {
      await this.store.update({ ...current, spec: spec(this.config.identity, current.spec) });
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
    return true;
  }

  private observe(spec: LeaseSpec | undefined, now: number): void {
    const key = JSON.stringify(spec ?? null);
    if (this.observed?.key !== key) this.observed = { key, atMs: now };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let held = false;
      try {
        held = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "reading or writing the Lease failed",
        );
      }
      if (this.stopped) break;
      const now = this.clock.now();
      if (held) {
        this.lastRenewMs = now;
        if (!this.leading) this.setLeading(true);
      } else if (
        this.leading &&
        (this.heldByOther || now - this.lastRenewMs >= this.config.renewDeadlineMs)
      ) {
        // Stop before the Lease can expire for the others (renewDeadline < leaseDuration).
        this.log.error(
          { renewDeadlineMs: this.config.renewDeadlineMs, heldByOther: this.heldByOther },
          "lost the Lease: could not renew it in time",
        );
        this.setLeading(false);
      }
      // Candidates retry with jitter (as client-go's JitterUntil, factor 1.2) so they do not move in step.
      const jitter = this.leading ? 0 : this.random() * 0.2 * this.config.retryPeriodMs;
      await this.sleep(this.config.retryPeriodMs + jitter);
    }
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (leading) {
      this.log.info({ identity: this.config.identity }, "became the leader");
      this.callbacks.onStartedLeading();
    } else {
      this.log.info({ identity: this.config.identity }, "stopped leading");
      this.callbacks.onStoppedLeading();
    }
  }

  private async release(): Promise<void> {
    try {
      const current = await this.store.get();
      if (current?.spec.holderIdentity !== this.config.identity) return;
      const now = microTime(new Date(this.clock.now()));
      await this.store.update({
        ...current,
        spec: {
          holderIdentity: null,
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.spec.leaseTransitions ?? 0,
        },
      });
      this.log.info("released the Lease");
    } catch (err) {
      // The others take over after the lease duration instead.
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, "releasing the Lease failed");
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timer = this.clock.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.clock.clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** The Lease on the API server, read and written with optimistic concurrency. */
export function apiServerLeaseStore(connection: KubeConnection, namespace: string, name: string): LeaseStore {
  const rest = new KubeRest(connection);
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(name)}`;
  return {
    async get() {
      try {
        return await rest.request<Lease>("GET", path);
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      }
    },
    create: (lease) => rest.request<Lease>("POST", collection, { body: lease }),
    update: (lease) => rest.request<Lease>("PUT", path, { body: lease }),
  };
}
