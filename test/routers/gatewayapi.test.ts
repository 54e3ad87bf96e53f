// The gatewayapi router on the real API server (the Gateway API CRDs of test/cluster/versions.env),
// driven through the reconciler tick by tick: the generated HTTPRoute and a user's routeRef, their
// resourceVersion across idle ticks, a user's rules and filters kept byte for byte, a GitOps re-apply,
// a GAMMA Service parent, and a parent that refuses the route (its status written as a Gateway
// controller would, with a field manager of its own). No Gateway controller runs here: what is
// checked is what one would read.
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { type ReconcilerDeps, reconcileCanary } from "../../src/controller/reconciler.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { createRouter } from "../../src/routers/factory.ts";
import type { HTTPRoute, RouteRule } from "../../src/routers/gatewayapi/types.ts";
import { gitHTTPRoute } from "../helpers/httproutes.ts";
import { routesOverRelease } from "../helpers/routes.ts";
import { getCanary } from "../support/canary-observer.ts";
import { kubeConfig, kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { canary as canaryManifest, deployment } from "../support/manifests.ts";

const ns = useNamespace("router-gatewayapi");
const logger = pino({ level: process.env.KANARIA_TEST_LOG ?? "silent" });
const client = createKubeClient(kubeConnection(), logger);
const GATEWAY = {
  group: "gateway.networking.k8s.io",
  kind: "Gateway",
  name: "public",
  namespace: "gateways",
};

const deps: ReconcilerDeps = {
  client,
  logger,
  now: () => new Date(),
  defaultProvider: "kubernetes",
  router: (provider) => createRouter(provider, { client }),
  runChecks: async () => [],
  offlineProviders: async () => [],
  listCanaries: (namespace) => client.list<Canary & KubeObject>(API_VERSION, "Canary", namespace),
};

const tick = (name: string) => reconcileCanary(deps, ns, name);
const routeRef = (name: string) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  namespace: ns,
  name,
});
const getRoute = async (name: string) => {
  const route = await client.get<HTTPRoute>(routeRef(name));
  if (!route) throw new Error(`HTTPRoute ${ns}/${name} not found`);
  return route;
};
const backends = (rule: RouteRule | undefined) => rule?.backendRefs?.map((b) => [b.name, b.weight]);

/** Applies an object as another tool would (server-side apply with its own field manager). */
async function applyAs(fieldManager: string, object: KubeObject): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
  await api.patch(object, undefined, undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply);
}

async function createApp(name: string, spec: Partial<CanarySpec> & Pick<CanarySpec, "analysis">) {
  await client.apply(deployment(ns, name, "6.0.0"));
  await client.apply(canaryManifest(ns, name, { provider: "gatewayapi", ...spec }));
}

/** Ticks until the Canary is Initialized and the cluster converged to it (primary ready, target at zero). */
async function initialized(name: string): Promise<Canary> {
  return waitFor(
    async () => {
      await tick(name);
      return getCanary(client, ns, name);
    },
    {
      description: `Canary ${ns}/${name} Initialized`,
      until: (c) => c.status?.phase === "Initialized",
      timeoutMs: 60_000,
      intervalMs: 500,
    },
  );
}

async function idleTicksLeaveRouteAlone(name: string, route = name): Promise<void> {
  const before = await getRoute(route);
  for (let i = 0; i < 5; i++) await tick(name);
  const after = await getRoute(route);
  expect(after.metadata.resourceVersion, "5 idle ticks change nothing").toBe(before.metadata.resourceVersion);
}

const withoutBackends = ({ backendRefs: _, ...rest }: RouteRule) => rest;

