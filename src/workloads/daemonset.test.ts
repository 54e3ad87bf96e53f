import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, NS } from "../../test/helpers/fixtures.ts";
import type { KubeObject } from "../kube/types.ts";
import { DAEMONSET, SCALE_TO_ZERO_KEY } from "./daemonset.ts";
import type { DaemonSet } from "./meta.ts";
import { buildPrimary, isReady, observeWorkload, primaryHistory, scaleTarget } from "./primary.ts";
import { computeRevision } from "./revision.ts";

function daemonSet(nodeSelector?: Record<string, string>, status?: DaemonSet["status"]): DaemonSet {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "agent", namespace: NS, generation: 2, uid: "ds-uid" },
    spec: {
      selector: { matchLabels: { app: "agent" } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      minReadySeconds: 3,
      template: {
        metadata: { labels: { app: "agent" } },
        spec: {
          containers: [{ name: "agent", image: "agent:1", ports: [{ containerPort: 9898 }] }],
          ...(nodeSelector ? { nodeSelector } : {}),
        },
      },
    },
    ...(status ? { status } : {}),
  };
}

const status = (s: Partial<NonNullable<DaemonSet["status"]>>): DaemonSet["status"] => ({
  observedGeneration: 2,
  currentNumberScheduled: 0,
  desiredNumberScheduled: 0,
  numberMisscheduled: 0,
  numberReady: 0,
  ...s,
});

describe("DaemonSet readiness, as Flagger judges it", () => {
  it.each<[string, DaemonSet, object, boolean]>([
    [
      "every node runs an updated, available pod",
      daemonSet(
        undefined,
        status({ desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 4 }),
      ),
      { replicas: 4, readyPercent: 100, updated: true, rolloutComplete: true, draining: false },
      true,
    ],
    [
      "an old pod left: not updated",
      daemonSet(
        undefined,
        status({ desiredNumberScheduled: 4, updatedNumberScheduled: 3, numberAvailable: 4 }),
      ),
      { replicas: 4, updated: false },
      false,
    ],
    [
      "the controller has not seen the latest spec",
      daemonSet(
        undefined,
        status({
          observedGeneration: 1,
          desiredNumberScheduled: 4,
          updatedNumberScheduled: 4,
          numberAvailable: 4,
        }),
      ),
      { updated: false },
      false,
    ],
    [
      "updated, but one pod not available yet",
      daemonSet(
        undefined,
        status({ desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 3 }),
      ),
      { readyPercent: 75, updated: true, rolloutComplete: false },
      false,
    ],
    [
      "parked by the node selector: runs nowhere, not ready",
      daemonSet({ [SCALE_TO_ZERO_KEY]: "true" }, status({})),
      { replicas: 0, readyPercent: 0, draining: false },
      false,
    ],
    [
      "parked, its pods still being deleted: draining",
      daemonSet({ [SCALE_TO_ZERO_KEY]: "true" }, status({ numberMisscheduled: 2, numberAvailable: 2 })),
      { replicas: 0, draining: true },
      false,
    ],
    [
      "parked, the controller has not seen it yet: draining",
      daemonSet(
        { [SCALE_TO_ZERO_KEY]: "true" },
        status({ observedGeneration: 1, desiredNumberScheduled: 4 }),
      ),
      { replicas: 0, draining: true },
      false,
    ],
  ])("%s", (_name, ds, state, ready) => {
    expect(observeWorkload(ds)).toMatchObject({ exists: true, ...state });
    expect(isReady(observeWorkload(ds), 100)).toBe(ready);
  });

  it("applies the readiness threshold to the available share", () => {
    const ds = daemonSet(
      undefined,
      status({ desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 3 }),
    );
    expect(isReady(observeWorkload(ds), 75)).toBe(true);
    expect(isReady(observeWorkload(ds), 76)).toBe(false);
  });
});

