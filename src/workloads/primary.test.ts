import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import {
  canaryFixture,
  configMapFixture,
  deploymentFixture,
  NS,
  secretFixture,
} from "../../test/helpers/fixtures.ts";
import type { Deployment } from "./meta.ts";
import {
  buildPrimary,
  ensurePrimary,
  isReady,
  observeWorkload,
  primaryName,
  REVISION_ANNOTATION,
  recordedSettings,
  restorePrimary,
  revisionOfPrimary,
  SETTINGS_ANNOTATION,
  scaleTarget,
} from "./primary.ts";
import { type Revision, resolveRevision } from "./revision.ts";
import { SelectorLabelError, selectorLabel } from "./selector.ts";

const revision: Revision = {
  hash: "0123456789abcdef",
  trackedConfigs: { "configmap/podinfo-config": "aaaa", "secret/podinfo-secret": "bbbb" },
};

function withReplicas(d: Deployment, replicas: number): Deployment {
  return { ...d, spec: { ...d.spec, replicas } } as Deployment;
}

describe("selectorLabel", () => {
  const withSelector = (matchLabels: Record<string, string>) =>
    ({
      ...deploymentFixture(),
      spec: { ...deploymentFixture().spec, selector: { matchLabels } },
    }) as Deployment;

  it("prefers app, then name, then app.kubernetes.io/name (Flagger's order)", () => {
    expect(selectorLabel(withSelector({ "app.kubernetes.io/name": "x", name: "y", app: "z" }))).toEqual({
      key: "app",
      value: "z",
    });
    expect(selectorLabel(withSelector({ "app.kubernetes.io/name": "x", name: "y" }))).toEqual({
      key: "name",
      value: "y",
    });
    expect(selectorLabel(withSelector({ "app.kubernetes.io/name": "x" }))).toEqual({
      key: "app.kubernetes.io/name",
      value: "x",
    });
  });

  it("names the Deployment and the accepted labels when none is present", () => {
    expect(() => selectorLabel(withSelector({ tier: "web" }))).toThrow(SelectorLabelError);
    expect(() => selectorLabel(withSelector({ tier: "web" }))).toThrow(
      /Deployment shop\/podinfo: spec\.selector\.matchLabels has none of .*\(app, name, app\.kubernetes\.io\/name\)/,
    );
  });
});

