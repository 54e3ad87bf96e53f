import { describe, expect, it } from "vitest";
import { canaryFixture } from "../../test/helpers/fixtures.ts";
import type { KubeObject } from "../kube/types.ts";
import { scalerFor } from "./factory.ts";
import { HpaScaler } from "./hpa.ts";
import { keptPrimary } from "./scaler.ts";

const canary = (primaryScalerReplicas?: { minReplicas?: number; maxReplicas?: number }) =>
  canaryFixture({
    autoscalerRef: {
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      name: "podinfo",
      ...(primaryScalerReplicas ? { primaryScalerReplicas } : {}),
    },
  });

const metrics = [
  { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 60 } } },
];
const behavior = { scaleDown: { stabilizationWindowSeconds: 300 } };

const hpa: KubeObject = {
  apiVersion: "autoscaling/v2",
  kind: "HorizontalPodAutoscaler",
  metadata: {
    name: "podinfo",
    namespace: "shop",
    labels: { app: "podinfo" },
    annotations: { team: "web", "kubectl.kubernetes.io/last-applied-configuration": "{}" },
  },
  spec: {
    scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
    minReplicas: 2,
    maxReplicas: 10,
    metrics,
    behavior,
  },
} as KubeObject;

describe("HpaScaler", () => {
  const scaler = new HpaScaler();

  it("is the factory's scaler for HorizontalPodAutoscaler", () => {
    expect(scalerFor("HorizontalPodAutoscaler")).toBeInstanceOf(HpaScaler);
  });

  it("copies the referenced HPA as <name>-primary aimed at the primary, owned by the Canary", () => {
    expect(scaler.primary({ canary: canary(), referenced: hpa, floor: undefined })).toEqual({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: {
        name: "podinfo-primary",
        namespace: "shop",
        labels: { app: "podinfo" },
        // The own minimum, to give it back after a release's floor without the referenced HPA.
        annotations: { team: "web", "kanaria.dev/min-replicas": "2" },
        ownerReferences: [
          {
            apiVersion: "kanaria.dev/v1alpha1",
            kind: "Canary",
            name: "podinfo",
            uid: "canary-uid-1",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo-primary" },
        minReplicas: 2,
        maxReplicas: 10,
        metrics,
        behavior,
      },
    });
  });

  it("takes primaryScalerReplicas over the referenced bounds", () => {
    const spec = (c = canary(), floor?: number) =>
      (scaler.primary({ canary: c, referenced: hpa, floor }) as unknown as { spec: object }).spec;
    expect(spec(canary({ minReplicas: 4, maxReplicas: 20 }))).toMatchObject({
      minReplicas: 4,
      maxReplicas: 20,
    });
    expect(spec(canary({ maxReplicas: 5 }))).toMatchObject({ minReplicas: 2, maxReplicas: 5 });
    // A maximum below the referenced minimum pulls the minimum down with it: the HPA refuses min > max.
    expect(spec(canary({ maxReplicas: 1 }))).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
  });

  it("raises the minimum to the floor, within the maximum, and never lowers it", () => {
    const min = (floor: number, c = canary()) =>
      (scaler.primary({ canary: c, referenced: hpa, floor }) as unknown as { spec: { minReplicas: number } })
        .spec.minReplicas;
    expect(min(6)).toBe(6);
    expect(min(40)).toBe(10);
    expect(min(1)).toBe(2);
    expect(min(40, canary({ maxReplicas: 8 }))).toBe(8);
  });

  it("keeps an existing copy as it is, only its minimum set from its own and the floor", () => {
    const copied = scaler.primary({ canary: canary(), referenced: hpa, floor: undefined });
    const edited = {
      ...copied,
      spec: { ...(copied as unknown as { spec: object }).spec, maxReplicas: 12 },
    } as KubeObject;
    const kept = keptPrimary(scaler, { ...edited, status: { currentReplicas: 3 } } as KubeObject, 6);
    expect(kept).toEqual({
      ...edited,
      spec: { ...(edited as unknown as { spec: object }).spec, minReplicas: 6 },
    });
    expect(keptPrimary(scaler, kept, undefined)).toEqual(edited);
    expect(keptPrimary(scaler, kept, 40)).toMatchObject({ spec: { minReplicas: 12 } });
  });

  it("reads the bounds with autoscaling/v2's default minimum", () => {
    expect(scaler.bounds(hpa)).toEqual({ min: 2, max: 10 });
    const bare = { ...hpa, spec: { maxReplicas: 3 } } as KubeObject;
    expect(scaler.bounds(bare)).toEqual({ min: 1, max: 3 });
  });

  it("never pauses: the HPA controller leaves a target at zero replicas alone", () => {
    expect(scaler.pausePatch()).toBeUndefined();
  });
});
