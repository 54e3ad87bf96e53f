import type { Logger } from "pino";
import { type Clock, systemClock } from "./clock.ts";

export interface WorkQueueOptions {
  /** How many different keys are processed at the same time; default 4. */
  maxConcurrency?: number;
  /** First delay of enqueueWithBackoff; it doubles per consecutive failure. Default 1 s. */
  backoffBaseMs?: number;
  /** Upper bound of enqueueWithBackoff's delay; default 5 minutes. */
  backoffMaxMs?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * A worker took `key`, `lateMs` after the time it was due (how long it queued for a worker); not
   * called for a key the resync started before a time of its own.
   */
  onStart?: (key: string, lateMs: number) => void;
}

/** Processes one key. A rejection is logged and the key is retried with backoff. */
export type KeyHandler = (key: string) => Promise<void>;

/**
 * A per-key work queue in the spirit of client-go's workqueue: a key is never processed by two
 * workers at once; enqueueing a key that is being processed makes it run once more afterwards
 * (however often it was enqueued meanwhile); a key waiting with a delay runs at the earliest time it
 * was asked for. Keys name objects ("namespace/name"): the handler reads the current state itself,
 * so coalescing loses nothing.
 */
export class WorkQueue {
  private readonly handler: KeyHandler;
  private readonly maxConcurrency: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly onStart: ((key: string, lateMs: number) => void) | undefined;
  /** Keys waiting to run, with the earliest time each may run. A running key may be here too (re-run). */
  private readonly waitingKeys = new Map<string, number>();
  /**
   * Keys the safety resync asked for, oldest first: they run when no key is due, so a resync of a
   * thousand Canaries never queues ahead of a step that is due. Never holds a running key.
   */
  private readonly resyncKeys = new Set<string>();
  private readonly runningKeys = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly idleWaiters = new Set<() => void>();
  private timer: { handle: unknown; at: number } | undefined;
  private accepting = true;

  constructor(handler: KeyHandler, options: WorkQueueOptions = {}) {
    this.handler = handler;
    this.maxConcurrency = Math.max(1, options.maxConcurrency ?? 4);
    this.backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.backoffMaxMs = options.backoffMaxMs ?? 5 * 60_000;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger;
    this.onStart = options.onStart;
  }

  /** Keys waiting (due now, delayed or asked for by the resync), not counting those being processed. */
  get waiting(): number {
    let count = this.resyncKeys.size;
    for (const key of this.waitingKeys.keys())
      if (!this.runningKeys.has(key) && !this.resyncKeys.has(key)) count++;
    return count;
  }

  get processing(): number {
    return this.runningKeys.size;
  }

  /** Asks for `key` to be processed in `delayMs`; an earlier pending request for the key wins. */
  enqueue(key: string, delayMs = 0): void {
    if (!this.accepting) return;
    if (!Number.isFinite(delayMs)) {
      // NaN or Infinity would leave the key waiting forever, never due and never timed: retry instead.
      this.log?.error(
        { key, delayMs },
        "enqueue with a delay that is not a finite number; retrying with backoff",
      );
      delayMs = this.backoffBaseMs;
    }
    const at = this.clock.now() + Math.max(0, delayMs);
    const pending = this.waitingKeys.get(key);
    if (pending === undefined || at < pending) this.waitingKeys.set(key, at);
    this.dispatch();
  }

  /**
   * The safety resync: processes `key` as soon as a worker has no due key to take, unless it is being
   * processed (that run requeues it) or waits out a backoff after failures. A time the key waits for
   * stays: whichever comes first runs it. The handler derives a key's next time from the state it
   * reads, so starting it early loses nothing, and a wake-up that was lost, a planned time that was
   * wrong or a timer that never fired costs at most one resync period once the due work is done.
   */
  resync(key: string): void {
    if (!this.accepting || this.runningKeys.has(key) || this.failures.has(key)) return;
    this.resyncKeys.add(key);
    this.dispatch();
  }

  /** Enqueues `key` after its next backoff delay (base * 2^(failures-1), capped) and returns that delay. */
  enqueueWithBackoff(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (failures - 1));
    this.enqueue(key, delay);
    return delay;
  }

  /** Resets the key's backoff; call it once the key was processed successfully. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /**
   * Shutdown: stops accepting keys, drops every waiting key and waits (up to timeoutMs) only for
   * the keys being processed. Resolves true when they finished in time.
   */
  stop(timeoutMs = 30_000): Promise<boolean> {
    this.accepting = false;
    this.waitingKeys.clear();
    this.resyncKeys.clear();
    this.schedule();
    return this.idle(timeoutMs);
  }

  private dispatch(): void {
    for (let key = this.nextDue(); key !== undefined; key = this.nextDue()) this.start(key);
    this.schedule();
    if (this.waitingKeys.size === 0 && this.resyncKeys.size === 0 && this.runningKeys.size === 0) {
      for (const resolve of this.idleWaiters) resolve();
      this.idleWaiters.clear();
    }
  }

  /** The due key that has waited longest, else the oldest resync request, if a worker is free. */
  private nextDue(): string | undefined {
    if (this.runningKeys.size >= this.maxConcurrency) return undefined;
    const now = this.clock.now();
    let next: string | undefined;
    let nextAt = Number.POSITIVE_INFINITY;
    for (const [key, at] of this.waitingKeys) {
      if (at <= now && at < nextAt && !this.runningKeys.has(key)) {
        next = key;
        nextAt = at;
      }
    }
    return next ?? this.resyncKeys.values().next().value;
  }

  private start(key: string): void {
    const now = this.clock.now();
    const dueAt = this.waitingKeys.get(key);
    // A key the resync started before any time of its own came was not late: it was not due.
    if (dueAt !== undefined && dueAt <= now) this.onStart?.(key, now - dueAt);
    this.waitingKeys.delete(key);
    this.resyncKeys.delete(key);
    this.runningKeys.add(key);
    void this.process(key).finally(() => {
      this.runningKeys.delete(key);
      this.dispatch();
    });
  }

  private async process(key: string): Promise<void> {
    try {
      await this.handler(key);
    } catch (err) {
      const delayMs = this.accepting ? this.enqueueWithBackoff(key) : undefined;
      this.log?.warn({ key, err, retryInMs: delayMs }, "processing failed");
    }
  }

  /** Keeps one timer, set for the earliest delayed key; due keys are started by dispatch(). */
  private schedule(): void {
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, at] of this.waitingKeys) {
      // A running key is looked at again when it finishes; no timer needed for it.
      if (at > now && at < next && !this.runningKeys.has(key)) next = at;
    }
    if (this.timer?.at === next) return;
    if (this.timer) this.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
    if (next === Number.POSITIVE_INFINITY) return;
    const handle = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.dispatch();
    }, next - now);
    this.timer = { handle, at: next };
  }

  private idle(timeoutMs: number): Promise<boolean> {
    if (this.waitingKeys.size === 0 && this.resyncKeys.size === 0 && this.runningKeys.size === 0)
      return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        this.clock.clearTimeout(handle);
        resolve(true);
      };
      const handle = this.clock.setTimeout(() => {
        this.idleWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.add(done);
    });
  }
}
