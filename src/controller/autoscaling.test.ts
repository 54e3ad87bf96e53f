import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, NS } from "../../test/helpers/fixtures.ts";
import type { Canary, CanaryStatus } from "../api/canary.ts";
import { UnservedKindError } from "../kube/errors.ts";
import type { KubeObject } from "../kube/types.ts";
import { PAUSED_REPLICAS } from "../scalers/keda.ts";
import {
  type Autoscaling,
  floorFor,
  observeAutoscaling,
  releaseAutoscaler,
  scaleAfterRoutes,
  scaleBeforeRoutes,
  withPrimaryCapacity,
} from "./autoscaling.ts";
import type { Decision } from "./decide.ts";

const hpaCanary = (): Canary =>
  canaryFixture({
    autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "podinfo" },
  });
const kedaCanary = (): Canary =>
  canaryFixture({ autoscalerRef: { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", name: "podinfo" } });

const hpa = (name = "podinfo", extra: Partial<KubeObject["metadata"]> = {}): KubeObject =>
  ({
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, namespace: NS, ...extra },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      minReplicas: 2,
      maxReplicas: 10,
    },
  }) as KubeObject;

const scaledObject = (annotations: Record<string, string> = {}): KubeObject =>
  ({
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: "podinfo", namespace: NS, annotations },
    spec: { scaleTargetRef: { name: "podinfo" }, minReplicaCount: 1, maxReplicaCount: 5, triggers: [] },
  }) as KubeObject;

