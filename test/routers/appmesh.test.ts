// The appmesh router against the real API server with the App Mesh controller's CRDs
// (appmesh.k8s.aws/v1beta2, installed by the global setup): every object it writes must pass their
// schemas, and read back exactly. No App Mesh controller runs here; what is checked is what it would read.
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import {
  APPMESH_API_VERSION,
  type VirtualRouter,
  type VirtualService,
} from "../../src/routers/appmesh/spec.ts";
import { createRouter } from "../../src/routers/factory.ts";
import type { Router, RouterTarget } from "../../src/routers/router.ts";
import { routesOverRelease } from "../helpers/routes.ts";
import { meshVersions } from "../support/appmesh.ts";
import { kubeConnection, useNamespace } from "../support/k8s.ts";
import { canary as canaryManifest, deployment } from "../support/manifests.ts";

const ns = useNamespace("router-appmesh");
const logger = pino({ level: process.env.KANARIA_TEST_LOG ?? "silent" });
const KINDS = ["VirtualNode", "VirtualRouter", "VirtualService"] as const;

describe.concurrent("appmesh router on a real cluster", () => {
  let client: KubeClient;
  let router: Router;

  beforeAll(async () => {
    client = createKubeClient(kubeConnection(), logger);
    router = createRouter("appmesh", { client });
  });

  const ref = (kind: string, name: string) => ({
    apiVersion: APPMESH_API_VERSION,
    kind,
    namespace: ns,
    name,
  });

  async function createCanary(name: string, spec: Partial<CanarySpec> & Pick<CanarySpec, "analysis">) {
    await client.apply(deployment(ns, name, "6.0.0"));
    const { service, ...rest } = spec;
    const applied = await client.apply(
      canaryManifest(ns, name, {
        provider: "appmesh",
        service: { port: 80, targetPort: 9898, meshName: "global", ...service },
        ...rest,
      }),
    );
    const canary = applied as unknown as Canary;
    return { canary, resolved: resolveCanary(canary.spec) } satisfies RouterTarget;
  }

  const versions = (name: string) => meshVersions(client, ns, name);

  it("creates the six objects the App Mesh CRDs accept, owned by the Canary", async () => {
    const target = await createCanary("web", {
      analysis: { interval: "10s", stepWeight: 20 },
      service: {
        port: 80,
        targetPort: 9898,
        timeout: "15s",
        retries: { attempts: 3, perTryTimeout: "5s", retryOn: "gateway-error,connection-error" },
        backends: ["backend1"],
      },
    });
    await router.reconcile(target);
    expect(Object.keys(await versions("web")).sort()).toEqual([
      "VirtualNode/web-canary",
      "VirtualNode/web-primary",
      "VirtualRouter/web",
      "VirtualRouter/web-canary",
      "VirtualService/web",
      "VirtualService/web-canary",
    ]);
    for (const kind of KINDS) {
      for (const o of await client.list<KubeObject>(APPMESH_API_VERSION, kind, ns)) {
        if (!o.metadata.name.startsWith("web")) continue;
        expect(o.metadata.ownerReferences, `${kind}/${o.metadata.name}`).toEqual([
          expect.objectContaining({
            kind: "Canary",
            name: "web",
            uid: target.canary.metadata.uid,
            controller: true,
          }),
        ]);
      }
    }
    const vr = await client.get<VirtualRouter>(ref("VirtualRouter", "web"));
    expect(vr?.spec.routes[0]?.httpRoute).toEqual({
      match: { prefix: "/" },
      action: {
        weightedTargets: [
          { virtualNodeRef: { name: "web-canary" }, weight: 0 },
          { virtualNodeRef: { name: "web-primary" }, weight: 100 },
        ],
      },
      timeout: { perRequest: { unit: "ms", value: 15000 } },
      retryPolicy: {
        maxRetries: 3,
        perRetryTimeout: { unit: "ms", value: 5000 },
        httpRetryEvents: ["gateway-error"],
        tcpRetryEvents: ["connection-error"],
      },
    });
    const node = await client.get<KubeObject & { spec: Record<string, unknown> }>(
      ref("VirtualNode", "web-primary"),
    );
    expect(node?.spec).toMatchObject({
      listeners: [
        {
          portMapping: { port: 9898, protocol: "http" },
          timeout: { http: { perRequest: { unit: "ms", value: 15000 } } },
        },
      ],
      podSelector: { matchLabels: { app: "web-primary" } },
      serviceDiscovery: { dns: { hostname: `web-primary.${ns}.svc.cluster.local.` } },
      backends: [{ virtualService: { virtualServiceRef: { name: "backend1" } } }],
    });
  });

  it("writes gRPC, HTTP/2 and TCP routes the CRDs accept", async () => {
    const cases: [string, Partial<CanarySpec["service"]>, string][] = [
      [
        "grpc",
        { portName: "grpc", timeout: "2s", retries: { retryOn: "unavailable,gateway-error" } },
        "grpcRoute",
      ],
      ["h2", { appProtocol: "http2", timeout: "2s", retries: {} }, "http2Route"],
      ["tcp", { portName: "tcp-db", timeout: "1m" }, "tcpRoute"],
    ];
    for (const [name, service, kind] of cases) {
      const target = await createCanary(name, {
        analysis: { interval: "10s", stepWeight: 50 },
        service: { port: 80, ...service },
      });
      await router.reconcile(target);
      await router.setRoutes(target, {
        primaryWeight: 50,
        canaryWeight: 50,
        matched: false,
        mirrored: false,
      });
      const vr = await client.get<VirtualRouter>(ref("VirtualRouter", name));
      expect(Object.keys(vr?.spec.routes[0] ?? {}), name).toContain(kind);
      expect(await router.getRoutes(target)).toEqual({
        primaryWeight: 50,
        canaryWeight: 50,
        matched: false,
        mirrored: false,
      });
    }
  });

  it("sees every weight of a release on the VirtualRouter, and rewrites nothing on idle ticks", async () => {
    const target = await createCanary("shop", {
      analysis: { interval: "10s", stepWeights: [5, 25, 50], stepWeightPromotion: 25 },
    });
    await router.reconcile(target);
    const splits = routesOverRelease(target.resolved, router.capabilities);
    const seen: number[] = [];
    for (const routes of splits) {
      await router.setRoutes(target, routes);
      expect(await router.getRoutes(target)).toEqual(routes);
      const vr = await client.get<VirtualRouter>(ref("VirtualRouter", "shop"));
      const [canary, primary] = vr?.spec.routes[0]?.httpRoute?.action.weightedTargets ?? [];
      expect([canary?.weight, primary?.weight]).toEqual([routes.canaryWeight, routes.primaryWeight]);
      seen.push(canary?.weight ?? -1);
      // Idle ticks: reconcile twice more; no object of the Canary gets a new resourceVersion.
      const before = await versions("shop");
      await router.reconcile(target);
      await router.reconcile(target);
      expect(await versions("shop")).toEqual(before);
      expect(await router.getRoutes(target)).toEqual(routes);
    }
    expect([...new Set(seen)].sort((a, b) => a - b)).toEqual([0, 5, 25, 50, 100]);
  });

  it("routes A/B by headers as prioritised routes and back to a single weighted route", async () => {
    const target = await createCanary("ab", {
      analysis: {
        interval: "10s",
        iterations: 3,
        match: [
          { headers: { "x-canary": { exact: "insider" } } },
          { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
        ],
      },
    });
    await router.reconcile(target);
    for (const routes of routesOverRelease(target.resolved, router.capabilities)) {
      await router.setRoutes(target, routes);
      expect(await router.getRoutes(target)).toEqual(routes);
    }
    await router.setRoutes(target, { primaryWeight: 100, canaryWeight: 0, matched: true, mirrored: false });
    const vr = await client.get<VirtualRouter>(ref("VirtualRouter", "ab"));
    expect(vr?.spec.routes.map((r) => [r.name, r.priority, r.httpRoute?.match?.headers])).toEqual([
      ["ab-a", 10, [{ name: "x-canary", match: { exact: "insider" } }]],
      ["ab-a2", 11, [{ name: "cookie", match: { regex: "^(.*?;)?(canary=always)(;.*)?$" } }]],
      ["ab-b", 20, undefined],
    ]);
    await router.setRoutes(target, { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false });
    expect(
      (await client.get<VirtualRouter>(ref("VirtualRouter", "ab")))?.spec.routes.map((r) => r.name),
    ).toEqual(["ab"]);
  });

  it("leaves a virtual service on a virtual node for the target when finalized (revertOnDeletion)", async () => {
    const target = await createCanary("gone", {
      analysis: { interval: "10s", stepWeight: 50 },
      revertOnDeletion: true,
    });
    await router.reconcile(target);
    await router.finalize(target);
    const vs = await client.get<VirtualService>(ref("VirtualService", "gone"));
    expect(vs?.metadata.ownerReferences ?? []).toEqual([]);
    expect(vs?.spec.provider).toEqual({ virtualNode: { virtualNodeRef: { name: "gone" } } });
    const node = await client.get<KubeObject & { spec: Record<string, unknown> }>(ref("VirtualNode", "gone"));
    expect(node?.metadata.ownerReferences ?? []).toEqual([]);
    expect(node?.spec.podSelector).toEqual({ matchLabels: { app: "gone" } });
    // A Canary on the same service takes the virtual service back onto its router.
    await router.reconcile(target);
    const back = await client.get<VirtualService>(ref("VirtualService", "gone"));
    expect(back?.spec.provider).toEqual({ virtualRouter: { virtualRouterRef: { name: "gone" } } });
  });
});
