// A DaemonSet target against the real API server and DaemonSet controller (pods on the KWOK nodes):
// its -primary DaemonSet becomes ready, parking and unparking keep the revision, and the primary's
// history is read from the ControllerRevisions the DaemonSet controller writes (what a failed
// promotion is undone from).
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import type { DaemonSet } from "../../src/workloads/meta.ts";
import {
  ensurePrimary,
  isReady,
  observeWorkload,
  primaryHistory,
  scaleTarget,
} from "../../src/workloads/primary.ts";
import { resolveRevision } from "../../src/workloads/revision.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { canary as canaryManifest, IMAGE } from "../support/manifests.ts";

const ns = useNamespace("workloads-daemonset");
const logger = pino({ level: process.env.KANARIA_TEST_LOG ?? "silent" });
const dsRef = (name: string) => ({ apiVersion: "apps/v1", kind: "DaemonSet", namespace: ns, name });

function daemonSet(tag: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "agent", namespace: ns },
    spec: {
      selector: { matchLabels: { app: "agent" } },
      template: {
        metadata: { labels: { app: "agent" } },
        spec: { containers: [{ name: "agent", image: `${IMAGE}:${tag}`, ports: [{ containerPort: 9898 }] }] },
      },
    },
  } as KubeObject;
}

describe("a DaemonSet target on a real cluster", () => {
  let client: KubeClient;
  let canary: Canary;
  const get = async (name: string) => (await client.get<DaemonSet>(dsRef(name))) as DaemonSet;
  const settle = (name: string, what: string, until: (d: DaemonSet) => boolean) =>
    waitFor(() => get(name), { description: `DaemonSet ${ns}/${name} ${what}`, until, timeoutMs: 60_000 });

  beforeAll(async () => {
    client = createKubeClient(kubeConnection(), logger);
    await client.apply(daemonSet("6.0.0"));
    const stored = await client.apply(
      canaryManifest(ns, "agent", {
        targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" },
        analysis: { iterations: 1 },
      }),
    );
    canary = stored as unknown as Canary;
  });

  it("parks and unparks with Flagger's node selector, one revision throughout, ready as Flagger judges", async () => {
    const running = await settle("agent", "on both nodes", (d) => (d.status?.numberAvailable ?? 0) === 2);
    expect(isReady(observeWorkload(running), 100)).toBe(true);
    const before = await resolveRevision(client, running);
    await scaleTarget(client, running, 0);
    const parked = await settle(
      "agent",
      "parked, its pods gone",
      // The DaemonSet controller's own word that every pod is gone: it has seen the parked generation,
      // and no pod is scheduled, misscheduled (still on a node the selector now excludes) or available.
      (d) =>
        (d.status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 1) &&
        (d.status?.currentNumberScheduled ?? 1) === 0 &&
        (d.status?.numberMisscheduled ?? 1) === 0 &&
        (d.status?.numberAvailable ?? 0) === 0,
    );
    expect(parked.spec?.template.spec?.nodeSelector).toEqual({ "flagger.app/scale-to-zero": "true" });
    expect(observeWorkload(parked)).toMatchObject({ replicas: 0, draining: false });
    expect((await resolveRevision(client, parked)).hash).toBe(before.hash);
    await scaleTarget(client, parked, 2);
    const back = await settle(
      "agent",
      "back on both nodes",
      (d) => (d.status?.numberAvailable ?? 0) === 2 && (d.status?.updatedNumberScheduled ?? 0) === 2,
    );
    expect(back.spec?.template.spec?.nodeSelector).toBeUndefined();
    expect((await resolveRevision(client, back)).hash).toBe(before.hash);
  });

  it("reads the primary's history from its ControllerRevisions, newest first", async () => {
    for (const tag of ["6.0.0", "6.0.1", "6.0.2"]) {
      const target = (await client.apply(daemonSet(tag))) as DaemonSet;
      await ensurePrimary(client, canary, target, await resolveRevision(client, target));
      await settle(
        "agent-primary",
        `running ${tag}`,
        (d) =>
          d.spec?.template.spec?.containers[0]?.image === `${IMAGE}:${tag}` &&
          (d.status?.updatedNumberScheduled ?? 0) === 2 &&
          (d.status?.numberAvailable ?? 0) === 2,
      );
    }
    const history = await waitFor(async () => primaryHistory(client, await get("agent-primary")), {
      description: "three ControllerRevisions of agent-primary",
      until: (h) => h.length === 3,
    });
    expect(history.map((t) => t.spec?.containers[0]?.image)).toEqual([
      `${IMAGE}:6.0.2`,
      `${IMAGE}:6.0.1`,
      `${IMAGE}:6.0.0`,
    ]);
    expect(history[0]?.metadata?.labels).toEqual({ app: "agent-primary" });
    expect(history[0]?.metadata?.annotations?.["kanaria.dev/revision"]).toBeDefined();
  });
});