describe.concurrent("gatewayapi router on a real cluster", () => {
  it("generates the HTTPRoute named after the apex Service and leaves it alone on idle ticks", async () => {
    await createApp("gen", {
      service: {
        port: 80,
        targetPort: 9898,
        gatewayRefs: [GATEWAY],
        hosts: ["gen.example.test"],
        timeout: "15s",
      },
      analysis: { interval: "10s", stepWeight: 50 },
    });
    await initialized("gen");
    const route = await getRoute("gen");
    expect(route.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Canary",
      name: "gen",
      controller: true,
    });
    expect(route.spec?.parentRefs).toEqual([GATEWAY]);
    expect(route.spec?.hostnames).toEqual(["gen.example.test"]);
    expect(route.spec?.rules).toHaveLength(1);
    expect(route.spec?.rules?.[0]?.timeouts).toEqual({ request: "15s" });
    expect(backends(route.spec?.rules?.[0])).toEqual([
      ["gen-primary", 100],
      ["gen-canary", 0],
    ]);
    await idleTicksLeaveRouteAlone("gen");
  });

  it("routeRef: splits only the apex rule, keeps the user's rules and filters, and re-splits a GitOps re-apply", async () => {
    const git = gitHTTPRoute(ns, "shop", "shop", 80);
    await applyAs("kustomize-controller", git);
    const before = await getRoute("shop");
    await createApp("shop", {
      routeRef: { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", name: "shop" },
      analysis: { interval: "10s", stepWeight: 50 },
    });
    await initialized("shop");
    const after = await getRoute("shop");
    expect(after.metadata.labels).toEqual(before.metadata.labels);
    expect(after.metadata.annotations).toEqual(before.metadata.annotations);
    expect(after.spec?.parentRefs).toEqual(before.spec?.parentRefs);
    expect(after.spec?.hostnames).toEqual(before.spec?.hostnames);
    const [beforeRules, afterRules] = [before.spec?.rules ?? [], after.spec?.rules ?? []];
    expect(afterRules.slice(0, 2), "the user's own rules, byte for byte").toEqual(beforeRules.slice(0, 2));
    expect(withoutBackends(afterRules[2] as RouteRule)).toEqual(withoutBackends(beforeRules[2] as RouteRule));
    expect(afterRules[2]?.backendRefs).toEqual([
      { group: "", kind: "Service", name: "shop-primary", port: 80, weight: 100 },
      { group: "", kind: "Service", name: "shop-canary", port: 80, weight: 0 },
    ]);
    // kanaria's field manager owns spec.rules only: labels, annotations, hostnames, parentRefs stay the user's.
    const owned = after.metadata.managedFields?.filter((f) => f.manager === "kanaria") ?? [];
    expect(owned.map((f) => Object.keys((f.fieldsV1 as { "f:spec"?: object })["f:spec"] ?? {}))).toEqual([
      ["f:rules"],
    ]);
    expect(Object.keys(owned[0]?.fieldsV1 ?? {}).sort()).toEqual(["f:spec"]);
    await idleTicksLeaveRouteAlone("shop");

    // Flux applies the route from Git again (no weights there): kanaria splits it again in one tick and
    // then leaves it alone; it never writes Git's version back over the author's change.
    const changed = gitHTTPRoute(ns, "shop", "shop", 80) as HTTPRoute & { spec: { rules: RouteRule[] } };
    changed.spec.rules[2]?.filters?.push({
      type: "RequestHeaderModifier",
      requestHeaderModifier: { add: [{ name: "x-env", value: "prod" }] },
    });
    await applyAs("kustomize-controller", changed);
    // The CRD defaults the weight Git leaves out to 1.
    expect(backends((await getRoute("shop")).spec?.rules?.[2])).toEqual([["shop", 1]]);
    await tick("shop");
    const resplit = await getRoute("shop");
    expect(resplit.spec?.rules?.[2]?.filters).toEqual(changed.spec.rules[2]?.filters);
    expect(backends(resplit.spec?.rules?.[2])).toEqual([
      ["shop-primary", 100],
      ["shop-canary", 0],
    ]);
    await idleTicksLeaveRouteAlone("shop");
  });

  it("GAMMA: a Service parent, and every split of a release read back exactly from the API server", async () => {
    await createApp("mesh", {
      service: { port: 80, targetPort: 9898, gatewayRefs: [{ kind: "Service", name: "mesh", port: 80 }] },
      analysis: { interval: "10s", stepWeights: [10, 30, 60], stepWeightPromotion: 50 },
    });
    const canary = await initialized("mesh");
    expect((await getRoute("mesh")).spec?.parentRefs).toEqual([
      { group: "", kind: "Service", name: "mesh", port: 80 },
    ]);
    const router = createRouter("gatewayapi", { client });
    const target = { canary, resolved: resolveCanary(canary.spec) };
    const splits = routesOverRelease(target.resolved, router.capabilities);
    expect(splits.length).toBeGreaterThan(3);
    for (const routes of splits) {
      await router.setRoutes(target, routes);
      expect(await router.getRoutes(target)).toEqual(routes);
      const rv = (await getRoute("mesh")).metadata.resourceVersion;
      await router.reconcile(target);
      expect((await getRoute("mesh")).metadata.resourceVersion).toBe(rv);
    }
  });

  it("writes every split of A/B, mirroring and session affinity releases that the HTTPRoute CRD accepts, and reads each back", async () => {
    const router = createRouter("gatewayapi", { client });
    const service = { port: 80, targetPort: 9898, gatewayRefs: [GATEWAY], hosts: ["split.example.test"] };
    const strategies: [string, CanarySpec["analysis"]][] = [
      [
        "ab",
        {
          iterations: 2,
          match: [
            { headers: { "x-canary": { regex: "^(insider|beta)$" } } },
            { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
            { queryParams: { beta: { exact: "1" } }, uri: { prefix: "/api" }, method: { exact: "GET" } },
          ],
        },
      ],
      ["bg-mirror", { iterations: 2, mirror: true, mirrorWeight: 25 }],
      [
        "sticky",
        { stepWeight: 30, sessionAffinity: { cookieName: "c", maxAge: 60, primaryCookieName: "p" } },
      ],
    ];
    for (const [name, analysis] of strategies) {
      const applied = await client.apply(
        canaryManifest(ns, name, {
          provider: "gatewayapi",
          service,
          analysis: { interval: "10s", ...analysis },
        }),
      );
      const canary = {
        ...(applied as unknown as Canary),
        status: { lastAppliedSpec: "rev2", lastPromotedSpec: "rev1" },
      };
      const target = { canary, resolved: resolveCanary(canary.spec) };
      const splits = routesOverRelease(target.resolved, router.capabilities);
      expect(splits.length, name).toBeGreaterThan(1);
      for (const routes of splits) {
        await router.setRoutes(target, routes);
        expect(await router.getRoutes(target), `${name}: ${JSON.stringify(routes)}`).toEqual(routes);
      }
    }
  });

  it("holds a release at weight 0 while the Gateway does not accept the route, and goes on once it does", async () => {
    await createApp("refused", {
      service: { port: 80, targetPort: 9898, gatewayRefs: [GATEWAY] },
      analysis: { interval: "10s", stepWeight: 50 },
    });
    await initialized("refused");
    await writeStatusSubresource(
      "refused",
      "False",
      "NotAllowedByListeners",
      "no listener allows this route",
    );
    // The whole manifest, as a GitOps tool applies it (a merge patch of the image would drop the ports list).
    await client.apply(deployment(ns, "refused", "6.0.1"));
    const stalled = await waitFor(
      async () => {
        await tick("refused");
        return getCanary(client, ns, "refused");
      },
      {
        description: "the Canary Stalled on the refused route",
        until: (c) => c.status?.conditions?.some((x) => x.type === "Stalled" && x.status === "True") ?? false,
        timeoutMs: 30_000,
        intervalMs: 500,
      },
    );
    const condition = stalled.status?.conditions?.find((x) => x.type === "Stalled");
    expect(condition?.reason).toBe("RouteNotAccepted");
    expect(condition?.message).toMatch(
      /HTTPRoute \S+\/refused is not accepted by its parent Gateway gateways\/public: NotAllowedByListeners: no listener allows this route/,
    );
    for (let i = 0; i < 3; i++) await tick("refused");
    const held = await getCanary(client, ns, "refused");
    expect(held.status?.phase).toBe("Initialized");
    expect(held.status?.canaryWeight ?? 0).toBe(0);
    expect(backends((await getRoute("refused")).spec?.rules?.[0])).toEqual([
      ["refused-primary", 100],
      ["refused-canary", 0],
    ]);
    // kanaria wrote no status of its own on the route.
    const refusedRoute = await getRoute("refused");
    expect(
      refusedRoute.metadata.managedFields?.filter(
        (f) => f.manager === "kanaria" && f.subresource === "status",
      ),
    ).toEqual([]);

    await writeStatusSubresource("refused", "True", "Accepted", "");
    const progressing = await waitFor(
      async () => {
        await tick("refused");
        return getCanary(client, ns, "refused");
      },
      {
        description: "the release to start once the route is accepted",
        until: (c) => c.status?.phase === "Progressing" && c.status.canaryWeight === 50,
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    expect(progressing.status?.conditions?.find((x) => x.type === "Stalled")?.status).not.toBe("True");
    await waitFor(async () => backends((await getRoute("refused")).spec?.rules?.[0]), {
      description: "the route at 50/50",
      until: (b) =>
        JSON.stringify(b) ===
        JSON.stringify([
          ["refused-primary", 50],
          ["refused-canary", 50],
        ]),
      timeoutMs: 30_000,
      intervalMs: 500,
    });
  });
});

/** The route's status as a Gateway controller writes it: through the status subresource, its own field manager. */
async function writeStatusSubresource(
  name: string,
  accepted: "True" | "False",
  reason: string,
  message: string,
): Promise<void> {
  const route = await getRoute(name);
  const api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  await api.patchNamespacedCustomObjectStatus(
    {
      group: "gateway.networking.k8s.io",
      version: "v1",
      namespace: ns,
      plural: "httproutes",
      name,
      body: {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name, namespace: ns },
        status: {
          parents: [
            {
              parentRef: GATEWAY,
              controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
              conditions: [
                {
                  type: "Accepted",
                  status: accepted,
                  reason,
                  message,
                  observedGeneration: route.metadata.generation,
                  lastTransitionTime: new Date().toISOString(),
                },
              ],
            },
          ],
        },
      },
      fieldManager: "gateway.envoyproxy.io",
      force: true,
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply),
  );
}