describe("buildPrimary", () => {
  const primary = buildPrimary(canaryFixture(), deploymentFixture(), revision);

  it("carries only the selector label, unless --include-label-prefix names others", () => {
    expect(primary.metadata.labels).toEqual({ app: "podinfo-primary" });
    // "*": every label of the target, the selector label still the primary's own.
    const all = buildPrimary(canaryFixture(), deploymentFixture(), revision, undefined, ["*"]);
    expect(all.metadata.labels).toEqual({ app: "podinfo-primary", "app.kubernetes.io/managed-by": "Helm" });
  });

  it("records the rollout settings it applied, for drift", () => {
    expect(recordedSettings(primary)).toEqual({
      replicas: 3,
      minReadySeconds: 5,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    });
  });

  it("leaves replicas out of the recorded settings when an autoscaler owns them", () => {
    const autoscaled = canaryFixture({
      autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "podinfo" },
    });
    const built = buildPrimary(autoscaled, deploymentFixture(), revision);
    expect(built.spec?.replicas).toBe(3);
    expect(recordedSettings(built)).toEqual({
      minReadySeconds: 5,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    });
  });

  it("reads no settings from a primary written before they were recorded, or with a mangled value", () => {
    const { [SETTINGS_ANNOTATION]: _, ...older } = primary.metadata.annotations ?? {};
    expect(
      recordedSettings({ ...primary, metadata: { ...primary.metadata, annotations: older } }),
    ).toBeUndefined();
    const mangled = { ...older, [SETTINGS_ANNOTATION]: "{not json" };
    expect(
      recordedSettings({ ...primary, metadata: { ...primary.metadata, annotations: mangled } }),
    ).toBeUndefined();
  });

  it("names the Deployment <target>-primary and selects <value>-primary pods", () => {
    expect(primary.metadata.name).toBe("podinfo-primary");
    expect(primary.metadata.namespace).toBe(NS);
    expect(primary.spec?.selector).toEqual({ matchLabels: { app: "podinfo-primary" } });
    expect(primary.spec?.template.metadata?.labels).toEqual({ app: "podinfo-primary", tier: "web" });
  });

  it("carries only the selector label, the user's annotations, the revision and the settings", () => {
    expect(primary.metadata.labels).toEqual({ app: "podinfo-primary" });
    expect(primary.metadata.annotations).toEqual({
      team: "web",
      [REVISION_ANNOTATION]: revision.hash,
      [SETTINGS_ANNOTATION]: expect.any(String),
    });
    expect(primary.spec?.template.metadata?.annotations).toEqual({
      "prometheus.io/scrape": "true",
      [REVISION_ANNOTATION]: revision.hash,
    });
  });

  it("is owned by the Canary", () => {
    expect(primary.metadata.ownerReferences).toEqual([
      {
        apiVersion: "kanaria.dev/v1alpha1",
        kind: "Canary",
        name: "podinfo",
        uid: "canary-uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it("runs the target's pod spec against the -primary configs", () => {
    const spec = primary.spec?.template.spec;
    expect(spec?.volumes?.[0]?.configMap?.name).toBe("podinfo-config-primary");
    expect(spec?.containers[0]?.envFrom?.[0]?.secretRef?.name).toBe("podinfo-secret-primary");
    expect(spec?.containers[0]?.image).toBe("ghcr.io/stefanprodan/podinfo:6.0.0");
  });

  it("copies the rollout settings of the target", () => {
    expect(primary.spec?.strategy).toEqual(deploymentFixture().spec?.strategy);
    expect(primary.spec?.minReadySeconds).toBe(5);
    expect(primary.spec?.replicas).toBe(3);
  });

  it("keeps its replicas while the target is scaled to zero", () => {
    const target = withReplicas(deploymentFixture(), 0);
    expect(buildPrimary(canaryFixture(), target, revision).spec?.replicas).toBe(1);
    const current = withReplicas(primary, 4);
    expect(buildPrimary(canaryFixture(), target, revision, current).spec?.replicas).toBe(4);
  });

  it("leaves replicas to the autoscaler once the primary exists", () => {
    const canary = canaryFixture({
      autoscalerRef: {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        name: "podinfo",
        primaryScalerReplicas: { minReplicas: 2, maxReplicas: 10 },
      },
    });
    expect(buildPrimary(canary, deploymentFixture(), revision).spec?.replicas).toBe(2);
    expect(buildPrimary(canary, deploymentFixture(), revision, withReplicas(primary, 7)).spec?.replicas).toBe(
      7,
    );
  });
});

describe("ensurePrimary", () => {
  async function setup() {
    const target = deploymentFixture();
    const client = new FakeKubeClient([target, configMapFixture(), secretFixture()]);
    return { client, target, revision: await resolveRevision(client, target) };
  }

  it("copies the configs and applies the primary", async () => {
    const { client, target, revision } = await setup();
    const applied = await ensurePrimary(client, canaryFixture(), target, revision);
    expect(applied.metadata.annotations?.[REVISION_ANNOTATION]).toBe(revision.hash);
    expect(
      await client.get({
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: NS,
        name: "podinfo-config-primary",
      }),
    ).toBeDefined();
    expect(
      await client.get({ apiVersion: "v1", kind: "Secret", namespace: NS, name: "podinfo-secret-primary" }),
    ).toBeDefined();
  });

  it("is idempotent", async () => {
    const { client, target, revision } = await setup();
    const first = await ensurePrimary(client, canaryFixture(), target, revision);
    const second = await ensurePrimary(client, canaryFixture(), target, revision);
    expect(second.spec).toEqual(first.spec);
    expect(second.metadata.generation).toBe(first.metadata.generation);
  });

  it("refuses to take over a Deployment it does not control", async () => {
    const { client, target, revision } = await setup();
    client.seed({ ...deploymentFixture(), metadata: { name: "podinfo-primary", namespace: NS } });
    await expect(ensurePrimary(client, canaryFixture(), target, revision)).rejects.toThrow(
      /Deployment shop\/podinfo-primary exists and is not controlled by this Canary/,
    );
    expect(client.writes).toEqual([]);
  });
});

describe("restorePrimary", () => {
  const withImage = (tag: string): Deployment => {
    const d = deploymentFixture();
    const containers = (d.spec?.template.spec?.containers ?? []).map((c) => ({
      ...c,
      image: `ghcr.io/stefanprodan/podinfo:${tag}`,
    }));
    return {
      ...d,
      spec: { ...d.spec, template: { ...d.spec?.template, spec: { ...d.spec?.template.spec, containers } } },
    } as Deployment;
  };
  /** A ReplicaSet as the Deployment controller makes it: the template plus pod-template-hash. */
  const replicaSet = (primary: Deployment, rollout: number, ownerUid = primary.metadata.uid) => ({
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name: `podinfo-primary-${rollout}${ownerUid === primary.metadata.uid ? "" : "-other"}`,
      namespace: NS,
      labels: { app: "podinfo-primary", "pod-template-hash": `h${rollout}` },
      annotations: { "deployment.kubernetes.io/revision": String(rollout) },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo-primary", uid: ownerUid ?? "" },
      ],
    },
    spec: {
      template: {
        ...primary.spec?.template,
        metadata: {
          ...primary.spec?.template.metadata,
          labels: { ...primary.spec?.template.metadata?.labels, "pod-template-hash": `h${rollout}` },
        },
      },
    },
  });

  async function promotedThenFailed() {
    const client = new FakeKubeClient([configMapFixture(), secretFixture()]);
    const old = withImage("6.0.0");
    const oldRevision = await resolveRevision(client, old);
    const before = await ensurePrimary(client, canaryFixture(), old, oldRevision);
    const next = withImage("6.0.1");
    const nextRevision = await resolveRevision(client, next);
    const after = await ensurePrimary(client, canaryFixture(), next, nextRevision);
    return { client, before, after, next, nextRevision, oldRevision };
  }

  it("puts back the template of the newest ReplicaSet of the primary that ran the revision, as rollout undo", async () => {
    const { client, before, after, next, nextRevision, oldRevision } = await promotedThenFailed();
    client.seed(replicaSet(before, 1));
    client.seed(replicaSet(after, 2));
    // Not the primary's (another owner), though newer and with the revision: never taken.
    const foreign = replicaSet(before, 9, "someone-else");
    const foreignSpec = foreign.spec.template.spec;
    client.seed({
      ...foreign,
      spec: {
        template: {
          ...foreign.spec.template,
          spec: { ...foreignSpec, containers: [{ name: "x", image: "x" }] },
        },
      },
    });
    const restored = await restorePrimary(client, canaryFixture(), next, nextRevision, oldRevision.hash);
    expect(restored.metadata.annotations?.[REVISION_ANNOTATION]).toBe(oldRevision.hash);
    expect(restored.spec?.template).toEqual(before.spec?.template);
    expect(restored.spec?.template.metadata?.labels).not.toHaveProperty("pod-template-hash");
    expect(restored.spec?.replicas).toBe(before.spec?.replicas);
  });

  it("is a blocker naming the way out when no ReplicaSet of the primary ran the revision", async () => {
    const { client, after, next, nextRevision, oldRevision } = await promotedThenFailed();
    client.seed(replicaSet(after, 2));
    await expect(
      restorePrimary(client, canaryFixture(), next, nextRevision, oldRevision.hash),
    ).rejects.toMatchObject({
      reason: "PromotedRevisionNotFound",
      message: expect.stringContaining("kubectl rollout undo deployment/podinfo"),
    });
  });
});

