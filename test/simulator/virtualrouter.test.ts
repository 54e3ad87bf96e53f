// The simulator behind the App Mesh router: the split read from a VirtualRouter (weights, prioritised
// header routes), and on the test cluster the VirtualRouter the real appmesh router writes, read back,
// with the Envoy series the built-in appmesh queries select by pod name.
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import { builtinQuery } from "../../src/metrics/builtin.ts";
import { createRouter } from "../../src/routers/factory.ts";
import { kubeConfig, kubeConnection, useNamespace } from "../support/k8s.ts";
import { canary as canaryManifest, deployment } from "../support/manifests.ts";
import { Exposition } from "./exposition.ts";
import {
  type VirtualRouter,
  virtualRouterState,
  virtualRouterWeightSource,
} from "./virtualrouter-weight-source.ts";

const targets = (canary: number, primary: number) => ({
  weightedTargets: [
    { virtualNodeRef: { name: "web-canary" }, weight: canary },
    { virtualNodeRef: { name: "web-primary" }, weight: primary },
  ],
});

describe("virtualRouterState", () => {
  it("reads the weights of the route without header matches", () => {
    const router: VirtualRouter = {
      spec: { routes: [{ name: "web", httpRoute: { match: {}, action: targets(30, 70) } }] },
    };
    expect(virtualRouterState(router, "web")).toEqual({ canaryWeight: 30, matchRouting: false });
  });

  it("sees header routes to the canary in front of the weighted one (A/B), in priority order", () => {
    const router: VirtualRouter = {
      spec: {
        routes: [
          { name: "web-b", priority: 20, httpRoute: { match: {}, action: targets(0, 100) } },
          {
            name: "web-a",
            priority: 10,
            httpRoute: { match: { headers: [{ name: "x-canary" }] }, action: targets(100, 0) },
          },
        ],
      },
    };
    expect(virtualRouterState(router, "web")).toEqual({ canaryWeight: 0, matchRouting: true });
  });

  it("sends everything to the primary without a router or a catch-all route", () => {
    expect(virtualRouterState(undefined, "web")).toEqual({ canaryWeight: 0, matchRouting: false });
    const onlyHeaders: VirtualRouter = {
      spec: { routes: [{ name: "a", grpcRoute: { match: { metadata: [{}] }, action: targets(100, 0) } }] },
    };
    expect(virtualRouterState(onlyHeaders, "web")).toEqual({ canaryWeight: 0, matchRouting: false });
  });
});

describe("on the test cluster", () => {
  const ns = useNamespace("simulator-appmesh");
  const logger = pino({ level: "silent" });

  it("reads the split the appmesh router writes, and serves the canary pods' Envoy series", async () => {
    const client = createKubeClient(kubeConnection(), logger);
    await client.apply(deployment(ns, "web", "6.0.0"));
    const applied = (await client.apply(
      canaryManifest(ns, "web", {
        provider: "appmesh",
        service: { port: 80, targetPort: 9898, meshName: "global" },
        analysis: { stepWeight: 20 },
      }),
    )) as unknown as Canary;
    const target = { canary: applied, resolved: resolveCanary(applied.spec) };
    const router = createRouter("appmesh", { client });
    await router.reconcile(target);
    const source = virtualRouterWeightSource(kubeConfig(), { namespace: ns, service: "web" });
    expect(await source.read()).toEqual({ canaryWeight: 0, matchRouting: false });
    await router.setRoutes(target, { primaryWeight: 60, canaryWeight: 40, matched: false, mirrored: false });
    expect(await source.read()).toEqual({ canaryWeight: 40, matchRouting: false });
    const missing = virtualRouterWeightSource(kubeConfig(), { namespace: ns, service: "none" });
    expect(await missing.read()).toEqual({ canaryWeight: 0, matchRouting: false });

    // The built-in appmesh checks select the canary's pods by name: the simulator's series must match.
    const exposition = new Exposition(ns);
    const pod = (name: string, dep: string) => ({ name, deployment: dep, app: dep, images: [], port: 9898 });
    exposition.record(
      { variant: "canary", pod: pod("web-7d9f8-abcde", "web"), status: 500, latencyMs: 12 },
      undefined,
    );
    exposition.record(
      { variant: "primary", pod: pod("web-primary-5c6b7-fghij", "web-primary"), status: 200, latencyMs: 9 },
      undefined,
    );
    const text = await exposition.text();
    const selector = (builtinQuery("appmesh", "request-success-rate") ?? "").match(
      /kubernetes_pod_name=~"([^"]+)"/,
    )?.[1];
    const canaryPods = new RegExp(`^${(selector ?? "").replace("{{ target }}", "web")}$`);
    expect(canaryPods.test("web-7d9f8-abcde")).toBe(true);
    expect(canaryPods.test("web-primary-5c6b7-fghij")).toBe(false);
    expect(text).toMatch(
      /envoy_cluster_upstream_rq\{[^}]*kubernetes_pod_name="web-7d9f8-abcde"[^}]*envoy_response_code="500"\} 1/,
    );
    expect(text).toMatch(
      /envoy_cluster_upstream_rq_time_bucket\{[^}]*kubernetes_pod_name="web-primary-5c6b7-fghij"/,
    );
  });
});
