import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, deploymentFixture, NS } from "../../test/helpers/fixtures.ts";
import { routesOverRelease } from "../../test/helpers/routes.ts";
import type { Canary, CanarySpec, HttpMatch } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import type { KubeObject } from "../kube/types.ts";
import {
  APPMESH_API_VERSION,
  type VirtualNode,
  type VirtualRouter,
  type VirtualService,
} from "./appmesh/spec.ts";
import { AppMeshRouter } from "./appmesh.ts";
import { unsupportedRouting } from "./capabilities.ts";
import { RouterConfigError } from "./errors.ts";
import type { RouterTarget, Routes } from "./router.ts";

const weight = (canaryWeight: number): Routes => ({
  primaryWeight: 100 - canaryWeight,
  canaryWeight,
  matched: false,
  mirrored: false,
});
const AB: Routes = { primaryWeight: 100, canaryWeight: 0, matched: true, mirrored: false };

function meshCanary(spec: Partial<CanarySpec> = {}, annotations?: Record<string, string>): Canary {
  const { service, ...rest } = spec;
  const c = canaryFixture({
    provider: "appmesh",
    analysis: { stepWeight: 10, maxWeight: 50 },
    ...rest,
    service: { port: 80, targetPort: 9898, meshName: "global", ...service },
  });
  if (annotations) c.metadata.annotations = annotations;
  return c;
}
const abCanary = (...match: HttpMatch[]) => meshCanary({ analysis: { iterations: 10, match } });
const target = (canary: Canary): RouterTarget => ({ canary, resolved: resolveCanary(canary.spec) });
const meshRef = (kind: string, name: string) => ({
  apiVersion: APPMESH_API_VERSION,
  kind,
  namespace: NS,
  name,
});

async function reconciled(canary: Canary, extra: KubeObject[] = []) {
  const client = new FakeKubeClient([deploymentFixture(), ...extra]);
  const router = new AppMeshRouter(client);
  await router.reconcile(target(canary));
  return { client, router };
}

