// A promotion whose primary does not become ready: kanaria puts the primary back on the last promoted
// revision, keeps the traffic on ready pods meanwhile, and says Failed only once the primary runs that
// revision ready. Real API server, Deployment controller, scheduler and KWOK pods.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  longestUnreadyTrafficMs,
  recordTraffic,
  testClient,
  waitForPhase,
  weightsOf,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { type AppOptions, canary, deployment, IMAGE, ingress } from "../support/manifests.ts";
import { clusterControl } from "../support/traffic.ts";

const ns = useNamespace("promotion-failure");
const client = testClient();
useController(ns);

const DEADLINE_SECONDS = 20;

async function fakeNodes(): Promise<number> {
  return (await client.list("v1", "Node", undefined, "kanaria.dev/fake-node=true")).length;
}

/** An nginx app at 6.0.0, one step of weight 50, promoted after one interval; Initialized and settled. */
async function initialized(name: string, replicas: number, opts: AppOptions = {}): Promise<void> {
  await client.apply(deployment(ns, name, "6.0.0", { replicas, ...opts }));
  await client.apply(ingress(ns, name));
  await client.apply(
    canary(ns, name, {
      provider: "nginx",
      ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
      progressDeadlineSeconds: DEADLINE_SECONDS,
      analysis: { interval: "10s", threshold: 1, stepWeight: 50, maxWeight: 50 },
    }),
  );
  await waitForPhase(client, ns, name, "Initialized");
  await initializationConverged(client, ns, name);
}

/** The ReplicaSets of a primary, as images. */
async function primaryReplicaSetImages(name: string): Promise<string[]> {
  type ReplicaSet = KubeObject & { spec?: { template?: { spec?: { containers?: { image?: string }[] } } } };
  const sets = await client.list<ReplicaSet>("apps/v1", "ReplicaSet", ns, `app=${name}-primary`);
  return sets.map((rs) => rs.spec?.template?.spec?.containers?.[0]?.image ?? "").sort();
}

async function expectRolledBackAndRestored(name: string): Promise<void> {
  const status = (await getCanary(client, ns, name)).status;
  expect(status).toMatchObject({ phase: "Failed", canaryWeight: 0 });
  expect(status?.restoring).toBeUndefined();
  expect(status?.lastPromotedSpec).not.toBe(status?.lastAppliedSpec);
  const stalled = status?.conditions?.find((c) => c.type === "Stalled");
  expect(stalled?.status).toBe("True");
  expect(stalled?.message).toMatch(
    new RegExp(
      `^rolled back: promotion of revision \\S+ failed \\(${name}-primary\\.${ns} \\(promotion\\) not ready after \\d+s \\(progressDeadlineSeconds ${DEADLINE_SECONDS}\\)\\); ${name}-primary\\.${ns} restored to revision ${status?.lastPromotedSpec}$`,
    ),
  );
  const primary = await getDeployment(client, ns, `${name}-primary`);
  expect(imageOf(primary), "the primary runs the last promoted image again").toBe(`${IMAGE}:6.0.0`);
  expect(primary?.metadata?.annotations?.["kanaria.dev/revision"]).toBe(status?.lastPromotedSpec);
  expect(primary?.status?.readyReplicas).toBe(primary?.spec?.replicas);
  await waitFor(() => getDeployment(client, ns, name), {
    description: `${name} scaled to zero after the rollback`,
    until: (d) => d?.spec?.replicas === 0,
  });
  const events = await canaryEvents(client, ns, name);
  const rolledBack = events.filter((e) => e.reason === "RolledBack");
  expect(rolledBack).toHaveLength(1);
  expect(rolledBack[0]?.type).toBe("Warning");
  expect(rolledBack[0]?.message).toMatch(
    new RegExp(
      `^Promotion of ${name}\\.${ns} revision \\S+ failed: .*\\. Rolling back: restoring ${name}-primary\\.${ns} to the last promoted revision ${status?.lastPromotedSpec}; `,
    ),
  );
  expect(events.filter((e) => e.reason === "Restored")).toHaveLength(1);
  expect(events.some((e) => e.message.startsWith("Promotion completed!"))).toBe(false);
}

