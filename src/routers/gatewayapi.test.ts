import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, NS } from "../../test/helpers/fixtures.ts";
import { gitHTTPRoute } from "../../test/helpers/httproutes.ts";
import { routesOverRelease } from "../../test/helpers/routes.ts";
import type { Canary, CanarySpec, HttpMatch } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { RouterConfigError } from "./errors.ts";
import { refusal } from "./gatewayapi/status.ts";
import type { HTTPRoute, RouteRule } from "./gatewayapi/types.ts";
import { appliedIn, buildGeneratedRoute, GatewayApiRouter } from "./gatewayapi.ts";
import type { RouterTarget, Routes } from "./router.ts";

const weight = (canaryWeight: number, extra: Partial<Routes> = {}): Routes => ({
  primaryWeight: 100 - canaryWeight,
  canaryWeight,
  matched: false,
  mirrored: false,
  ...extra,
});
const AB: Routes = { primaryWeight: 100, canaryWeight: 0, matched: true, mirrored: false };
const GATEWAY = { name: "public", namespace: "gateways", sectionName: "https" };

function generated(spec: Partial<CanarySpec> = {}): Canary {
  return canaryFixture({
    provider: "gatewayapi",
    analysis: { interval: "30s", stepWeight: 20, maxWeight: 60 },
    ...spec,
    service: {
      port: 9898,
      gatewayRefs: [GATEWAY],
      hosts: ["app.example.com"],
      ...spec.service,
    },
  });
}

function withRouteRef(spec: Partial<CanarySpec> = {}): Canary {
  return canaryFixture({
    provider: "gatewayapi",
    routeRef: { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", name: "shop" },
    analysis: { interval: "30s", stepWeight: 20, maxWeight: 60 },
    ...spec,
  });
}

const target = (canary: Canary): RouterTarget => ({ canary, resolved: resolveCanary(canary.spec) });
const routeKey = (name: string) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  namespace: NS,
  name,
});

const userRoute = () => gitHTTPRoute(NS, "shop", "podinfo", 9898);

async function reconciled(canary: Canary, seed: HTTPRoute[] = []) {
  const client = new FakeKubeClient(seed);
  const router = new GatewayApiRouter(client);
  await router.reconcile(target(canary));
  return { client, router };
}

const backends = (rule: RouteRule | undefined) => rule?.backendRefs?.map((b) => [b.name, b.weight]);

