import { describe, expect, it } from "vitest";
import { canaryFixture } from "../../test/helpers/fixtures.ts";
import type { CanarySpec } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import type { KubeObject } from "../kube/types.ts";
import { scalerFor } from "./factory.ts";
import { KedaScaler, PAUSED_REPLICAS, primaryQuery } from "./keda.ts";

type Ref = NonNullable<CanarySpec["autoscalerRef"]>;
const canary = (extra: Partial<Ref> = {}) =>
  canaryFixture({
    autoscalerRef: { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", name: "podinfo-so", ...extra },
  });

const scaledObject = (annotations: Record<string, string> = {}): KubeObject =>
  ({
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: "podinfo-so", namespace: "shop", annotations },
    spec: {
      scaleTargetRef: { name: "podinfo" },
      pollingInterval: 10,
      cooldownPeriod: 20,
      minReplicaCount: 1,
      maxReplicaCount: 3,
      advanced: {
        horizontalPodAutoscalerConfig: { name: "podinfo-hpa" },
        restoreToOriginalReplicaCount: true,
      },
      triggers: [
        {
          type: "prometheus",
          name: "prom-trigger",
          metadata: {
            serverAddress: "http://prometheus:9090",
            query: 'sum(rate(http_requests_total{app="podinfo"}[30s]))',
            threshold: "5",
          },
        },
        { type: "cpu", metricType: "Utilization", metadata: { value: "60" } },
      ],
    },
  }) as KubeObject;

type Spec = { spec: Record<string, unknown> & { triggers: { metadata: Record<string, string> }[] } };

