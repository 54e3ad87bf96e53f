// How long a weight the controller writes takes to show in real traffic (KANARIA_DATAPLANE=traefik).
//
// Several apps, each released a few times with a release that a rollout gate turns down: the controller
// writes the canary's step (0 -> 50) into the HTTPRoute, then the rollback (50 -> 0). A watch on the
// HTTPRoutes notes when each write arrives; one client per app keeps asking Traefik and notes when each
// answer came and which release gave it (every release says its own message). Per change:
// - 0 -> 50: the first answer from this release's canary (from it on, 100 answers in a row hold the
//   canary's share within 3 points of 50 %, which is checked);
// - 50 -> 0: the first answer after this release's canary answered for the last time (from then on
//   only the primary answers, which is checked over the following answers).
// The delay is that answer's arrival minus the write's arrival on the watch. p50 and p99 (nearest rank)
// are printed; p99 must stay under 5 s.
//
// Skipped without a data plane, as test/e2e/real-traffic.test.ts.
import { describe, expect, it } from "vitest";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import { waitForPhase, watchWrites } from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { canary } from "../support/manifests.ts";
import { gatewayRef, get, podinfoApp, served, useRealTraffic } from "../support/real-traffic.ts";

const { dataplane, ns, client, gates } = useRealTraffic("e2e-real-delay");

const APPS = 4;
const RELEASES = 3;
const STEP = 50;
/** Answers after a canary's last one that must all come from the primary. */
const AFTER_FALL = 50;

interface RouteWrite {
  atMs: number;
  route: string;
  canaryWeight: number | undefined;
  resourceVersion: string;
}

interface Reply {
  sentMs: number;
  atMs: number;
  status: number;
  message: string;
  error?: string;
}

/** Every write to the namespace's HTTPRoutes from now on, with the moment the watch delivered it. */
function watchRoutes(): Promise<{ writes: RouteWrite[]; stop: () => void }> {
  return watchWrites(
    `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`,
    {},
    `the HTTPRoutes of ${ns}`,
    (route: HTTPRoute) => {
      const name = route.metadata.name;
      const weighted = route.spec?.rules?.find((r) => r.backendRefs?.length === 2);
      return {
        atMs: Date.now(),
        route: name,
        canaryWeight: weighted?.backendRefs?.find((b) => b.name === `${name}-canary`)?.weight,
        resourceVersion: route.metadata.resourceVersion ?? "",
      };
    },
  );
}

