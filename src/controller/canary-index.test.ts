import { describe, expect, it } from "vitest";
import type { Canary } from "../api/canary.ts";
import type { KubeObject } from "../kube/types.ts";
import { CanaryIndex } from "./canary-index.ts";

type CanaryObject = Canary & KubeObject;

function canary(
  name: string,
  extra: { spec?: object; status?: object; uid?: string; namespace?: string } = {},
) {
  return {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "Canary",
    metadata: { name, namespace: extra.namespace ?? "apps", uid: extra.uid ?? `uid-${name}` },
    spec: { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name }, ...extra.spec },
    ...(extra.status ? { status: extra.status } : {}),
  } as unknown as CanaryObject;
}

function object(name: string, namespace = "apps", owners: { kind: string; uid: string }[] = []): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Thing",
    metadata: {
      name,
      namespace,
      ...(owners.length > 0
        ? { ownerReferences: owners.map((o) => ({ apiVersion: "x", name: "n", ...o })) }
        : {}),
    },
  };
}

const keys = (set: Set<string>) => [...set].sort();

describe("CanaryIndex", () => {
  it("finds the Canary of a target Deployment and of its primary, in the same namespace only", () => {
    const index = new CanaryIndex();
    index.set(canary("web"));
    index.set(canary("api"));
    expect(keys(index.canariesFor(object("web"), "Deployment"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("web-primary"), "Deployment"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("web", "other"), "Deployment"))).toEqual([]);
    expect(keys(index.canariesFor(object("web-canary"), "Deployment"))).toEqual([]);
    // A name is looked up as the kind asked for: a ConfigMap called "web" is not the target.
    expect(keys(index.canariesFor(object("web"), "ConfigMap"))).toEqual([]);
  });

  it("finds every Canary naming the same object", () => {
    const index = new CanaryIndex();
    const ingressRef = { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "shared" };
    index.set(canary("a", { spec: { ingressRef } }));
    index.set(canary("b", { spec: { ingressRef } }));
    expect(keys(index.canariesFor(object("shared"), "Ingress"))).toEqual(["apps/a", "apps/b"]);
  });

  it("follows the tracked configs in the status, and forgets those a later status drops", () => {
    const index = new CanaryIndex();
    index.set(
      canary("web", { status: { trackedConfigs: { "configmap/settings": "h1", "secret/creds": "h2" } } }),
    );
    expect(keys(index.canariesFor(object("settings"), "ConfigMap"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("creds"), "Secret"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("creds"), "ConfigMap"))).toEqual([]);
    index.set(canary("web", { status: { trackedConfigs: { "secret/creds": "h3" } } }));
    expect(keys(index.canariesFor(object("settings"), "ConfigMap"))).toEqual([]);
    expect(keys(index.canariesFor(object("creds"), "Secret"))).toEqual(["apps/web"]);
  });

  it("follows spec.autoscalerRef by its kind, and a changed kind", () => {
    const index = new CanaryIndex();
    const hpa = { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "web" };
    index.set(canary("web", { spec: { autoscalerRef: hpa } }));
    expect(keys(index.canariesFor(object("web"), "HorizontalPodAutoscaler"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("web"), "ScaledObject"))).toEqual([]);
    const so = { apiVersion: "keda.sh/v1alpha1", kind: "ScaledObject", name: "web-so" };
    index.set(canary("web", { spec: { autoscalerRef: so } }));
    expect(keys(index.canariesFor(object("web"), "HorizontalPodAutoscaler"))).toEqual([]);
    expect(keys(index.canariesFor(object("web-so"), "ScaledObject"))).toEqual(["apps/web"]);
  });

  it("follows spec.ingressRef and spec.routeRef, and a changed ref", () => {
    const index = new CanaryIndex();
    index.set(canary("web", { spec: { routeRef: { name: "r1" } } }));
    expect(keys(index.canariesFor(object("r1"), "HTTPRoute"))).toEqual(["apps/web"]);
    index.set(canary("web", { spec: { routeRef: { name: "r2" }, ingressRef: { name: "i" } } }));
    expect(keys(index.canariesFor(object("r1"), "HTTPRoute"))).toEqual([]);
    expect(keys(index.canariesFor(object("r2"), "HTTPRoute"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("i"), "Ingress"))).toEqual(["apps/web"]);
  });

  it("follows the MetricTemplates of analysis.metrics, in the Canary's namespace unless one is named", () => {
    const index = new CanaryIndex();
    const metrics = [
      { name: "errors", templateRef: { name: "error-rate" } },
      { name: "latency", templateRef: { name: "p99", namespace: "monitoring" } },
      { name: "request-success-rate" },
    ];
    index.set(canary("web", { spec: { analysis: { metrics } } }));
    index.set(canary("api", { spec: { analysis: { metrics: [metrics[1]] } } }));
    expect(keys(index.canariesFor(object("error-rate"), "MetricTemplate"))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("error-rate", "monitoring"), "MetricTemplate"))).toEqual([]);
    expect(keys(index.canariesFor(object("p99", "monitoring"), "MetricTemplate"))).toEqual([
      "apps/api",
      "apps/web",
    ]);
    expect(keys(index.canariesFor(object("p99"), "MetricTemplate"))).toEqual([]);
    index.set(canary("web", { spec: { analysis: { metrics: [] } } }));
    expect(keys(index.canariesFor(object("error-rate"), "MetricTemplate"))).toEqual([]);
    expect(keys(index.canariesFor(object("p99", "monitoring"), "MetricTemplate"))).toEqual(["apps/api"]);
  });

  it("leads an owned object back to its Canary by uid, whatever its name", () => {
    const index = new CanaryIndex();
    index.set(canary("web", { uid: "u1" }));
    const owned = object("web-canary", "apps", [{ kind: "Canary", uid: "u1" }]);
    expect(keys(index.canariesFor(owned))).toEqual(["apps/web"]);
    expect(keys(index.canariesFor(object("x", "apps", [{ kind: "Deployment", uid: "u1" }])))).toEqual([]);
    expect(keys(index.canariesFor(object("x", "apps", [{ kind: "Canary", uid: "u2" }])))).toEqual([]);
    // An owner reference across namespaces is not honoured by Kubernetes, nor here.
    expect(keys(index.canariesFor(object("x", "other", [{ kind: "Canary", uid: "u1" }])))).toEqual([]);
  });

  it("forgets a deleted Canary, and a recreated one under its new uid", () => {
    const index = new CanaryIndex();
    index.set(canary("web", { uid: "u1" }));
    index.delete(canary("web", { uid: "u1" }));
    expect(keys(index.canariesFor(object("web"), "Deployment"))).toEqual([]);
    expect(keys(index.canariesFor(object("s", "apps", [{ kind: "Canary", uid: "u1" }])))).toEqual([]);
    index.set(canary("web", { uid: "u2" }));
    expect(keys(index.canariesFor(object("s", "apps", [{ kind: "Canary", uid: "u1" }])))).toEqual([]);
    expect(keys(index.canariesFor(object("s", "apps", [{ kind: "Canary", uid: "u2" }])))).toEqual([
      "apps/web",
    ]);
  });

  it("answers the same as looking at every Canary, over a mixed set", () => {
    const index = new CanaryIndex();
    const all: CanaryObject[] = [];
    for (let i = 0; i < 40; i++) {
      const c = canary(`c${i}`, {
        namespace: `ns${i % 4}`,
        uid: `u${i}`,
        spec: {
          targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: `app${i % 10}` },
          ...(i % 3 === 0 ? { ingressRef: { name: `ing${i % 5}` } } : {}),
        },
        status: { trackedConfigs: { [`configmap/cm${i % 7}`]: "h" } },
      });
      all.push(c);
      index.set(c);
    }
    for (const ns of ["ns0", "ns1", "ns2", "ns3"]) {
      for (let j = 0; j < 10; j++) {
        const scan = (matches: (c: CanaryObject) => boolean) =>
          all
            .filter((c) => c.metadata.namespace === ns && matches(c))
            .map((c) => `${ns}/${c.metadata.name}`)
            .sort();
        expect(keys(index.canariesFor(object(`app${j}`, ns), "Deployment"))).toEqual(
          scan((c) => [c.spec.targetRef.name, `${c.spec.targetRef.name}-primary`].includes(`app${j}`)),
        );
        expect(keys(index.canariesFor(object(`cm${j}`, ns), "ConfigMap"))).toEqual(
          scan((c) => c.status?.trackedConfigs?.[`configmap/cm${j}`] !== undefined),
        );
        expect(keys(index.canariesFor(object(`ing${j}`, ns), "Ingress"))).toEqual(
          scan((c) => c.spec.ingressRef?.name === `ing${j}`),
        );
      }
    }
  });
});