describe("DaemonSet parking (Flagger's scale to zero)", () => {
  const ref = { apiVersion: "apps/v1", kind: "DaemonSet", namespace: NS, name: "agent" };

  it("parks with flagger.app/scale-to-zero and unparks keeping the user's node selectors", async () => {
    const client = new FakeKubeClient([daemonSet({ "kubernetes.io/os": "linux" })]);
    await scaleTarget(client, daemonSet({ "kubernetes.io/os": "linux" }), 0);
    const parked = (await client.get<DaemonSet>(ref)) as DaemonSet;
    expect(parked.spec?.template.spec?.nodeSelector).toEqual({
      "kubernetes.io/os": "linux",
      "flagger.app/scale-to-zero": "true",
    });
    await scaleTarget(client, parked, 3);
    const up = (await client.get<DaemonSet>(ref)) as DaemonSet;
    expect(up.spec?.template.spec?.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    expect(client.writes.map((w) => w.op)).toEqual(["mergePatch", "mergePatch"]);
  });

  it("writes nothing when already where asked", async () => {
    const client = new FakeKubeClient([daemonSet()]);
    await scaleTarget(client, daemonSet(), 2);
    await scaleTarget(client, daemonSet({ [SCALE_TO_ZERO_KEY]: "true" }), 0);
    expect(client.writes).toEqual([]);
  });

  it("leaves the parking selector out of the revision", () => {
    const revision = (ds: DaemonSet) => computeRevision(DAEMONSET.template(ds) ?? {}, {});
    expect(revision(daemonSet({ [SCALE_TO_ZERO_KEY]: "true" }))).toBe(revision(daemonSet()));
    expect(revision(daemonSet({ a: "b", [SCALE_TO_ZERO_KEY]: "true" }))).toBe(
      revision(daemonSet({ a: "b" })),
    );
    // Unparking the last node selector may leave {} behind: still the same revision.
    expect(revision(daemonSet({}))).toBe(revision(daemonSet()));
  });
});

describe("the -primary DaemonSet", () => {
  it("copies the template without the parking selector, and the update strategy, with no replica count", () => {
    const revision = { hash: "abc123", trackedConfigs: {} };
    const primary = buildPrimary(canaryFixture(), daemonSet({ [SCALE_TO_ZERO_KEY]: "true" }), revision);
    expect(primary.kind).toBe("DaemonSet");
    expect(primary.metadata.name).toBe("agent-primary");
    expect(primary.spec).toEqual({
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      minReadySeconds: 3,
      revisionHistoryLimit: undefined,
      selector: { matchLabels: { app: "agent-primary" } },
      template: {
        metadata: { labels: { app: "agent-primary" }, annotations: { "kanaria.dev/revision": "abc123" } },
        spec: { containers: [{ name: "agent", image: "agent:1", ports: [{ containerPort: 9898 }] }] },
      },
    });
  });

  it("refuses OnDelete, naming the field and the fix", () => {
    const ds = daemonSet();
    ds.spec = { ...(ds.spec as NonNullable<DaemonSet["spec"]>), updateStrategy: { type: "OnDelete" } };
    expect(() => DAEMONSET.check(ds)).toThrow(
      `DaemonSet ${NS}/agent has spec.updateStrategy.type OnDelete: kanaria rolls DaemonSets out with RollingUpdate; set spec.updateStrategy.type to RollingUpdate`,
    );
  });

  it("finds what the primary ran in its ControllerRevisions, newest first, its own only", async () => {
    const primary = { ...daemonSet(), metadata: { name: "agent-primary", namespace: NS, uid: "p-uid" } };
    primary.spec = {
      ...(primary.spec as NonNullable<DaemonSet["spec"]>),
      selector: { matchLabels: { app: "agent-primary" } },
    };
    const revision = (name: string, n: number, image: string, owner = "p-uid"): KubeObject =>
      ({
        apiVersion: "apps/v1",
        kind: "ControllerRevision",
        metadata: {
          name,
          namespace: NS,
          labels: { app: "agent-primary" },
          ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "agent-primary", uid: owner }],
        },
        revision: n,
        data: {
          spec: {
            template: {
              $patch: "replace",
              metadata: { labels: { app: "agent-primary" } },
              spec: { containers: [{ name: "a", image }] },
            },
          },
        },
      }) as KubeObject;
    const client = new FakeKubeClient([
      revision("r1", 1, "agent:1"),
      revision("r3", 3, "agent:3"),
      revision("r2", 2, "agent:2"),
      revision("x9", 9, "other:9", "someone-else"),
    ]);
    const templates = await primaryHistory(client, primary as DaemonSet);
    expect(templates.map((t) => t.spec?.containers[0]?.image)).toEqual(["agent:3", "agent:2", "agent:1"]);
    expect(templates[0]).toEqual({
      metadata: { labels: { app: "agent-primary" } },
      spec: { containers: [{ name: "a", image: "agent:3" }] },
    });
  });
});