const HPA_PRIMARY = {
  apiVersion: "autoscaling/v2",
  kind: "HorizontalPodAutoscaler",
  namespace: NS,
  name: "podinfo-primary",
};
const SO = { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", namespace: NS, name: "podinfo" };
const minOf = async (client: FakeKubeClient) =>
  ((await client.get(HPA_PRIMARY)) as { spec?: { minReplicas?: number } } | undefined)?.spec?.minReplicas;

async function observed(client: FakeKubeClient, canary: Canary): Promise<Autoscaling> {
  const result = await observeAutoscaling(client, canary);
  if (!result || result.blocker) throw new Error(`expected autoscalers, got ${JSON.stringify(result)}`);
  return result.autoscaling;
}

const decision = (status: CanaryStatus): Decision => ({
  status,
  events: [],
  needsChecks: false,
  needsPreflight: false,
  needsWebhooks: [],
  requeueAfterMs: 1000,
  blocked: false,
});

describe("observeAutoscaling", () => {
  it("is undefined without autoscalerRef", async () => {
    expect(await observeAutoscaling(new FakeKubeClient(), canaryFixture())).toBeUndefined();
  });

  it("blocks on a missing autoscaler, naming the field and the fix", async () => {
    expect(await observeAutoscaling(new FakeKubeClient(), hpaCanary())).toEqual({
      blocker: {
        reason: "AutoscalerNotFound",
        message: `spec.autoscalerRef: HorizontalPodAutoscaler ${NS}/podinfo does not exist: create it (aimed at Deployment podinfo) or remove autoscalerRef`,
      },
    });
  });

  it("blocks on a -primary autoscaler another owner made", async () => {
    const client = new FakeKubeClient([hpa(), hpa("podinfo-primary")]);
    expect((await observeAutoscaling(client, hpaCanary()))?.blocker?.reason).toBe("AutoscalerNotOwned");
  });

  it("blocks when the API server does not serve the kind (KEDA not installed)", async () => {
    const client = new FakeKubeClient();
    client.get = async () => {
      throw new UnservedKindError(
        "cannot resolve ScaledObject (keda.sh/v1alpha1): the API server does not serve this kind",
      );
    };
    expect(await observeAutoscaling(client, kedaCanary())).toEqual({
      blocker: {
        reason: "AutoscalerNotServed",
        message:
          "spec.autoscalerRef: the API server does not serve ScaledObject keda.sh/v1alpha1: install its CRD (KEDA for ScaledObject) or remove autoscalerRef",
      },
    });
  });

  it("blocks on primaryScalerQueries naming no trigger before anything is written", async () => {
    const canary = kedaCanary();
    if (canary.spec.autoscalerRef) canary.spec.autoscalerRef.primaryScalerQueries = { missing: "up" };
    const client = new FakeKubeClient([scaledObject()]);
    expect((await observeAutoscaling(client, canary))?.blocker?.reason).toBe("AutoscalerInvalid");
    expect(client.writes).toEqual([]);
  });
});

describe("status.primaryScaler", () => {
  const release: CanaryStatus = { phase: "Progressing", lastAppliedSpec: "rev-b" };

  it("records the primary's ready replicas at the first decision of a release, once", async () => {
    const autoscaling = await observed(new FakeKubeClient([hpa()]), hpaCanary());
    const first = withPrimaryCapacity(decision(release), hpaCanary(), autoscaling, 7);
    expect(first.status.primaryScaler).toEqual({ revision: "rev-b", readyReplicas: 7, floor: 7 });
    // Later ticks keep the first count, whatever the primary has now.
    expect(withPrimaryCapacity(first, hpaCanary(), autoscaling, 3).status.primaryScaler?.readyReplicas).toBe(
      7,
    );
    const next = withPrimaryCapacity(
      decision({ ...first.status, lastAppliedSpec: "rev-c" }),
      hpaCanary(),
      autoscaling,
      4,
    );
    expect(next.status.primaryScaler).toEqual({ revision: "rev-c", readyReplicas: 4, floor: 4 });
  });

  it("keeps the floor within the autoscaler's bounds", async () => {
    const autoscaling = await observed(new FakeKubeClient([hpa()]), hpaCanary());
    const floor = (ready: number | undefined) =>
      withPrimaryCapacity(decision(release), hpaCanary(), autoscaling, ready).status.primaryScaler?.floor;
    expect(floor(30)).toBe(10);
    expect(floor(0)).toBe(2);
    expect(floor(undefined)).toBe(2);
  });

  it("records nothing outside a release or without an autoscaler", async () => {
    const autoscaling = await observed(new FakeKubeClient([hpa()]), hpaCanary());
    const settled = decision({ phase: "Succeeded", lastAppliedSpec: "rev-b" });
    expect(withPrimaryCapacity(settled, hpaCanary(), autoscaling, 5)).toBe(settled);
    expect(
      withPrimaryCapacity(decision(release), hpaCanary(), undefined, 5).status.primaryScaler,
    ).toBeUndefined();
  });

  it("holds the floor from the start of the release until all traffic is back on the primary", () => {
    const primaryScaler = { revision: "rev-b", readyReplicas: 6, floor: 6 };
    const phases = [
      "Progressing",
      "WaitingPromotion",
      "Promoting",
      "Finalising",
      "Succeeded",
      "Failed",
      "Initialized",
    ] as const;
    expect(phases.map((phase) => floorFor({ phase, lastAppliedSpec: "rev-b", primaryScaler }))).toEqual([
      6,
      6,
      6,
      6,
      undefined,
      undefined,
      undefined,
    ]);
    expect(floorFor({ phase: "Promoting", lastAppliedSpec: "rev-c", primaryScaler })).toBeUndefined();
  });
});

describe("converging the autoscalers", () => {
  const promoting: CanaryStatus = {
    phase: "Promoting",
    lastAppliedSpec: "rev-b",
    primaryScaler: { revision: "rev-b", readyReplicas: 6, floor: 6 },
  };

  it("raises the primary's minimum before the routes change and gives it back only after", async () => {
    const client = new FakeKubeClient([hpa()]);
    const canary = hpaCanary();
    await scaleBeforeRoutes(client, canary, promoting, await observed(client, canary), true);
    expect(await minOf(client)).toBe(6);
    const succeeded = { ...promoting, phase: "Succeeded" as const };
    await scaleBeforeRoutes(client, canary, succeeded, await observed(client, canary), false);
    expect(await minOf(client), "not lowered before the routes change").toBe(6);
    await scaleAfterRoutes(client, canary, succeeded, await observed(client, canary), true);
    expect(await minOf(client), "given back after").toBe(2);
  });

  it("takes the referenced HPA's edits to the primary at a promotion only, as Flagger", async () => {
    const client = new FakeKubeClient([hpa()]);
    const canary = hpaCanary();
    const maxOf = async () =>
      ((await client.get(HPA_PRIMARY)) as { spec?: { maxReplicas?: number } }).spec?.maxReplicas;
    await scaleAfterRoutes(client, canary, { phase: "Initialized" }, await observed(client, canary), true);
    expect(await maxOf()).toBe(10);
    await client.mergePatch({ ...HPA_PRIMARY, name: "podinfo" }, { spec: { maxReplicas: 20 } });
    for (const phase of ["Succeeded", "Progressing", "Initializing"] as const) {
      await scaleAfterRoutes(
        client,
        canary,
        { phase, lastAppliedSpec: "rev-b" },
        await observed(client, canary),
        false,
      );
      expect(await maxOf(), phase).toBe(10);
    }
    const restoring = { phase: "Promoting" as const, restoring: { reason: "x", time: "t" } };
    await scaleAfterRoutes(client, canary, restoring, await observed(client, canary), false);
    expect(await maxOf(), "not while a failed promotion is undone").toBe(10);
    await scaleAfterRoutes(client, canary, { phase: "Promoting" }, await observed(client, canary), false);
    expect(await maxOf()).toBe(20);
  });

  it("lowers a recorded floor the promoted maximum cannot reach", async () => {
    const client = new FakeKubeClient([hpa()]);
    const autoscaling = await observed(client, hpaCanary());
    const status: CanaryStatus = {
      ...promoting,
      primaryScaler: { revision: "rev-b", readyReplicas: 14, floor: 14 },
    };
    const lowered = withPrimaryCapacity(decision(status), hpaCanary(), autoscaling, 14);
    expect(lowered.status.primaryScaler).toEqual({ revision: "rev-b", readyReplicas: 14, floor: 10 });
  });

  it("pauses a ScaledObject after the routes before the scale-down, resumes it before a scale-up and on deletion", async () => {
    const client = new FakeKubeClient([scaledObject()]);
    const canary = kedaCanary();
    const paused = async () => (await client.get(SO))?.metadata.annotations?.[PAUSED_REPLICAS];
    await scaleBeforeRoutes(client, canary, { phase: "Succeeded" }, await observed(client, canary), false);
    expect(await paused()).toBeUndefined();
    await scaleAfterRoutes(client, canary, { phase: "Succeeded" }, await observed(client, canary), true);
    expect(await paused()).toBe("0");
    await scaleBeforeRoutes(client, canary, { phase: "Progressing" }, await observed(client, canary), true);
    expect(await paused()).toBeUndefined();
    await scaleAfterRoutes(client, canary, { phase: "Succeeded" }, await observed(client, canary), true);
    await releaseAutoscaler(client, await observed(client, canary));
    expect(await paused()).toBeUndefined();
  });

  it("patches the paused ScaledObject once, not on every tick", async () => {
    const client = new FakeKubeClient([scaledObject()]);
    const canary = kedaCanary();
    await scaleAfterRoutes(client, canary, { phase: "Succeeded" }, await observed(client, canary), true);
    const version = (await client.get(SO))?.metadata.resourceVersion;
    await scaleAfterRoutes(client, canary, { phase: "Succeeded" }, await observed(client, canary), true);
    expect(client.writes.filter((w) => w.op === "mergePatch")).toHaveLength(1);
    expect((await client.get(SO))?.metadata.resourceVersion).toBe(version);
  });
});