describe("generated route", () => {
  it("is named after the apex Service, attaches to the gatewayRefs and starts on the primary", () => {
    const canary = generated({
      service: {
        port: 9898,
        gatewayRefs: [GATEWAY],
        hosts: ["app.example.com"],
        timeout: "15s",
        apex: { labels: { tier: "web" }, annotations: { "example.com/a": "b" } },
        headers: { request: { set: { "x-b": "2", "x-a": "1" } } },
        match: [{ uri: { prefix: "/api" } }],
      },
    });
    const route = buildGeneratedRoute(canary, weight(0));
    expect(route.metadata).toMatchObject({
      name: "podinfo",
      namespace: NS,
      labels: { tier: "web" },
      annotations: { "example.com/a": "b" },
    });
    expect(route.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Canary",
      name: "podinfo",
      controller: true,
    });
    expect(route.spec).toEqual({
      parentRefs: [{ ...GATEWAY, group: "gateway.networking.k8s.io" }],
      hostnames: ["app.example.com"],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/api" } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: {
                set: [
                  { name: "x-a", value: "1" },
                  { name: "x-b", value: "2" },
                ],
              },
            },
          ],
          timeouts: { request: "15s" },
          backendRefs: [
            { group: "", kind: "Service", name: "podinfo-primary", port: 9898, weight: 100 },
            { group: "", kind: "Service", name: "podinfo-canary", port: 9898, weight: 0 },
          ],
        },
      ],
    });
  });

  it("gives a GAMMA Service parent the core group", () => {
    const canary = generated({
      service: { port: 9898, gatewayRefs: [{ kind: "Service", name: "podinfo" }] },
    });
    expect(buildGeneratedRoute(canary, weight(0)).spec?.parentRefs).toEqual([
      { kind: "Service", name: "podinfo", group: "" },
    ]);
  });

  it("puts the A/B rule before the weighted one, with header, cookie and query matches", () => {
    const canary = generated({
      analysis: {
        iterations: 5,
        match: [
          { headers: { "x-canary": { exact: "insider" } } },
          { headers: { cookie: { regex: "^(.*?;)?(canary=always)(;.*)?$" } } },
          { queryParams: { beta: { exact: "1" } } },
        ],
      },
    });
    const rules = buildGeneratedRoute(canary, AB).spec?.rules ?? [];
    expect(rules).toHaveLength(2);
    expect(rules[0]?.matches).toEqual([
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [{ type: "Exact", name: "x-canary", value: "insider" }],
      },
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [{ type: "RegularExpression", name: "Cookie", value: "^(.*?;)?(canary=always)(;.*)?$" }],
      },
      {
        path: { type: "PathPrefix", value: "/" },
        queryParams: [{ type: "Exact", name: "beta", value: "1" }],
      },
    ]);
    expect(backends(rules[0])).toEqual([["podinfo-canary", undefined]]);
    expect(backends(rules[1])).toEqual([
      ["podinfo-primary", 100],
      ["podinfo-canary", 0],
    ]);
  });

  it("ANDs an A/B match with the rule's own matches, leaving out combinations no request can meet", () => {
    const service = {
      port: 9898,
      gatewayRefs: [GATEWAY],
      match: [{ headers: { "X-Tier": { exact: "web" }, host: { exact: "a" } } }],
    };
    const canary = generated({
      service,
      analysis: {
        iterations: 5,
        match: [
          { headers: { "x-tier": { exact: "beta" } } },
          { headers: { "x-tier": { exact: "web" }, b: { exact: "1" } } },
        ],
      },
    });
    const rules = buildGeneratedRoute(canary, AB).spec?.rules ?? [];
    expect(rules[0]?.matches).toEqual([
      {
        headers: [
          { type: "Exact", name: "host", value: "a" },
          { type: "Exact", name: "x-tier", value: "web" },
          { type: "Exact", name: "b", value: "1" },
        ],
      },
    ]);
    // Only impossible combinations: check() says so, and no A/B rule is written (one without matches
    // would take every request).
    const impossible = generated({
      service,
      analysis: { iterations: 5, match: [{ headers: { "x-tier": { exact: "beta" } } }] },
    });
    const router = new GatewayApiRouter(new FakeKubeClient());
    expect(() => router.check(target(impossible))).toThrow(
      /no request can meet both spec\.analysis\.match and spec\.service\.match/,
    );
    expect(() => router.check(target(canary))).not.toThrow();
    expect(buildGeneratedRoute(impossible, AB).spec?.rules?.map(backends)).toEqual([
      [
        ["podinfo-primary", 100],
        ["podinfo-canary", 0],
      ],
    ]);
  });

  it("mirrors with a RequestMirror filter carrying mirrorWeight as percent", () => {
    const canary = generated({ analysis: { iterations: 5, mirror: true, mirrorWeight: 30 } });
    const rule = buildGeneratedRoute(canary, weight(0, { mirrored: true })).spec?.rules?.[0];
    expect(rule?.filters).toEqual([
      {
        type: "RequestMirror",
        requestMirror: {
          backendRef: { group: "", kind: "Service", name: "podinfo-canary", port: 9898 },
          percent: 30,
        },
      },
    ]);
  });

  it("keeps users on their version with Set-Cookie on the backends and cookie rules in front", () => {
    const canary = generated({
      analysis: {
        interval: "1m",
        stepWeight: 20,
        sessionAffinity: { cookieName: "flagger-cookie", maxAge: 600, primaryCookieName: "primary-cookie" },
      },
    });
    canary.status = { lastAppliedSpec: "abc123", lastPromotedSpec: "def456" };
    const rules = buildGeneratedRoute(canary, weight(20)).spec?.rules ?? [];
    expect(rules.map(backends)).toEqual([
      [["podinfo-canary", undefined]],
      [["podinfo-primary", undefined]],
      [
        ["podinfo-primary", 80],
        ["podinfo-canary", 20],
      ],
    ]);
    expect(rules[0]?.matches?.[0]?.headers).toEqual([
      { type: "RegularExpression", name: "Cookie", value: ".*flagger-cookie.*abc123.*" },
    ]);
    expect(rules[2]?.backendRefs?.[1]?.filters).toEqual([
      {
        type: "ResponseHeaderModifier",
        responseHeaderModifier: {
          add: [{ name: "Set-Cookie", value: "flagger-cookie=abc123; Max-Age=600" }],
        },
      },
    ]);
    expect(rules[2]?.backendRefs?.[0]?.filters?.[0]?.responseHeaderModifier?.add).toEqual([
      { name: "Set-Cookie", value: "primary-cookie=def456; Max-Age=60" },
    ]);
    // At weight 0 nobody is handed a canary cookie.
    expect(buildGeneratedRoute(canary, weight(0)).spec?.rules).toHaveLength(1);
  });

  it("refuses a route of the same name that another owner has", async () => {
    const other = { ...userRoute(), metadata: { name: "podinfo", namespace: NS } };
    const router = new GatewayApiRouter(new FakeKubeClient([other]));
    await expect(router.reconcile(target(generated()))).rejects.toThrow(
      /HTTPRoute shop\/podinfo exists and is not controlled by this Canary; set spec\.routeRef\.name: podinfo/,
    );
  });

  it("writes nothing when the route already carries the split", async () => {
    const { client, router } = await reconciled(generated());
    await router.setRoutes(target(generated()), weight(20));
    const writes = client.writes.length;
    for (let i = 0; i < 5; i++) {
      await router.reconcile(target(generated()));
      await router.setRoutes(target(generated()), weight(20));
    }
    expect(client.writes.length).toBe(writes);
  });

  it("finalize hands the route to the apex Service and drops the owner reference", async () => {
    const { client, router } = await reconciled(generated());
    await router.setRoutes(target(generated()), weight(40));
    await router.finalize(target(generated()));
    const route = await client.get<HTTPRoute>(routeKey("podinfo"));
    expect(route?.metadata.ownerReferences).toBeUndefined();
    expect(backends(route?.spec?.rules?.[0])).toEqual([["podinfo", undefined]]);
  });
});