describe("observeWorkload", () => {
  const status = (d: Deployment, s: NonNullable<Deployment["status"]>, generation = 2) =>
    ({ ...d, metadata: { ...d.metadata, generation }, status: s }) as Deployment;
  const target = deploymentFixture();

  it("reports a missing Deployment", () => {
    expect(observeWorkload(undefined)).toMatchObject({
      exists: false,
      readyPercent: 0,
      rolloutComplete: false,
    });
  });

  it("reports a finished rollout", () => {
    const state = observeWorkload(
      status(target, {
        observedGeneration: 2,
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
      }),
    );
    expect(state).toEqual({
      exists: true,
      replicas: 3,
      readyPercent: 100,
      updated: true,
      rolloutComplete: true,
      progressDeadlineExceeded: false,
      draining: false,
    });
    expect(isReady(state, 100)).toBe(true);
  });

  it("is not complete while the controller has not seen the latest spec", () => {
    const state = observeWorkload(
      status(target, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }),
    );
    expect(state.rolloutComplete).toBe(false);
  });

  it("is not complete while old pods are left", () => {
    const state = observeWorkload(
      status(target, { observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 }),
    );
    expect(state.updated).toBe(false);
  });

  it("measures readiness against a threshold", () => {
    const state = observeWorkload(
      status(target, { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2 }),
    );
    expect(state.readyPercent).toBe(66);
    expect(state.rolloutComplete).toBe(false);
    expect(isReady(state, 100)).toBe(false);
    expect(isReady(state, 60)).toBe(true);
  });

  it("treats a Deployment scaled to zero as not ready", () => {
    const state = observeWorkload(status(withReplicas(target, 0), { observedGeneration: 2 }));
    expect(state).toMatchObject({ replicas: 0, readyPercent: 0, rolloutComplete: true });
    expect(isReady(state, 0)).toBe(false);
  });

  it("reports a scale to zero as draining until the controller reports its pods gone", () => {
    const zero = withReplicas(target, 0);
    // The Deployment controller has not seen the scale-down yet.
    expect(
      observeWorkload(status(zero, { observedGeneration: 1, replicas: 3, availableReplicas: 3 })).draining,
    ).toBe(true);
    // It has, but its ReplicaSet still counts the old pods.
    expect(
      observeWorkload(status(zero, { observedGeneration: 2, replicas: 3, availableReplicas: 3 })).draining,
    ).toBe(true);
    expect(observeWorkload(status(zero, { observedGeneration: 2 })).draining).toBe(false);
    // Drained, then given a new template the controller has not seen yet: no old pod can count as updated.
    expect(observeWorkload(status(zero, { observedGeneration: 1 })).draining).toBe(false);
    expect(
      observeWorkload(status(target, { observedGeneration: 1, replicas: 3, availableReplicas: 3 })).draining,
      "a Deployment that is not scaled to zero is never draining",
    ).toBe(false);
  });

  it("reports an exceeded progress deadline and the revision annotation", () => {
    const d = status(buildPrimary(canaryFixture(), target, revision), {
      observedGeneration: 2,
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded" }],
    });
    expect(observeWorkload(d)).toMatchObject({ progressDeadlineExceeded: true, revision: revision.hash });
  });
});