describe("KedaScaler", () => {
  const scaler = new KedaScaler();

  it("is the factory's scaler for ScaledObject", () => {
    expect(scalerFor("ScaledObject")).toBeInstanceOf(KedaScaler);
  });

  it("copies the ScaledObject as <name>-primary aimed at the primary, its HPA name and queries too", () => {
    const primary = scaler.primary({
      canary: canary(),
      referenced: scaledObject({ team: "web" }),
      floor: undefined,
    });
    expect(primary.metadata).toMatchObject({
      name: "podinfo-so-primary",
      namespace: "shop",
      annotations: { team: "web" },
    });
    expect((primary as unknown as Spec).spec).toEqual({
      scaleTargetRef: { name: "podinfo-primary" },
      pollingInterval: 10,
      cooldownPeriod: 20,
      minReplicaCount: 1,
      maxReplicaCount: 3,
      advanced: {
        horizontalPodAutoscalerConfig: { name: "podinfo-hpa-primary" },
        restoreToOriginalReplicaCount: true,
      },
      triggers: [
        {
          type: "prometheus",
          name: "prom-trigger",
          metadata: {
            serverAddress: "http://prometheus:9090",
            query: 'sum(rate(http_requests_total{app="podinfo-primary"}[30s]))',
            threshold: "5",
          },
        },
        { type: "cpu", metricType: "Utilization", metadata: { value: "60" } },
      ],
    });
  });

  it("takes a query from primaryScalerQueries by trigger name, and the bounds from primaryScalerReplicas", () => {
    const c = canary({
      primaryScalerQueries: { "prom-trigger": "sum(rate(requests{deployment='podinfo-primary'}[1m]))" },
      primaryScalerReplicas: { minReplicas: 2, maxReplicas: 5 },
    });
    const { spec } = scaler.primary({
      canary: c,
      referenced: scaledObject(),
      floor: undefined,
    }) as unknown as Spec;
    expect(spec.triggers[0]?.metadata.query).toBe("sum(rate(requests{deployment='podinfo-primary'}[1m]))");
    expect(spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 5 });
  });

  for (const { title, key, nameCpuTrigger, message } of [
    {
      title: "refuses a primaryScalerQueries key that names no trigger, naming the field and the fix",
      key: "prom-triger",
      nameCpuTrigger: false,
      message:
        "spec.autoscalerRef.primaryScalerQueries names prom-triger, but ScaledObject shop/podinfo-so has no trigger of that name (its named triggers: prom-trigger): set spec.triggers[].name in the ScaledObject or fix the key",
    },
    {
      title:
        "refuses a primaryScalerQueries key naming a trigger without a query, which it could not replace",
      key: "cpu",
      nameCpuTrigger: true,
      message:
        "spec.autoscalerRef.primaryScalerQueries names cpu (type cpu), but in ScaledObject shop/podinfo-so that trigger has no metadata.query to replace: remove the key (the primary's copy takes the trigger as it is)",
    },
  ]) {
    it(title, () => {
      const so = scaledObject();
      if (nameCpuTrigger) {
        const cpu = (so as unknown as Spec).spec.triggers[1] as Record<string, unknown>;
        cpu.name = "cpu";
      }
      const c = canary({ primaryScalerQueries: { [key]: "up" } });
      const build = () => scaler.primary({ canary: c, referenced: so, floor: undefined });
      expect(build).toThrow(ConfigBlockerError);
      expect(build).toThrow(message);
    });
  }

  it("matches primaryScalerQueries keys as own keys: a trigger named constructor gets the guessed query", () => {
    const so = scaledObject();
    const trigger = (so as unknown as Spec).spec.triggers[0] as Record<string, unknown>;
    trigger.name = "constructor";
    const primary = scaler.primary({
      canary: canary({ primaryScalerQueries: {} }),
      referenced: so,
      floor: undefined,
    });
    expect((primary as unknown as Spec).spec.triggers[0]?.metadata.query).toBe(
      'sum(rate(http_requests_total{app="podinfo-primary"}[30s]))',
    );
  });

  it("guesses the primary's query: the target's name, alone or as -canary, becomes <target>-primary", () => {
    expect(
      primaryQuery('x{app="podinfo"} + y{app="podinfo-canary"} + z{app="podinfo-primary"}', "podinfo"),
    ).toBe('x{app="podinfo-primary"} + y{app="podinfo-primary"} + z{app="podinfo-primary"}');
    expect(primaryQuery('x{app="my.app"}', "my.app")).toBe('x{app="my.app-primary"}');
    expect(primaryQuery('x{app="myXapp"}', "my.app")).toBe('x{app="myXapp"}');
  });

  it("raises minReplicaCount to the floor within maxReplicaCount; KEDA's defaults are 0 and 100", () => {
    const min = (floor: number) =>
      (scaler.primary({ canary: canary(), referenced: scaledObject(), floor }) as unknown as Spec).spec
        .minReplicaCount;
    expect(min(2)).toBe(2);
    expect(min(9)).toBe(3);
    const bare = {
      ...scaledObject(),
      spec: { scaleTargetRef: { name: "podinfo" }, triggers: [] },
    } as KubeObject;
    expect(scaler.bounds(bare)).toEqual({ min: 0, max: 100 });
  });

  it("never copies KEDA's pause annotations to the primary's", () => {
    const referenced = scaledObject({
      [PAUSED_REPLICAS]: "0",
      "autoscaling.keda.sh/paused": "true",
      team: "web",
    });
    const primary = scaler.primary({ canary: canary(), referenced, floor: undefined });
    expect(primary.metadata.annotations).toEqual({ team: "web", "kanaria.dev/min-replicas": "1" });
  });

  it("pauses at zero replicas and resumes with one metadata patch, only when needed", () => {
    expect(scaler.pausePatch(scaledObject(), true)).toEqual({
      metadata: { annotations: { [PAUSED_REPLICAS]: "0" } },
    });
    expect(scaler.pausePatch(scaledObject({ [PAUSED_REPLICAS]: "0" }), true)).toBeUndefined();
    expect(scaler.pausePatch(scaledObject({ [PAUSED_REPLICAS]: "0" }), false)).toEqual({
      metadata: { annotations: { [PAUSED_REPLICAS]: null } },
    });
    expect(scaler.pausePatch(scaledObject(), false)).toBeUndefined();
    // Someone else's pause at another count is taken over: between releases the canary stays at zero.
    expect(scaler.pausePatch(scaledObject({ [PAUSED_REPLICAS]: "2" }), true)).toEqual({
      metadata: { annotations: { [PAUSED_REPLICAS]: "0" } },
    });
  });
});