describe("routeRef", () => {
  it("splits only the apex rule and copies every other rule, label and annotation as it was", async () => {
    const before = userRoute();
    const { client, router } = await reconciled(withRouteRef(), [before]);
    await router.setRoutes(target(withRouteRef()), weight(40));
    const after = (await client.get<HTTPRoute>(routeKey("shop"))) as HTTPRoute;
    expect(after.metadata.labels).toEqual(before.metadata.labels);
    expect(after.metadata.annotations).toEqual(before.metadata.annotations);
    expect(after.spec?.parentRefs).toEqual(before.spec?.parentRefs);
    expect(after.spec?.hostnames).toEqual(before.spec?.hostnames);
    const [redirect, cdn, app] = after.spec?.rules ?? [];
    expect([redirect, cdn]).toEqual(before.spec?.rules?.slice(0, 2));
    const { backendRefs: _, ...appRest } = app as RouteRule;
    const { backendRefs: __, ...beforeRest } = (before.spec?.rules ?? [])[2] as RouteRule;
    expect(appRest).toEqual(beforeRest);
    expect(app?.backendRefs).toEqual([
      { name: "podinfo-primary", port: 9898, weight: 60 },
      { name: "podinfo-canary", port: 9898, weight: 40 },
    ]);
  });

  it("splits the route again after its author re-applies it from Git, keeping the author's change", async () => {
    const { client, router } = await reconciled(withRouteRef(), [userRoute()]);
    await router.setRoutes(target(withRouteRef()), weight(20));
    // The author adds a header filter in Git and the GitOps tool applies the route as written.
    const fromGit = userRoute();
    fromGit.spec?.rules?.[2]?.filters?.push({
      type: "RequestHeaderModifier",
      requestHeaderModifier: { add: [{ name: "x-env", value: "prod" }] },
    });
    client.seed(fromGit);
    expect(await router.getRoutes(target(withRouteRef()))).toBeUndefined();
    await router.setRoutes(target(withRouteRef()), weight(20));
    const rules = (await client.get<HTTPRoute>(routeKey("shop")))?.spec?.rules ?? [];
    expect(rules[2]?.filters).toEqual(fromGit.spec?.rules?.[2]?.filters);
    expect(backends(rules[2])).toEqual([
      ["podinfo-primary", 80],
      ["podinfo-canary", 20],
    ]);
    expect(await router.getRoutes(target(withRouteRef()))).toEqual(weight(20));
  });

  it("finalize restores the apex backendRef", async () => {
    const { client, router } = await reconciled(withRouteRef(), [userRoute()]);
    await router.setRoutes(target(withRouteRef()), weight(40));
    await router.finalize(target(withRouteRef()));
    const rules = (await client.get<HTTPRoute>(routeKey("shop")))?.spec?.rules ?? [];
    const { weight: _, ...apex } = userRoute().spec?.rules?.[2]?.backendRefs?.[0] ?? { name: "" };
    expect(rules[2]?.backendRefs).toEqual([apex]);
    expect(rules.slice(0, 2)).toEqual(userRoute().spec?.rules?.slice(0, 2));
  });

  it("names a missing route, a route without the apex Service and a rule that mixes it with others", async () => {
    await expect(
      new GatewayApiRouter(new FakeKubeClient()).reconcile(target(withRouteRef())),
    ).rejects.toThrow(
      /HTTPRoute shop\/shop \(spec\.routeRef\) does not exist; create it with a rule whose backendRef is the apex Service podinfo/,
    );
    const noApex = userRoute();
    noApex.spec?.rules?.pop();
    await expect(
      new GatewayApiRouter(new FakeKubeClient([noApex])).reconcile(target(withRouteRef())),
    ).rejects.toThrow(/has no rule whose only backendRef is the apex Service podinfo/);
    const mixed = userRoute();
    mixed.spec?.rules?.[2]?.backendRefs?.push({ name: "legacy", port: 80 });
    await expect(
      new GatewayApiRouter(new FakeKubeClient([mixed])).reconcile(target(withRouteRef())),
    ).rejects.toThrow(/spec\.rules\[2\] sends traffic to the apex Service podinfo and to other backends/);
  });
});

