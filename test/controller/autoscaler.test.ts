// spec.autoscalerRef on the local control plane: the real HPA controller of kube-controller-manager (it
// enforces minReplicas and maxReplicas without a metrics API, and leaves a target at zero alone) and
// KEDA's real ScaledObject CRD from its Go module (no KEDA operator: what kanaria writes is checked by
// the CRD's schema and rules, what it pauses by the annotation KEDA reads).
import { describe, expect, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { KubeApiError, UnservedKindError } from "../../src/kube/errors.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { PAUSED_REPLICAS } from "../../src/scalers/keda.ts";
import { autoscalerHelpers, type Scaler } from "../support/autoscalers.ts";
import {
  canaryIngressWeight,
  getCanary,
  recordChanges,
  recordTraffic,
  setImage as releaseImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE, ingress } from "../support/manifests.ts";

const ns = useNamespace("autoscaler");
const client = testClient();
useController(ns);

const { hpaRef, soRef, deploymentRef, hpa, replicasOf, minOf, replicasReach, requestPromotion } =
  autoscalerHelpers(client, ns);

const stalled = (c: Canary) => c.status?.conditions?.find((x) => x.type === "Stalled" && x.status === "True");

describe.concurrent("autoscalerRef", () => {
  it("HorizontalPodAutoscaler: keeps <name>-primary, holds the primary's floor through a release and switches back only at that capacity", async () => {
    const name = "web";
    await client.apply(deployment(ns, name, "6.0.0"));
    await client.apply(ingress(ns, name));
    await client.apply(hpa(name, 2, 6));
    await client.apply(
      canary(ns, name, {
        provider: "nginx",
        ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
        autoscalerRef: {
          apiVersion: "autoscaling/v2",
          kind: "HorizontalPodAutoscaler",
          name,
          primaryScalerReplicas: { minReplicas: 2, maxReplicas: 8 },
        },
        revertOnDeletion: true,
        // Long enough for the checks below; the promotion is requested.
        analysis: { interval: "10s", threshold: 1, stepWeights: [5, 10, 15, 20, 25, 30, 35, 40, 45, 50] },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized");
    const primaryHpa = await client.get<Scaler>(hpaRef(`${name}-primary`));
    expect(primaryHpa?.spec).toMatchObject({
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `${name}-primary` },
      minReplicas: 2,
      maxReplicas: 8,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
        },
      ],
    });
    expect(primaryHpa?.metadata.labels).toEqual({ team: "web" });
    expect(primaryHpa?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Canary",
      name,
      controller: true,
    });
    await replicasReach(name, 0, "the target scaled to zero after initialization");
    // Its own HPA leaves a target at zero alone, as between Flagger's releases.
    await waitFor(() => client.get<Scaler>(hpaRef(name)), {
      description: "the target's HPA to report scaling disabled at zero replicas",
      until: (h) => h?.status?.conditions?.some((c) => c.reason === "ScalingDisabled") ?? false,
      timeoutMs: 60_000,
    });

    // The primary's autoscaler had scaled it to 4 under load (metrics are not served here: by hand).
    await client.mergePatch(deploymentRef(`${name}-primary`), { spec: { replicas: 4 } });
    await replicasReach(`${name}-primary`, 4, "the primary at its production scale");

    const traffic = recordTraffic(client, ns, name);
    await releaseImage(client, ns, name, `${IMAGE}:6.0.1`);
    const progressing = await waitForPhase(client, ns, name, "Progressing");
    expect(progressing.status?.primaryScaler).toEqual({
      revision: progressing.status?.lastAppliedSpec,
      readyReplicas: 4,
      floor: 4,
    });
    await waitFor(() => minOf(`${name}-primary`), {
      description: "the primary's HPA minimum raised to the floor",
      until: (min) => min === 4,
    });
    // The canary starts at its HPA's minimum, and its HPA keeps scaling it during the analysis.
    await replicasReach(name, 2, "the canary scaled up from zero to its HPA's minimum");
    await client.mergePatch(hpaRef(name), { spec: { minReplicas: 3 } });
    await replicasReach(name, 3, "the target's HPA (kube-controller-manager) scaling the canary");

    // Scaled down under the lighter load of the analysis, the primary is put back by its HPA before
    // all traffic returns to it.
    await client.mergePatch(deploymentRef(`${name}-primary`), { spec: { replicas: 2 } });
    // A promotion requested before the first step has routed anything skips the steps (as it
    // should): wait for the canary to take traffic so the switch back below is one to watch.
    await waitFor(() => canaryIngressWeight(client, ns, name), {
      description: "the first step's weight on the canary Ingress",
      until: (w) => (Number.parseInt(w, 10) || 0) > 0,
    });
    await requestPromotion(name);
    const conditionMessages = recordChanges(
      async () =>
        (await getCanary(client, ns, name)).status?.conditions?.find((c) => c.type === "Promoted")?.message,
    );
    const done = await waitForPhase(client, ns, name, "Succeeded", 120_000);
    const samples = await traffic.stop();
    const messages = await conditionMessages.stop();
    const released = samples.findIndex((s) => s.weight > 0);
    const switched = samples.slice(released).filter((s) => s.weight === 0);
    expect(released, "traffic went to the canary").toBeGreaterThanOrEqual(0);
    expect(switched.length, "all traffic back on the primary").toBeGreaterThan(0);
    expect(
      switched.every((s) => s.primaryReady >= 4),
      JSON.stringify(samples.slice(released)),
    ).toBe(true);
    console.info(
      `autoscaler: the switch was ${messages.some((m) => m?.startsWith("holding the switch")) ? "" : "not "}held for the primary's HPA`,
    );
    const rescales = await client.list<KubeObject & { involvedObject?: { name?: string }; message?: string }>(
      "v1",
      "Event",
      ns,
    );
    expect(
      rescales.some(
        (e) =>
          e.involvedObject?.name === `${name}-primary` && /below Spec\.MinReplicas/.test(e.message ?? ""),
      ),
      "the HPA controller raised the primary to its floor",
    ).toBe(true);
    expect(done.status?.primaryScaler?.floor).toBe(4);
    await waitFor(() => minOf(`${name}-primary`), {
      description: "the primary's HPA minimum given back after the switch",
      until: (min) => min === 2,
    });
    expect(await replicasOf(name)).toBe(0);

    // revertOnDeletion: the target runs again under its own HPA; <name>-primary goes with the Canary.
    await client.delete({ apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", namespace: ns, name });
    await waitFor(() => client.get(hpaRef(`${name}-primary`)), {
      description: "the primary's HPA garbage-collected with the Canary",
      until: (h) => h === undefined,
      timeoutMs: 60_000,
    });
    expect(await replicasOf(name)).toBeGreaterThan(0);
    expect(await minOf(name)).toBe(3);
  }, 400_000);

  it("KEDA ScaledObject: <name>-primary passes KEDA's CRD; the target's is paused between releases and handed back on deletion", async () => {
    const name = "queue";
    await client.apply(deployment(ns, name, "6.0.0"));
    await client.apply({
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      metadata: { name: `${name}-so`, namespace: ns },
      spec: {
        scaleTargetRef: { name },
        pollingInterval: 10,
        cooldownPeriod: 20,
        minReplicaCount: 1,
        maxReplicaCount: 3,
        advanced: { horizontalPodAutoscalerConfig: { name: `${name}-hpa` } },
        triggers: [
          {
            type: "prometheus",
            name: "rps",
            metadata: {
              serverAddress: "http://prometheus:9090",
              query: `sum(rate(http_requests_total{app="${name}"}[30s]))`,
              threshold: "5",
            },
          },
          {
            type: "prometheus",
            metadata: {
              serverAddress: "http://prometheus:9090",
              query: `sum(rate(http_requests_total{app="${name}-canary"}[1m]))`,
              threshold: "9",
            },
          },
        ],
      },
    } as KubeObject);
    await client.apply(
      canary(ns, name, {
        provider: "kubernetes",
        autoscalerRef: {
          apiVersion: "keda.sh/v1alpha1",
          kind: "ScaledObject",
          name: `${name}-so`,
          primaryScalerQueries: { rps: `sum(rate(http_requests_total{deployment="${name}-primary"}[30s]))` },
          primaryScalerReplicas: { minReplicas: 2, maxReplicas: 5 },
        },
        revertOnDeletion: true,
        analysis: { interval: "10s", iterations: 2 },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized");
    const primary = await client.get<Scaler>(soRef(`${name}-so-primary`));
    expect(primary?.spec).toMatchObject({
      scaleTargetRef: { name: `${name}-primary` },
      minReplicaCount: 2,
      maxReplicaCount: 5,
      advanced: { horizontalPodAutoscalerConfig: { name: `${name}-hpa-primary` } },
      triggers: [
        {
          name: "rps",
          metadata: { query: `sum(rate(http_requests_total{deployment="${name}-primary"}[30s]))` },
        },
        { metadata: { query: `sum(rate(http_requests_total{app="${name}-primary"}[1m]))` } },
      ],
    });
    const paused = async () =>
      (await client.get<Scaler>(soRef(`${name}-so`)))?.metadata.annotations?.[PAUSED_REPLICAS];
    await waitFor(paused, {
      description: "the target's ScaledObject paused at zero",
      until: (p) => p === "0",
    });

    const pauses = recordChanges(paused);
    await releaseImage(client, ns, name, `${IMAGE}:6.0.1`);
    const done = await waitForPhase(client, ns, name, "Succeeded", 120_000);
    expect(done.status?.primaryScaler).toEqual({
      revision: done.status?.lastAppliedSpec,
      readyReplicas: 2,
      floor: 2,
    });
    await waitFor(paused, { description: "paused again after the release", until: (p) => p === "0" });
    expect(await pauses.stop(), "resumed for the release, paused after it").toEqual(["0", undefined, "0"]);

    await client.delete({ apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", namespace: ns, name });
    await waitFor(() => client.get(soRef(`${name}-so-primary`)), {
      description: "the primary's ScaledObject garbage-collected with the Canary",
      until: (so) => so === undefined,
      timeoutMs: 60_000,
    });
    expect(await paused(), "handed back: no longer paused").toBeUndefined();
    expect(await replicasOf(name)).toBeGreaterThan(0);
  }, 300_000);

  it("stalls on a missing autoscaler, naming it, and goes on once it exists", async () => {
    const name = "late";
    await client.apply(deployment(ns, name, "6.0.0"));
    await client.apply(
      canary(ns, name, {
        provider: "kubernetes",
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name },
        analysis: { interval: "10s", iterations: 1 },
      }),
    );
    const blocked = await waitFor(() => getCanary(client, ns, name), {
      description: `Canary ${name} to report Stalled`,
      until: (c) => stalled(c) !== undefined,
    });
    expect(stalled(blocked)).toMatchObject({
      reason: "AutoscalerNotFound",
      message: `spec.autoscalerRef: HorizontalPodAutoscaler ${ns}/${name} does not exist: create it (aimed at Deployment ${name}) or remove autoscalerRef`,
    });
    // The HPA's watch event wakes the Canary.
    await client.apply(hpa(name, 1, 3));
    await waitForPhase(client, ns, name, "Initialized");
    expect(await minOf(`${name}-primary`)).toBe(1);
  }, 120_000);

  it("tells a kind the API server does not serve (KEDA not installed) from a missing object", async () => {
    const unserved = [
      { apiVersion: "keda.example.test/v1alpha1", kind: "ScaledObject", namespace: ns, name: "x" },
      { apiVersion: "autoscaling/v2", kind: "ScaledObject", namespace: ns, name: "x" },
    ];
    for (const ref of unserved) await expect(client.get(ref)).rejects.toBeInstanceOf(UnservedKindError);
    expect(await client.get(hpaRef("no-such-hpa"))).toBeUndefined();
  });

  it("is refused by the API server with a wrong apiVersion, naming the field and the fix", async () => {
    const wrong = canary(ns, "wrong", {
      provider: "kubernetes",
      autoscalerRef: { apiVersion: "autoscaling/v2", kind: "ScaledObject", name: "wrong" },
      analysis: { interval: "10s", iterations: 1 },
    });
    const err = await client.apply(wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).message).toContain(
      "spec.autoscalerRef.apiVersion: Invalid value: a KEDA ScaledObject is served as keda.sh/v1alpha1: set autoscalerRef.apiVersion to keda.sh/v1alpha1",
    );
  });
});