/** One client asking for HOST, one request at a time with 10 ms between them (~80/s), until stopped. */
function steadyClient(host: string): { replies: Reply[]; stop: () => Promise<void> } {
  const replies: Reply[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const sentMs = Date.now();
      try {
        const r = await get(host);
        replies.push({ sentMs, atMs: Date.now(), status: r.status, message: r.message });
      } catch (err) {
        replies.push({ sentMs, atMs: Date.now(), status: 0, message: "", error: String(err) });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    replies,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Nearest-rank percentile of a sorted list. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

interface Sample {
  app: string;
  release: string;
  change: "0->50" | "50->0";
  delayMs: number;
}

/** Releases RELEASES turned-down versions of one app; returns its samples (and checks its traffic). */
async function releaseAndMeasure(
  app: string,
  writes: RouteWrite[],
): Promise<{ samples: Sample[]; replies: Reply[]; problems: string[] }> {
  const host = `${app}.${ns}.test`;
  await client.apply(podinfoApp(ns, app, "v1"));
  await client.apply(
    canary(ns, app, {
      provider: "gatewayapi",
      service: { port: 80, targetPort: 9898, gatewayRefs: [gatewayRef()], hosts: [host] },
      analysis: {
        interval: "10s",
        threshold: 1,
        stepWeights: [STEP],
        // A healthy release that a rollout gate turns down: each one is a 0 -> 50 -> 0 on the route.
        webhooks: [{ name: "veto", type: "rollout", url: gates.url("/veto-delay") }],
      },
    }),
  );
  await waitForPhase(client, ns, app, "Initialized", 90_000);
  await served(host);
  const load = steadyClient(host);
  const samples: Sample[] = [];
  const changes: { release: string; rise: RouteWrite; fall: RouteWrite }[] = [];
  try {
    for (let k = 1; k <= RELEASES; k++) {
      const release = `r${k}`;
      const from = writes.length;
      await client.apply(podinfoApp(ns, app, release));
      const mine = (w: RouteWrite, i: number) => i >= from && w.route === app;
      const rise = await waitFor(() => writes.find((w, i) => mine(w, i) && w.canaryWeight === STEP), {
        description: `${release} of ${app}: the step (canary weight ${STEP}) on the HTTPRoute`,
        until: (w) => w !== undefined,
        timeoutMs: 90_000,
        intervalMs: 50,
      });
      const fall = await waitFor(
        () => writes.find((w, i) => mine(w, i) && w.atMs > (rise?.atMs ?? 0) && w.canaryWeight === 0),
        {
          description: `${release} of ${app}: the rollback (canary weight 0) on the HTTPRoute`,
          until: (w) => w !== undefined,
          timeoutMs: 90_000,
          intervalMs: 50,
        },
      );
      await waitForPhase(client, ns, app, "Failed", 60_000);
      if (!rise || !fall) throw new Error("unreachable: waitFor returned without the writes");
      changes.push({ release, rise, fall });
      // Enough answers after the switch back to see that the canary no longer answers.
      await waitFor(() => load.replies.filter((r) => r.sentMs > fall.atMs + 1_000).length, {
        description: `${AFTER_FALL} answers for ${app} after the rollback of ${release}`,
        until: (n) => n >= AFTER_FALL,
        timeoutMs: 30_000,
      });
    }
  } finally {
    await load.stop();
  }
  const replies = [...load.replies].sort((a, b) => a.sentMs - b.sentMs);
  // What does not hold is collected, not thrown, so the figures of every app are printed first.
  const problems: string[] = [];
  for (const { release, rise, fall } of changes) {
    const firstIndex = replies.findIndex((r) => r.message === release);
    const lastIndex = replies.findLastIndex((r) => r.message === release);
    const first = replies[firstIndex];
    const next = replies[lastIndex + 1];
    if (!first || !next) {
      problems.push(
        `${app}/${release}: ${first ? "no answer after the canary's last" : "the canary never answered"}`,
      );
      continue;
    }
    // From the canary's first answer on, the split is the step's: Traefik's weighted round robin is
    // earliest-deadline-first (deterministic), so 100 answers in a row hold the weight within 3 points.
    const window = replies.slice(firstIndex, firstIndex + 100);
    const share = window.filter((r) => r.message === release).length / window.length;
    if (window.length < 100 || Math.abs(share - STEP / 100) > 0.03) {
      problems.push(
        `${app}/${release}: canary share ${share} over the ${window.length} answers from its first`,
      );
    }
    // After the canary's last answer, only the primary: the 50 -> 0 split really took effect.
    const after = replies.slice(lastIndex + 1, lastIndex + 1 + AFTER_FALL);
    const others = after.filter((r) => r.message !== "v1");
    if (after.length < AFTER_FALL || others.length > 0) {
      problems.push(
        `${app}/${release}: of the ${after.length} answers after the canary's last, ${others.length} not from the primary (${others.map((r) => r.status).join(",")})`,
      );
    }
    // A failed answer is told by when it was sent against the writes of this release, to show which
    // switch it met.
    for (const r of replies.filter(
      (x) => x.status !== 200 && x.sentMs >= rise.atMs - 5_000 && x.sentMs <= fall.atMs + 5_000,
    )) {
      problems.push(
        `${app}/${release}: HTTP ${r.status} sent ${r.sentMs - rise.atMs} ms after the step's write, ${r.sentMs - fall.atMs} ms after the rollback's`,
      );
    }
    samples.push({ app, release, change: "0->50", delayMs: first.atMs - rise.atMs });
    samples.push({ app, release, change: "50->0", delayMs: next.atMs - fall.atMs });
  }
  return { samples, replies, problems };
}

describe.skipIf(!dataplane)("from a weight written to the split seen in real traffic (Traefik)", () => {
  it(`measures ${APPS * RELEASES * 2} weight changes: p99 under 5 s`, async () => {
    gates.set("/veto-delay", "no");
    const watch = await watchRoutes();
    let results: { samples: Sample[]; replies: Reply[]; problems: string[] }[];
    try {
      // Apps started a little apart, so their controller ticks do not all fall together.
      results = await Promise.all(
        Array.from({ length: APPS }, async (_, i) => {
          await new Promise((r) => setTimeout(r, i * 2_500));
          return releaseAndMeasure(`delay-${i}`, watch.writes);
        }),
      );
    } finally {
      watch.stop();
    }
    const samples = results.flatMap((r) => r.samples);
    const replies = results.flatMap((r) => r.replies);
    const failed = replies.filter((r) => r.status !== 200);
    const sorted = (list: Sample[]) => list.map((s) => s.delayMs).sort((a, b) => a - b);
    const all = sorted(samples);
    const line = (label: string, list: number[]) =>
      `${label}: p50 ${percentile(list, 50)} ms, p99 ${percentile(list, 99)} ms, min ${list[0]} ms, max ${list.at(-1)} ms (n=${list.length})`;
    console.info(
      [
        `[real-traffic-delay] ${replies.length} answers, ${failed.length} failed`,
        line("all", all),
        line("0->50 (first canary answer)", sorted(samples.filter((s) => s.change === "0->50"))),
        line(
          "50->0 (first answer after the canary's last)",
          sorted(samples.filter((s) => s.change === "50->0")),
        ),
        `samples: ${samples.map((s) => `${s.app}/${s.release} ${s.change} ${s.delayMs}`).join(", ")}`,
      ].join("\n"),
    );
    expect(results.flatMap((r) => r.problems)).toEqual([]);
    expect(samples).toHaveLength(APPS * RELEASES * 2);
    expect(all.every(Number.isFinite)).toBe(true);
    expect(percentile(all, 99)).toBeLessThan(5_000);
    expect(failed.map((r) => `${r.status} ${r.error ?? ""}`)).toEqual([]);
  }, 420_000);
});