describe("reads back exactly what it wrote", () => {
  const ab = (...match: HttpMatch[]): Partial<CanarySpec> => ({ analysis: { iterations: 4, match } });
  const strategies: [string, Partial<CanarySpec>][] = [
    ["canary", { analysis: { stepWeights: [5, 25, 50], stepWeightPromotion: 20 } }],
    ["blue/green", { analysis: { iterations: 3 } }],
    ["blue/green with mirroring", { analysis: { iterations: 3, mirror: true, mirrorWeight: 50 } }],
    ["A/B by header", ab({ headers: { "x-canary": { regex: "^(insider|beta)$" } } })],
    [
      "A/B by cookie and query",
      ab({ headers: { cookie: { regex: "canary=always" } } }, { queryParams: { b: { exact: "1" } } }),
    ],
    [
      "canary with session affinity",
      { analysis: { stepWeight: 25, sessionAffinity: { cookieName: "c", primaryCookieName: "p" } } },
    ],
  ];
  const modes: [string, (spec: Partial<CanarySpec>) => Canary, HTTPRoute[]][] = [
    ["generated route", generated, []],
    ["routeRef", withRouteRef, [userRoute()]],
  ];
  for (const [modeName, make, seed] of modes) {
    it.each(strategies)(`${modeName}: every split of a %s release`, async (_name, spec) => {
      const canary = make(spec);
      canary.status = { lastAppliedSpec: "rev2", lastPromotedSpec: "rev1" };
      const { client, router } = await reconciled(canary, seed);
      const splits = routesOverRelease(target(canary).resolved, router.capabilities);
      expect(splits.length).toBeGreaterThan(1);
      for (const routes of splits) {
        await router.setRoutes(target(canary), routes);
        expect(await router.getRoutes(target(canary))).toEqual(routes);
        // Idle ticks write nothing: the same split again is not a write.
        const writes = client.writes.length;
        await router.reconcile(target(canary));
        expect(client.writes.length).toBe(writes);
      }
      if (seed.length > 0) {
        // Back at the primary, the user's rules are what they were.
        await router.setRoutes(target(canary), weight(0));
        const rules = (await client.get<HTTPRoute>(routeKey("shop")))?.spec?.rules ?? [];
        expect(rules).toHaveLength(3);
        expect(rules.slice(0, 2)).toEqual(userRoute().spec?.rules?.slice(0, 2));
      }
    });
  }
});

