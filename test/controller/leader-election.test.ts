// Two controller processes on the real API server with --leader-elect: only the leader reconciles, the
// other is ready and takes over within the lease duration when the leader is SIGKILLed (resuming from
// the status: no step repeated or skipped, one promotion), and at once when the leader gets SIGTERM.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { afterAll, expect, it } from "vitest";
import {
  canaryEvents,
  canaryIngressWeight,
  getCanary,
  initializationConverged,
  recordChanges,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { deployment, nginxApp } from "../support/manifests.ts";

const ns = useNamespace("leader");
const client = testClient();
const LEASE_SECONDS = 6;
const started: Replica[] = [];

interface Replica {
  name: string;
  port: number;
  process: ControllerProcess;
}

afterAll(async () => {
  await Promise.all(started.map((r) => r.process.stop()));
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function replica(name: string): Promise<Replica> {
  const port = await freePort();
  const process = startControllerProcess(ns, [
    "--metrics-bind-address",
    `127.0.0.1:${port}`,
    "--leader-elect",
    `--leader-election-namespace=${ns}`,
    `--leader-election-lease-duration=${LEASE_SECONDS}s`,
    "--leader-election-renew-deadline=4s",
    "--leader-election-retry-period=1s",
  ]);
  const r = { name, port, process };
  started.push(r);
  return r;
}

const http = async (r: Replica, path: string) => {
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`);
  return { status: res.status, body: await res.text() };
};
const leaderGauge = async (r: Replica) =>
  /^kanaria_leader (\d)$/m.exec((await http(r, "/metrics")).body)?.[1];
const ready = (r: Replica) =>
  waitFor(() => http(r, "/readyz"), {
    description: `${r.name} /readyz`,
    until: (x) => x.status === 200,
    timeoutMs: 30_000,
  });
const holder = async () => {
  const lease = await client.get<{
    apiVersion: string;
    kind: string;
    metadata: { name: string };
    spec: { holderIdentity?: string };
  }>({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace: ns,
    name: "kanaria-leader",
  });
  return lease?.spec.holderIdentity ?? "";
};
/** The replica that logged "became the leader" with the Lease's current holder identity. */
async function leaderOf(replicas: Replica[]): Promise<Replica> {
  const leader = await waitFor(
    async () => {
      const id = await holder();
      return replicas.find(
        (r) => id !== "" && readFileSync(r.process.logFile, "utf8").includes(`"identity":"${id}"`),
      );
    },
    { description: "a leader among the replicas", timeoutMs: 30_000 },
  );
  if (!leader) throw new Error("no replica leads");
  return leader;
}

it("one leader reconciles; SIGKILL hands over within the lease duration, SIGTERM at once, without repeating a step", async () => {
  const a = await replica("a");
  const b = await replica("b");
  await Promise.all([ready(a), ready(b)]);
  const first = await leaderOf([a, b]);
  const follower = first === a ? b : a;
  expect(await leaderGauge(first)).toBe("1");
  expect(await leaderGauge(follower), "the follower is ready but does not lead").toBe("0");
  expect((await http(follower, "/healthz")).status).toBe(200);

  for (const o of nginxApp(ns, "podinfo", { interval: "10s", threshold: 1, stepWeight: 20, maxWeight: 60 })) {
    await client.apply(o);
  }
  await waitForPhase(client, ns, "podinfo", "Initialized");
  await initializationConverged(client, ns, "podinfo");
  const weights = recordChanges(() => canaryIngressWeight(client, ns, "podinfo"));
  const decided = recordChanges(async () => {
    const status = (await getCanary(client, ns, "podinfo")).status;
    return { weight: status?.canaryWeight, phase: status?.phase, lastStepTime: status?.lastStepTime };
  });
  // The whole Deployment at the new tag (a JSON merge patch of containers[] would drop its ports).
  await client.apply(deployment(ns, "podinfo", "6.0.1"));
  await waitFor(() => canaryIngressWeight(client, ns, "podinfo"), {
    description: "weight 20",
    until: (w) => w === "20",
  });
  await waitFor(async () => (await http(first, "/metrics")).body, {
    description: "the leader's kanaria_canary_weight at 20",
    until: (text) => text.includes(`kanaria_canary_weight{workload="podinfo",namespace="${ns}"} 20`),
    timeoutMs: 5_000,
  });
  expect((await http(follower, "/metrics")).body).not.toContain("kanaria_canary_weight{");

  // The leader dies without releasing the Lease: the follower waits out the lease duration, no longer.
  const killedAt = Date.now();
  await first.process.kill();
  const firstId = await holder();
  await waitFor(holder, {
    description: "a new Lease holder",
    until: (id) => id !== firstId,
    timeoutMs: 20_000,
    intervalMs: 100,
  });
  const takeoverMs = Date.now() - killedAt;
  // The follower counts the lease duration from when it saw the last renewal (up to one retry period
  // after it) and notices the expiry at its next retry: lease + 2 retry periods (with jitter) at most.
  expect(takeoverMs).toBeLessThanOrEqual((LEASE_SECONDS + 2 * 1.2 + 0.6) * 1000);
  expect(await leaderGauge(follower)).toBe("1");

  // A fresh replica joins; the leader's SIGTERM releases the Lease and the newcomer takes it at its next retry.
  const c = await replica("c");
  await ready(c);
  await waitFor(() => canaryIngressWeight(client, ns, "podinfo"), {
    description: "weight 40",
    until: (w) => w === "40",
  });
  const stoppedAt = Date.now();
  expect(await follower.process.stop(), "graceful exit").toBe(0);
  await waitFor(() => leaderGauge(c), {
    description: "c leads",
    until: (g) => g === "1",
    timeoutMs: 10_000,
    intervalMs: 100,
  });
  const handoverMs = Date.now() - stoppedAt;
  expect(handoverMs, "released, not expired").toBeLessThan(LEASE_SECONDS * 1000);
  expect(readFileSync(follower.process.logFile, "utf8")).toContain("released the Lease");

  await waitForPhase(client, ns, "podinfo", "Succeeded", 90_000);
  // The leader's /metrics tell the same story; the others report no Canary series.
  const scrape = await waitFor(async () => (await http(c, "/metrics")).body, {
    description: "c to count the promotion",
    until: (text) => text.includes(`kanaria_canary_successes_total{name="podinfo",namespace="${ns}"} 1`),
    timeoutMs: 10_000,
  });
  expect(scrape).toContain(`kanaria_canary_status{name="podinfo",namespace="${ns}"} 1`);
  expect(scrape).toContain(`kanaria_canary_total{namespace="${ns}"} 1`);
  expect(scrape).toContain(`kanaria_canary_weight{workload="podinfo-primary",namespace="${ns}"} 100`);
  expect(scrape).toMatch(/^kanaria_reconcile_duration_seconds_count\{result="success"\} [1-9]/m);
  expect(scrape).toMatch(
    new RegExp(`^kanaria_canary_duration_seconds_count\\{name="podinfo",namespace="${ns}"\\} [1-9]`, "m"),
  );
  expect(await weights.stop(), "no weight went back or was skipped").toEqual(["0", "20", "40", "60", "0"]);
  const history = await decided.stop();
  const steps = history.filter((d) => d.phase === "Progressing" && d.lastStepTime !== undefined);
  expect(new Set(steps.map((d) => d.lastStepTime)).size, "one decision per step").toBe(3);
  const events = await canaryEvents(client, ns, "podinfo");
  const count = (prefix: string) =>
    events.filter((e) => e.message.startsWith(prefix)).reduce((sum, e) => sum + e.count, 0);
  expect(count("Promotion completed!"), "promoted once").toBe(1);
  expect(count(`Advance podinfo.${ns} canary weight 40`)).toBe(1);
  expect(count(`Advance podinfo.${ns} canary weight 60`)).toBe(1);
  console.info(
    `leader election: SIGKILL takeover ${takeoverMs} ms (lease ${LEASE_SECONDS}s), SIGTERM handover ${handoverMs} ms`,
  );
});