describe("AppMeshRouter objects (as Flagger's appmesh v1beta2 router)", () => {
  it("creates two virtual nodes, two virtual routers and two virtual services, owned by the Canary", async () => {
    const { client } = await reconciled(meshCanary());
    const names = (kind: string) =>
      client.list(APPMESH_API_VERSION, kind, NS).then((l) => l.map((o) => o.metadata.name).sort());
    expect(await names("VirtualNode")).toEqual(["podinfo-canary", "podinfo-primary"]);
    expect(await names("VirtualRouter")).toEqual(["podinfo", "podinfo-canary"]);
    expect(await names("VirtualService")).toEqual(["podinfo", "podinfo-canary"]);
    for (const kind of ["VirtualNode", "VirtualRouter", "VirtualService"]) {
      for (const o of await client.list(APPMESH_API_VERSION, kind, NS)) {
        expect(o.metadata.ownerReferences).toEqual([
          expect.objectContaining({ kind: "Canary", name: "podinfo", controller: true }),
        ]);
      }
    }
  });

  it("runs Flagger's appmesh:v1beta2 without meshName, writing what appmesh writes (the mesh is the namespace's)", async () => {
    const written = async (canary: Canary) => {
      const { client } = await reconciled(canary);
      const out: unknown[] = [];
      for (const kind of ["VirtualNode", "VirtualRouter", "VirtualService"])
        for (const o of await client.list<KubeObject & { spec?: unknown }>(APPMESH_API_VERSION, kind, NS))
          out.push([kind, o.metadata.name, o.spec]);
      return out;
    };
    const v1beta2 = await written(
      meshCanary({ provider: "appmesh:v1beta2", service: { port: 80, meshName: undefined } }),
    );
    expect(v1beta2).toHaveLength(6);
    expect(v1beta2).toEqual(await written(meshCanary()));
    expect(JSON.stringify(v1beta2)).not.toContain("meshRef");
  });

  it("selects the primary's and the target's pods, on the container port, found by DNS", async () => {
    const canary = meshCanary({
      service: {
        port: 80,
        targetPort: "http",
        backends: ["backend1", "arn:aws:appmesh:eu-west-1:123456789012:mesh/global/virtualService/b2"],
      },
    });
    const { client } = await reconciled(canary);
    const primary = await client.get<VirtualNode>(meshRef("VirtualNode", "podinfo-primary"));
    expect(primary?.spec).toEqual({
      awsName: `podinfo-primary_${NS}`,
      listeners: [{ portMapping: { port: 9898, protocol: "http" } }],
      serviceDiscovery: { dns: { hostname: `podinfo-primary.${NS}.svc.cluster.local.` } },
      podSelector: { matchLabels: { app: "podinfo-primary" } },
      backends: [
        { virtualService: { virtualServiceRef: { name: "backend1" } } },
        {
          virtualService: {
            virtualServiceARN: "arn:aws:appmesh:eu-west-1:123456789012:mesh/global/virtualService/b2",
          },
        },
      ],
    });
    const canaryNode = await client.get<VirtualNode>(meshRef("VirtualNode", "podinfo-canary"));
    expect(canaryNode?.spec.podSelector).toEqual({ matchLabels: { app: "podinfo" } });
    expect(canaryNode?.spec.serviceDiscovery).toEqual({
      dns: { hostname: `podinfo-canary.${NS}.svc.cluster.local.` },
    });
    const vs = await client.get<VirtualService>(meshRef("VirtualService", "podinfo"));
    expect(vs?.spec).toEqual({
      awsName: `podinfo.${NS}`,
      provider: { virtualRouter: { virtualRouterRef: { name: "podinfo" } } },
    });
    const canaryVs = await client.get<VirtualService>(meshRef("VirtualService", "podinfo-canary"));
    expect(canaryVs?.spec.provider).toEqual({
      virtualRouter: { virtualRouterRef: { name: "podinfo-canary" } },
    });
  });

  it("routes the <apex> router by weight and the <apex>-canary router all to the canary", async () => {
    const { client } = await reconciled(
      meshCanary({ service: { port: 80, targetPort: 9898, match: [{ uri: { prefix: "/api" } }] } }),
    );
    const apex = await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo"));
    expect(apex?.spec).toEqual({
      awsName: `podinfo_${NS}`,
      listeners: [{ portMapping: { port: 9898, protocol: "http" } }],
      routes: [
        {
          name: "podinfo",
          httpRoute: {
            match: { prefix: "/api" },
            action: {
              weightedTargets: [
                { virtualNodeRef: { name: "podinfo-canary" }, weight: 0 },
                { virtualNodeRef: { name: "podinfo-primary" }, weight: 100 },
              ],
            },
          },
        },
      ],
    });
    const canaryRouter = await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo-canary"));
    expect(canaryRouter?.spec.routes[0]?.httpRoute?.action.weightedTargets).toEqual([
      { virtualNodeRef: { name: "podinfo-canary" }, weight: 100 },
      { virtualNodeRef: { name: "podinfo-primary" }, weight: 0 },
    ]);
  });

  it("puts service.timeout on listeners and routes and service.retries on the routes", async () => {
    const canary = meshCanary({
      service: {
        port: 80,
        targetPort: 9898,
        timeout: "15s",
        retries: {
          attempts: 3,
          perTryTimeout: "5s",
          retryOn: "gateway-error,client-error,stream-error,connection-error",
        },
      },
    });
    const { client } = await reconciled(canary);
    const node = await client.get<VirtualNode>(meshRef("VirtualNode", "podinfo-primary"));
    expect((node?.spec.listeners as unknown[] | undefined)?.[0]).toEqual({
      portMapping: { port: 9898, protocol: "http" },
      timeout: { http: { perRequest: { unit: "ms", value: 15000 } } },
    });
    const route = (await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec.routes[0]
      ?.httpRoute;
    expect(route?.timeout).toEqual({ perRequest: { unit: "ms", value: 15000 } });
    expect(route?.retryPolicy).toEqual({
      maxRetries: 3,
      perRetryTimeout: { unit: "ms", value: 5000 },
      httpRetryEvents: ["gateway-error", "client-error", "stream-error"],
      tcpRetryEvents: ["connection-error"],
    });
  });

  it("uses Flagger's retry defaults: one attempt on gateway-error with 250 ms per try", async () => {
    const { client } = await reconciled(meshCanary({ service: { port: 80, retries: {} } }));
    const route = (await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec.routes[0]
      ?.httpRoute;
    expect(route?.retryPolicy).toEqual({
      maxRetries: 1,
      perRetryTimeout: { unit: "ms", value: 250 },
      httpRetryEvents: ["gateway-error"],
    });
  });

  it("picks the protocol from appProtocol or the port name", async () => {
    const grpc = await reconciled(
      meshCanary({ service: { port: 80, portName: "grpc-api", retries: { retryOn: "unavailable" } } }),
    );
    const route = (await grpc.client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec.routes[0];
    expect(route?.grpcRoute?.retryPolicy?.grpcRetryEvents).toEqual(["unavailable"]);
    expect(route?.httpRoute).toBeUndefined();
    const h2 = await reconciled(meshCanary({ service: { port: 80, appProtocol: "kubernetes.io/h2c" } }));
    const vr = await h2.client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo"));
    expect(vr?.spec.listeners[0]?.portMapping.protocol).toBe("http2");
    expect(vr?.spec.routes[0]?.http2Route).toBeDefined();
    const tcp = await reconciled(meshCanary({ service: { port: 80, portName: "tcp-db", timeout: "1m" } }));
    const tcpRoute = (await tcp.client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec
      .routes[0];
    expect(tcpRoute?.tcpRoute?.timeout).toEqual({ idle: { unit: "ms", value: 60000 } });
  });

  it("logs to stdout with Flagger's access log annotation, and labels nodes with service.apex metadata", async () => {
    const canary = meshCanary(
      { service: { port: 80, apex: { labels: { team: "web" }, annotations: { note: "x" } } } },
      { "appmesh.flagger.app/accesslog": "enabled" },
    );
    const { client } = await reconciled(canary);
    const node = await client.get<VirtualNode>(meshRef("VirtualNode", "podinfo-canary"));
    expect(node?.spec.logging).toEqual({ accessLog: { file: { path: "/dev/stdout" } } });
    expect(node?.metadata.labels).toEqual({ team: "web" });
    expect(node?.metadata.annotations).toEqual({ note: "x" });
  });

  it("exposes the apex virtual service on the App Mesh Gateway when service.hosts is set", async () => {
    const { client } = await reconciled(
      meshCanary({
        service: { port: 80, hosts: ["app.example.com"], timeout: "30s", retries: { attempts: 2 } },
      }),
    );
    expect((await client.get(meshRef("VirtualService", "podinfo")))?.metadata.annotations).toEqual({
      "gateway.appmesh.k8s.aws/expose": "true",
      "gateway.appmesh.k8s.aws/domain": "app.example.com",
      "gateway.appmesh.k8s.aws/timeout": "30s",
      "gateway.appmesh.k8s.aws/retries": "2",
    });
    expect(
      (await client.get(meshRef("VirtualService", "podinfo-canary")))?.metadata.annotations,
    ).toBeUndefined();
  });
});

describe("AppMeshRouter routes", () => {
  it("has no routes before reconcile", async () => {
    const router = new AppMeshRouter(new FakeKubeClient([deploymentFixture()]));
    expect(await router.getRoutes(target(meshCanary()))).toBeUndefined();
  });

  it("shifts weights and keeps them across reconciles", async () => {
    const canary = meshCanary();
    const { router, client } = await reconciled(canary);
    await router.setRoutes(target(canary), weight(30));
    await router.reconcile(target(canary));
    expect(await router.getRoutes(target(canary))).toEqual(weight(30));
    const targets = (await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec.routes[0]
      ?.httpRoute?.action;
    expect(targets?.weightedTargets.map((t) => [t.virtualNodeRef.name, t.weight])).toEqual([
      ["podinfo-canary", 30],
      ["podinfo-primary", 70],
    ]);
  });

  it("routes each A/B match as a prioritised route to the canary, the rest by weight", async () => {
    const canary = abCanary(
      { headers: { "x-canary": { exact: "insider" } } },
      {
        headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" }, "user-agent": { suffix: "Firefox" } },
      },
    );
    const { router, client } = await reconciled(canary);
    await router.setRoutes(target(canary), AB);
    const routes = (await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec.routes ?? [];
    expect(routes.map((r) => [r.name, r.priority, r.httpRoute?.match?.headers])).toEqual([
      ["podinfo-a", 10, [{ name: "x-canary", match: { exact: "insider" } }]],
      [
        "podinfo-a2",
        11,
        [
          { name: "cookie", match: { regex: "^(.*?;)?(canary=always)(;.*)?$" } },
          { name: "user-agent", match: { suffix: "Firefox" } },
        ],
      ],
      ["podinfo-b", 20, undefined],
    ]);
    expect(routes[0]?.httpRoute?.action.weightedTargets.map((t) => t.weight)).toEqual([100, 0]);
    expect(routes[2]?.httpRoute?.action.weightedTargets.map((t) => t.weight)).toEqual([0, 100]);
    expect(await router.getRoutes(target(canary))).toEqual(AB);
    await router.setRoutes(target(canary), weight(0));
    expect(
      (await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec.routes.map((r) => r.name),
    ).toEqual(["podinfo"]);
  });

  it("names the routes of the VirtualRouter <apex> as the field that carries the split", () => {
    const router = new AppMeshRouter(new FakeKubeClient([]));
    expect(router.splitField(target(meshCanary()))).toEqual({
      ref: meshRef("VirtualRouter", "podinfo"),
      path: ["spec", "routes"],
    });
    expect(router.splitField(target(meshCanary({ service: { port: 80, name: "ledger" } }))).ref.name).toBe(
      "ledger",
    );
  });

  describe("reads back exactly what it wrote", () => {
    const strategies: [string, Canary][] = [
      ["canary", meshCanary({ analysis: { stepWeights: [5, 25, 50], stepWeightPromotion: 20 } })],
      [
        "canary with timeouts and retries",
        meshCanary({
          service: { port: 80, timeout: "10s", retries: { attempts: 2 } },
          analysis: { stepWeight: 20 },
        }),
      ],
      ["blue/green", meshCanary({ analysis: { iterations: 3 } })],
      ["A/B by header", abCanary({ headers: { "x-canary": { regex: "^(insider|beta)$" } } })],
      ["A/B by cookie", abCanary({ headers: { cookie: { exact: "canary=always" } } })],
    ];
    it.each(strategies)("for every split of a %s release", async (_name, canary) => {
      const { router, client } = await reconciled(canary);
      const splits = routesOverRelease(target(canary).resolved, router.capabilities);
      expect(splits.length).toBeGreaterThan(1);
      for (const routes of splits) {
        await router.setRoutes(target(canary), routes);
        expect(await router.getRoutes(target(canary))).toEqual(routes);
        // An idle tick: reconcile again and nothing moves.
        const before = await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo"));
        await router.reconcile(target(canary));
        expect(await router.getRoutes(target(canary))).toEqual(routes);
        expect((await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo")))?.spec).toEqual(
          before?.spec,
        );
      }
    });
  });

  it("names a router that does not route to both virtual nodes", async () => {
    const canary = meshCanary();
    const { router, client } = await reconciled(canary);
    const vr = await client.get<VirtualRouter>(meshRef("VirtualRouter", "podinfo"));
    await client.mergePatch(meshRef("VirtualRouter", "podinfo"), {
      spec: {
        routes: [
          {
            ...vr?.spec.routes[0],
            httpRoute: {
              match: { prefix: "/" },
              action: { weightedTargets: [{ virtualNodeRef: { name: "other" }, weight: 100 }] },
            },
          },
        ],
      },
    });
    await expect(router.getRoutes(target(canary))).rejects.toThrow(
      `VirtualRouter ${NS}/podinfo has no route with weighted targets podinfo-primary and podinfo-canary; kanaria manages this router`,
    );
  });
});

describe("AppMeshRouter ownership and the App Mesh controller's fields", () => {
  it("keeps awsName and meshRef as the App Mesh controller set them", async () => {
    const canary = meshCanary();
    const { router, client } = await reconciled(canary);
    await client.mergePatch(meshRef("VirtualNode", "podinfo-primary"), {
      spec: { awsName: "custom", meshRef: { name: "global", uid: "mesh-uid" } },
    });
    await router.reconcile(target(canary));
    const node = await client.get<VirtualNode>(meshRef("VirtualNode", "podinfo-primary"));
    expect(node?.spec).toMatchObject({ awsName: "custom", meshRef: { name: "global", uid: "mesh-uid" } });
  });

  it("names the mesh the namespace really belongs to", async () => {
    const canary = meshCanary();
    const { router, client } = await reconciled(canary);
    await client.mergePatch(meshRef("VirtualRouter", "podinfo"), {
      spec: { meshRef: { name: "other", uid: "u" } },
    });
    await expect(router.reconcile(target(canary))).rejects.toThrow(
      `VirtualRouter ${NS}/podinfo belongs to mesh other, but spec.service.meshName is global; set spec.service.meshName to other`,
    );
  });

  it("refuses objects of another Canary", async () => {
    const foreign = {
      apiVersion: APPMESH_API_VERSION,
      kind: "VirtualRouter",
      metadata: {
        name: "podinfo",
        namespace: NS,
        ownerReferences: [
          { apiVersion: "kanaria.dev/v1alpha1", kind: "Canary", name: "other", uid: "u2", controller: true },
        ],
      },
      spec: { listeners: [], routes: [] },
    } as KubeObject;
    const client = new FakeKubeClient([deploymentFixture(), foreign]);
    await expect(new AppMeshRouter(client).reconcile(target(meshCanary()))).rejects.toThrow(
      /is controlled by Canary other/,
    );
  });

  it("names the missing target Deployment", async () => {
    await expect(new AppMeshRouter(new FakeKubeClient()).reconcile(target(meshCanary()))).rejects.toThrow(
      `Deployment ${NS}/podinfo (spec.targetRef) does not exist`,
    );
  });
});

describe("AppMeshRouter finalize (revertOnDeletion)", () => {
  it("leaves the apex virtual service, released, on a virtual node for the target's pods", async () => {
    const canary = meshCanary();
    const { router, client } = await reconciled(canary);
    await router.finalize(target(canary));
    const vs = await client.get<VirtualService>(meshRef("VirtualService", "podinfo"));
    expect(vs?.metadata.ownerReferences).toBeUndefined();
    expect(vs?.spec.provider).toEqual({ virtualNode: { virtualNodeRef: { name: "podinfo" } } });
    const node = await client.get<VirtualNode>(meshRef("VirtualNode", "podinfo"));
    expect(node?.metadata.ownerReferences).toBeUndefined();
    expect(node?.spec).toMatchObject({
      podSelector: { matchLabels: { app: "podinfo" } },
      serviceDiscovery: { dns: { hostname: `podinfo.${NS}.svc.cluster.local.` } },
    });
  });

  it("takes the virtual service back when a new Canary comes", async () => {
    const canary = meshCanary();
    const { router, client } = await reconciled(canary);
    await router.finalize(target(canary));
    await router.reconcile(target(canary));
    const vs = await client.get<VirtualService>(meshRef("VirtualService", "podinfo"));
    expect(vs?.spec.provider).toEqual({ virtualRouter: { virtualRouterRef: { name: "podinfo" } } });
    expect(vs?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ name: "podinfo", controller: true }),
    ]);
  });
});

describe("AppMeshRouter check and capabilities", () => {
  const router = new AppMeshRouter(new FakeKubeClient());
  const rejects = (canary: Canary, message: string) => {
    expect(() => router.check(target(canary))).toThrow(RouterConfigError);
    expect(() => router.check(target(canary))).toThrow(message);
  };

  it("names what App Mesh cannot do, before anything is written", () => {
    rejects(meshCanary({ service: { port: 80, meshName: undefined } }), "spec.service.meshName is not set");
    rejects(
      meshCanary({ service: { port: 80, retries: { retryOn: "5xx" } } }),
      'spec.service.retries.retryOn has "5xx", which App Mesh does not retry on; use a comma-separated list of server-error, gateway-error, client-error, stream-error, connection-error',
    );
    rejects(
      meshCanary({ service: { port: 80, timeout: "1.5ms" } }),
      'spec.service.timeout is "1.5ms"; App Mesh takes whole milliseconds',
    );
    rejects(
      meshCanary({ service: { port: 80, match: [{ uri: { regex: "/a.*" } }] } }),
      "spec.service.match[0].uri.regex is set; App Mesh routes take one URI prefix",
    );
    rejects(
      meshCanary({ service: { port: 80, portName: "tcp", retries: {} } }),
      "spec.service.retries is set on a TCP port",
    );
    rejects(
      abCanary({ headers: { "x-a": { exact: "1", prefix: "2" } } }),
      "spec.analysis.match[0].headers.x-a has 2 operators",
    );
    rejects(
      abCanary({ headers: { "x-a": { exact: "" } } }),
      "spec.analysis.match[0].headers.x-a.exact is 0 characters long",
    );
    rejects(
      abCanary({ uri: { prefix: "/a" } }),
      "spec.analysis.match[0].uri is set; the appmesh provider routes A/B traffic by headers only",
    );
    expect(() => router.check(target(abCanary({ headers: { "x-canary": { prefix: "in" } } })))).not.toThrow();
  });

  it("declares no mirroring, session affinity or query params, so decide() stalls those asks", () => {
    const stall = (canary: Canary) =>
      unsupportedRouting(canary.spec, resolveCanary(canary.spec), "appmesh", router.capabilities)?.message;
    expect(stall(meshCanary({ analysis: { stepWeight: 10, mirror: true } }))).toContain(
      "spec.analysis.mirror is set, but provider appmesh cannot mirror",
    );
    expect(
      stall(meshCanary({ analysis: { iterations: 2, sessionAffinity: { cookieName: "c" } } })),
    ).toContain("spec.analysis.sessionAffinity is set");
    expect(stall(abCanary({ queryParams: { q: { exact: "1" } } }))).toContain(
      "spec.analysis.match[0].queryParams is set, but provider appmesh cannot route by queryParams",
    );
    // App Mesh routes cannot change headers, and the HTTPRoute parts are not App Mesh's: a stall naming them.
    expect(
      stall(meshCanary({ service: { port: 80, headers: { request: { set: { "x-a": "1" } } } } })),
    ).toMatch(
      /^spec\.service\.headers is set, but provider appmesh cannot use it: .*; remove it or use provider gatewayapi$/,
    );
    expect(stall(meshCanary({ service: { port: 80, gatewayRefs: [{ name: "public" }] } }))).toContain(
      "spec.service.gatewayRefs is set, but provider appmesh cannot use it",
    );
    // What App Mesh acts on is no stall.
    expect(
      stall(
        meshCanary({
          service: {
            port: 80,
            meshName: "global",
            timeout: "15s",
            retries: { attempts: 2 },
            match: [{ uri: { prefix: "/" } }],
            hosts: ["app.example.com"],
            backends: ["backend.test"],
          },
        }),
      ),
    ).toBeUndefined();
    expect(stall(meshCanary({ analysis: { stepWeight: 10 } }))).toBeUndefined();
    expect(stall(abCanary({ headers: { "x-a": { suffix: "z" } } }))).toBeUndefined();
  });
});