describe("check", () => {
  const router = new GatewayApiRouter(new FakeKubeClient());
  it("needs routeRef or gatewayRefs", () => {
    const canary = canaryFixture({ provider: "gatewayapi" });
    expect(() => router.check(target(canary))).toThrow(
      /needs spec\.routeRef .* or spec\.service\.gatewayRefs/,
    );
  });
  it("rejects what HTTPRoute cannot express, naming the field", () => {
    expect(() =>
      router.check(
        target(generated({ analysis: { iterations: 2, match: [{ headers: { "x-a": { prefix: "v" } } }] } })),
      ),
    ).toThrow(/spec\.analysis\.match\[0\]\.headers\.x-a uses prefix or suffix/);
    expect(() =>
      router.check(
        target(generated({ analysis: { iterations: 2, match: [{ sourceLabels: { app: "a" } }] } })),
      ),
    ).toThrow(RouterConfigError);
    expect(() =>
      router.check(
        target(generated({ service: { port: 9898, gatewayRefs: [GATEWAY], retries: { attempts: 3 } } })),
      ),
    ).toThrow(/spec\.service\.retries is set/);
    expect(() =>
      router.check(
        target(
          generated({
            service: { port: 9898, gatewayRefs: [{ kind: "Service", group: "core", name: "p" }] },
          }),
        ),
      ),
    ).toThrow(/spec\.service\.gatewayRefs\[0\] is a Service \(GAMMA\) in group "core"; .*set group: ""/);
    expect(() => router.check(target(generated()))).not.toThrow();
  });
});

describe("a route its parent refused", () => {
  const parentRef = {
    group: "gateway.networking.k8s.io",
    kind: "Gateway",
    name: "public",
    namespace: "gateways",
  };
  const refused = {
    parents: [
      {
        parentRef,
        controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
        conditions: [
          { type: "Accepted", status: "False", reason: "NotAllowedByListeners", message: "no listener" },
        ],
      },
    ],
  };
  const route = (status: HTTPRoute["status"]): HTTPRoute => ({ ...userRoute(), status });

  it("is described with the parent and the reason", () => {
    expect(refusal(route(refused))).toMatch(
      /^HTTPRoute shop\/shop is not accepted by its parent Gateway gateways\/public: NotAllowedByListeners: no listener;/,
    );
  });

  it("is not held when nobody reported on it, when accepted, or for a parent it no longer names", () => {
    expect(refusal(route(undefined))).toBeUndefined();
    expect(
      refusal(route({ parents: [{ parentRef, conditions: [{ type: "Accepted", status: "True" }] }] })),
    ).toBeUndefined();
    expect(
      refusal(
        route({
          parents: [{ parentRef: { name: "old" }, conditions: [{ type: "Accepted", status: "False" }] }],
        }),
      ),
    ).toBeUndefined();
  });

  it("cannot be read as a split, so the Canary is held before any traffic moves", async () => {
    const router = new GatewayApiRouter(new FakeKubeClient([route(refused)]));
    await expect(router.getRoutes(target(withRouteRef()))).rejects.toMatchObject({
      reason: "RouteNotAccepted",
    });
    await expect(router.getRoutes(target(withRouteRef()))).rejects.toThrow(
      /^Canary shop\/podinfo: HTTPRoute shop\/shop is not accepted by its parent Gateway gateways\/public: NotAllowedByListeners/,
    );
  });

  it("is rewritten, not held, when the Canary now asks for other parents (generated route)", async () => {
    const { client, router } = await reconciled(generated());
    const live = (await client.get<HTTPRoute>(routeKey("podinfo"))) as HTTPRoute;
    const refusedGateway = {
      ...refused.parents[0],
      parentRef: { ...GATEWAY, group: "gateway.networking.k8s.io" },
    };
    client.seed({ ...live, status: { parents: [refusedGateway] as never } });
    await expect(router.getRoutes(target(generated()))).rejects.toThrow(
      /not accepted by its parent Gateway gateways\/public \(sectionName https\)/,
    );
    const fixed = generated({
      service: { port: 9898, gatewayRefs: [{ name: "internal", namespace: "gateways" }] },
    });
    await router.reconcile(target(fixed));
    const rewritten = await client.get<HTTPRoute>(routeKey("podinfo"));
    expect(rewritten?.spec?.parentRefs?.map((p) => p.name)).toEqual(["internal"]);
  });
});

describe("appliedIn", () => {
  it("accepts the server's defaults and rejects changed or missing fields", () => {
    expect(appliedIn({ a: [{ name: "x" }] }, { a: [{ name: "x", weight: 1 }], b: 1 })).toBe(true);
    expect(appliedIn({ a: [{ name: "x" }] }, { a: [{ name: "x" }, { name: "y" }] })).toBe(false);
    expect(appliedIn({ a: 1 }, {})).toBe(false);
  });
});
