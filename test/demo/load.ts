// The demo's load on real traffic: steady requests through Traefik's web entrypoint (PROXY_URL) for the
// example's host, and the split measured from the answers themselves. Each podinfo release answers
// with its tag as its message (real-traffic.ts), so every answer says which release served it; an
// answer that is not a 200 with a message counts as failed. Nothing here asks Traefik or Prometheus.
import { Agent, request } from "node:http";

/** One request's outcome: the release that answered (its message), or why it failed. */
export type Outcome = { release: string } | { failure: string };

/** Requests in a time range, by who answered and by how they failed. */
export interface Tally {
  /** Answers by release (podinfo's message), most first. */
  byRelease: [string, number][];
  /** Failures by reason ("HTTP 500", "timeout", ...), most first. */
  byFailure: [string, number][];
  failed: number;
  total: number;
}

const byCountThenName = (a: [string, number], b: [string, number]) => b[1] - a[1] || a[0].localeCompare(b[0]);

/**
 * Every outcome with the time its request was sent. Answers older than `keepMs` are dropped as new
 * ones come, so a long run keeps a bounded list.
 */
export class TrafficMeter {
  readonly #keepMs: number;
  #times: number[] = [];
  #outcomes: Outcome[] = [];

  constructor(keepMs = 10 * 60_000) {
    this.#keepMs = keepMs;
  }

  /** Outcomes arrive in the order requests end; `sentAt` is when each was sent. */
  record(sentAt: number, outcome: Outcome): void {
    // Requests end out of order by a few ms at most: insert from the back.
    let i = this.#times.length;
    while (i > 0 && (this.#times[i - 1] as number) > sentAt) i--;
    this.#times.splice(i, 0, sentAt);
    this.#outcomes.splice(i, 0, outcome);
    const horizon = sentAt - this.#keepMs;
    let drop = 0;
    while (drop < this.#times.length && (this.#times[drop] as number) < horizon) drop++;
    if (drop > 0) {
      this.#times.splice(0, drop);
      this.#outcomes.splice(0, drop);
    }
  }

  /** Requests sent in [from, to). */
  between(from: number, to: number): Tally {
    const releases = new Map<string, number>();
    const failures = new Map<string, number>();
    let failed = 0;
    let total = 0;
    this.#times.forEach((t, i) => {
      if (t < from || t >= to) return;
      total++;
      const o = this.#outcomes[i] as Outcome;
      if ("release" in o) releases.set(o.release, (releases.get(o.release) ?? 0) + 1);
      else {
        failed++;
        failures.set(o.failure, (failures.get(o.failure) ?? 0) + 1);
      }
    });
    return {
      byRelease: [...releases].sort(byCountThenName),
      byFailure: [...failures].sort(byCountThenName),
      failed,
      total,
    };
  }
}

/** "12.5%" of total; "-" when there is nothing to divide. */
export function percent(part: number, total: number): string {
  return total === 0 ? "-" : `${Math.round((part / total) * 1000) / 10}%`;
}

/** "HTTP 500 ×4, HTTP 400 ×3": why requests failed, most first. */
export function failureText(t: Tally): string {
  return t.byFailure.map(([why, n]) => `${why} ×${n}`).join(", ");
}

/**
 * One step's traffic as a line: "6.0.1 answered 98 of 500 (19.6%), 6.0.0 402, failed 0". `canary` is
 * the release under analysis; the others follow by count. A failed answer names no release (podinfo's
 * --random-error answers carry no body), so with failures the canary's share is a range: what it
 * answered, up to that plus every failure.
 */
export function stepText(t: Tally, canary: string): string {
  const mine = t.byRelease.find(([r]) => r === canary)?.[1] ?? 0;
  const others = t.byRelease.filter(([r]) => r !== canary).map(([r, n]) => `${r} ${n}`);
  const failed = t.failed > 0 ? `failed ${t.failed} (${failureText(t)})` : "failed 0";
  const upTo = t.failed > 0 ? `, up to ${percent(mine + t.failed, t.total)} if the failed were its own` : "";
  return [
    `${canary} answered ${mine} of ${t.total} (${percent(mine, t.total)}${upTo})`,
    ...others,
    failed,
  ].join(", ");
}

export interface LoadOptions {
  /** Traefik's web entrypoint, e.g. http://127.0.0.1:41234 (PROXY_URL). */
  url: string;
  /** The Host header: the route's hostname. */
  host: string;
  /** Requests started per second. */
  rps: number;
  /** Requests in flight at most; a tick that finds them all busy sends nothing (counted in `skipped`). */
  concurrency?: number;
  timeoutMs?: number;
  onOutcome: (sentAt: number, outcome: Outcome) => void;
  now?: () => number;
}

export interface Load {
  /** Ticks that sent nothing because `concurrency` requests were still in flight. */
  readonly skipped: number;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/** One GET / to `url` with Host `host`: which release answered, or why it failed. Never rejects. */
export function sendOne(
  url: string,
  host: string,
  opts: { agent?: Agent; timeoutMs?: number } = {},
): Promise<Outcome> {
  const target = new URL(url);
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      resolve(o);
    };
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: "/",
        headers: { host },
        ...(opts.agent ? { agent: opts.agent } : {}),
        timeout: opts.timeoutMs ?? 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => finish({ failure: err.message }));
        res.on("end", () => {
          if (res.statusCode !== 200) {
            finish({ failure: `HTTP ${res.statusCode}` });
            return;
          }
          let message: unknown;
          try {
            message = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { message?: unknown }).message;
          } catch {
            // Not podinfo's JSON: reported below.
          }
          finish(
            typeof message === "string" && message !== ""
              ? { release: message }
              : { failure: "HTTP 200 without podinfo's message" },
          );
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => finish({ failure: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

/** Starts sending one GET / every 1/rps seconds until stop(). */
export function startLoad(opts: LoadOptions): Load {
  const concurrency = opts.concurrency ?? 16;
  const now = opts.now ?? Date.now;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let inFlight = 0;
  let skipped = 0;
  const pending = new Set<Promise<void>>();

  const once = async (): Promise<void> => {
    const sentAt = now();
    const outcome = await sendOne(opts.url, opts.host, {
      agent,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    opts.onOutcome(sentAt, outcome);
  };

  const timer = setInterval(() => {
    if (inFlight >= concurrency) {
      skipped++;
      return;
    }
    inFlight++;
    const p = once().finally(() => {
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  }, 1000 / opts.rps);

  return {
    get skipped() {
      return skipped;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      agent.destroy();
    },
  };
}