describe("scaleTarget", () => {
  it("patches spec.replicas", async () => {
    const client = new FakeKubeClient([deploymentFixture()]);
    await scaleTarget(client, deploymentFixture(), 0);
    const scaled = await client.get<Deployment>({
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace: NS,
      name: "podinfo",
    });
    expect(scaled?.spec?.replicas).toBe(0);
    expect(client.writes).toEqual([
      {
        op: "mergePatch",
        ref: { apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "podinfo" },
      },
    ]);
  });

  it("rejects a negative count", async () => {
    await expect(scaleTarget(new FakeKubeClient(), deploymentFixture(), -1)).rejects.toThrow(
      /replicas must be/,
    );
  });
});

it("primaryName appends -primary", () => {
  expect(primaryName("web")).toBe("web-primary");
});

describe("revisionOfPrimary", () => {
  async function promoted(annotations?: Record<string, string>) {
    const target = deploymentFixture();
    if (annotations && target.spec?.template?.metadata)
      target.spec.template.metadata.annotations = annotations;
    const client = new FakeKubeClient([target, configMapFixture(), secretFixture()]);
    const revision = await resolveRevision(client, target);
    const template = buildPrimary(canaryFixture(), target, revision).spec?.template;
    if (!template) throw new Error("no template");
    return { revision, template };
  }

  it.each([
    ["without annotations of its own", undefined],
    ["with annotations of its own", { "prometheus.io/scrape": "true" }],
  ])("gives back the revision the primary was built from, %s", async (_case, annotations) => {
    const { revision, template } = await promoted(annotations);
    expect(template.spec?.volumes?.[0]?.configMap?.name).toBe("podinfo-config-primary");
    expect(revisionOfPrimary(template, "app", revision.trackedConfigs)).toBe(revision.hash);
  });

  it("gives another revision once the template or a config copy changed", async () => {
    const { revision, template } = await promoted();
    const container = template.spec?.containers[0];
    if (!container) throw new Error("no container");
    const edited = structuredClone(template);
    (edited.spec?.containers[0] as { image: string }).image = "podinfo:HANDEDIT";
    expect(revisionOfPrimary(edited, "app", revision.trackedConfigs)).not.toBe(revision.hash);
    const copies = { ...revision.trackedConfigs, "configmap/podinfo-config": "edited" };
    expect(revisionOfPrimary(template, "app", copies)).not.toBe(revision.hash);
  });
});
