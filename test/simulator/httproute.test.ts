// The simulator behind a Gateway API router: the split read from an HTTPRoute (weights, A/B rules,
// RequestMirror percent), mirrored copies counted on the canary, and a real HTTPRoute on the test
// cluster's API server read back by the weight source.
import { describe, expect, it } from "vitest";
import { testClient } from "../support/canary-observer.ts";
import { kubeConfig, useNamespace } from "../support/k8s.ts";
import type { ClusterState, Pod } from "./cluster-state.ts";
import { type HttpRoute, httpRouteState, httpRouteWeightSource } from "./httproute-weight-source.ts";
import { seededRandom } from "./random.ts";
import { TrafficGenerator } from "./traffic.ts";

const backends = (primary: number, canary: number) => [
  { name: "web-primary", weight: primary },
  { name: "web-canary", weight: canary },
];

describe("httpRouteState", () => {
  it("reads the weights of the rule with the -primary and -canary backends", () => {
    const route: HttpRoute = {
      spec: { rules: [{ backendRefs: [{ name: "cdn" }] }, { backendRefs: backends(70, 30) }] },
    };
    expect(httpRouteState(route, "web")).toEqual({ canaryWeight: 30, matchRouting: false });
  });

  it("sends everything to the primary while no rule splits (no route, or the apex Service alone)", () => {
    expect(httpRouteState(undefined, "web")).toEqual({ canaryWeight: 0, matchRouting: false });
    expect(httpRouteState({ spec: { rules: [{ backendRefs: [{ name: "web" }] }] } }, "web")).toEqual({
      canaryWeight: 0,
      matchRouting: false,
    });
  });

  it("sees an A/B rule in front of the weighted one, and a mirror with its percent", () => {
    const ab: HttpRoute = {
      spec: {
        rules: [
          {
            matches: [{ headers: [{ name: "x-canary", value: "1" }] }],
            backendRefs: [{ name: "web-canary" }],
          },
          { backendRefs: backends(100, 0) },
        ],
      },
    };
    expect(httpRouteState(ab, "web")).toEqual({ canaryWeight: 0, matchRouting: true });
    const mirrored: HttpRoute = {
      spec: {
        rules: [
          {
            filters: [
              { type: "RequestMirror", requestMirror: { backendRef: { name: "web-canary" }, percent: 40 } },
            ],
            backendRefs: backends(100, 0),
          },
        ],
      },
    };
    expect(httpRouteState(mirrored, "web")).toEqual({
      canaryWeight: 0,
      matchRouting: false,
      mirrorPercent: 40,
    });
  });
});

describe("mirrored requests", () => {
  const pod = (name: string, deployment: string): Pod => ({
    name,
    deployment,
    app: deployment,
    images: ["ghcr.io/stefanprodan/podinfo:6.0.1"],
    port: 9898,
  });
  const state = (mirrorPercent: number): ClusterState => ({
    route: { canaryWeight: 0, matchRouting: false, mirrorPercent },
    primary: [pod("web-primary-a-1", "web-primary")],
    canary: [pod("web-b-1", "web")],
  });

  it("copy about mirrorPercent of the primary's requests to the canary", () => {
    const outcomes = new TrafficGenerator({ profiles: {} }, seededRandom(7)).generate(state(50), 10_000);
    const primary = outcomes.filter((o) => o.variant === "primary");
    const copies = outcomes.filter((o) => o.variant === "canary");
    expect(primary).toHaveLength(10_000);
    expect(copies.every((o) => o.mirrored === true)).toBe(true);
    expect(copies.length / primary.length).toBeGreaterThan(0.47);
    expect(copies.length / primary.length).toBeLessThan(0.53);
  });

  it("go nowhere without a mirror", () => {
    const outcomes = new TrafficGenerator({ profiles: {} }, seededRandom(7)).generate(state(0), 1_000);
    expect(outcomes.filter((o) => o.variant === "canary")).toEqual([]);
  });
});

describe("on the test cluster", () => {
  const ns = useNamespace("simulator-httproute");

  it("reads the split from a real HTTPRoute", async () => {
    const client = testClient();
    await client.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "web", namespace: ns },
      spec: {
        parentRefs: [{ name: "public" }],
        rules: [{ backendRefs: backends(75, 25).map((b) => ({ ...b, port: 80 })) }],
      },
    } as never);
    const source = httpRouteWeightSource(kubeConfig(), { namespace: ns, route: "web", service: "web" });
    expect(await source.read()).toEqual({ canaryWeight: 25, matchRouting: false });
    const missing = httpRouteWeightSource(kubeConfig(), { namespace: ns, route: "none", service: "web" });
    expect(await missing.read()).toEqual({ canaryWeight: 0, matchRouting: false });
  });
});