describe.concurrent("a promoted primary whose new revision never becomes ready", () => {
  // 6.0.1 may not run beside the canary's pods (one per node): the primary's copy cannot schedule.
  it("keeps the traffic on the primary's old pods (rolling update) and restores it", {
    timeout: 240_000,
  }, async () => {
    const nodes = await fakeNodes();
    await initialized("rolling", nodes);
    const traffic = recordTraffic(client, ns, "rolling");
    await client.apply(deployment(ns, "rolling", "6.0.1", { replicas: nodes, awayFrom: "rolling" }));
    // status.restoring lasts only while the restore runs: a slow poll may see the Canary Failed already.
    await waitFor(() => getCanary(client, ns, "rolling"), {
      description: "the promotion to fail and the restore to start",
      until: (c) => c.status?.restoring !== undefined || c.status?.phase === "Failed",
      timeoutMs: 120_000,
    });
    await waitForPhase(client, ns, "rolling", "Failed", 90_000);
    await expectRolledBackAndRestored("rolling");
    const samples = await traffic.stop();
    expect(weightsOf(samples)).toEqual([0, 50, 0]);
    expect(longestUnreadyTrafficMs(samples), "ms of traffic on a Deployment with no ready pod").toBe(0);
  });

  it("moves the traffic to the canary while the primary has no ready pod (recreate), then back", {
    timeout: 240_000,
  }, async () => {
    const nodes = await fakeNodes();
    await initialized("recreate", nodes, { strategy: "Recreate" });
    const traffic = recordTraffic(client, ns, "recreate");
    await client.apply(
      deployment(ns, "recreate", "6.0.1", { replicas: nodes, awayFrom: "recreate", strategy: "Recreate" }),
    );
    await waitForPhase(client, ns, "recreate", "Failed", 150_000);
    await expectRolledBackAndRestored("recreate");
    const samples = await traffic.stop();
    expect(weightsOf(samples)).toEqual([0, 50, 100, 0]);
    // The Deployment controller deletes all of the primary's pods at once (Recreate); kanaria moves the
    // traffic off it as soon as it sees that, and back only once the restored pods are ready.
    expect(longestUnreadyTrafficMs(samples), "ms of traffic on a Deployment with no ready pod").toBeLessThan(
      3_000,
    );
    const events = await canaryEvents(client, ns, "recreate");
    expect(events.map((e) => e.message)).toContain(
      `Routing all traffic to canary recreate.${ns}: recreate-primary.${ns} has no ready pods while it rolls out`,
    );
  });
});

describe("kube-controller-manager stopped during a promotion", () => {
  it("restores the primary's template and turns Failed only once the Deployment controller is back", {
    timeout: 240_000,
  }, async () => {
    await initialized("stalled", 2);
    const traffic = recordTraffic(client, ns, "stalled");
    await client.apply(deployment(ns, "stalled", "6.0.1"));
    await waitFor(() => getCanary(client, ns, "stalled"), {
      description: "the canary at its last weight, before the promotion",
      until: (c) => c.status?.phase === "Progressing" && c.status.canaryWeight === 50,
      timeoutMs: 60_000,
    });
    await clusterControl("controller-manager", "stop");
    try {
      const restoring = await waitFor(() => getCanary(client, ns, "stalled"), {
        description: "the promotion to time out and the restore to start",
        until: (c) => c.status?.restoring !== undefined,
        timeoutMs: 90_000,
      });
      expect(restoring.status?.phase).toBe("Promoting");
      await waitFor(() => getDeployment(client, ns, "stalled-primary"), {
        description: "the primary's template back on 6.0.0",
        until: (d) => imageOf(d) === `${IMAGE}:6.0.0`,
      });
      // Past the deadline, with nothing able to roll out: still not Failed (the primary is not back yet).
      await new Promise((r) => setTimeout(r, 5_000));
      const waiting = await getCanary(client, ns, "stalled");
      expect(waiting.status?.phase).toBe("Promoting");
      expect(waiting.status?.canaryWeight, "all traffic on the primary's ready (old) pods").toBe(0);
    } finally {
      await clusterControl("controller-manager", "start");
    }
    await waitForPhase(client, ns, "stalled", "Failed", 90_000);
    await expectRolledBackAndRestored("stalled");
    expect(
      await primaryReplicaSetImages("stalled"),
      "the new revision never ran on the primary: it has only its old ReplicaSet",
    ).toEqual([`${IMAGE}:6.0.0`]);
    const samples = await traffic.stop();
    expect(weightsOf(samples)).toEqual([0, 50, 0]);
    expect(longestUnreadyTrafficMs(samples), "ms of traffic on a Deployment with no ready pod").toBe(0);
  });
});
