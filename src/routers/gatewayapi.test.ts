import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, NS } from "../../test/helpers/fixtures.ts";
import { gitHTTPRoute } from "../../test/helpers/httproutes.ts";
import { routesOverRelease } from "../../test/helpers/routes.ts";
import type { Canary, CanarySpec, HttpMatch } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { KubeApiError } from "../kube/errors.ts";
import type { KubeObject } from "../kube/types.ts";
import { RouterConfigError } from "./errors.ts";
import { parseSplit } from "./gatewayapi/rules.ts";
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

  it('writes a Service parent in the core group as Flagger does: core stays core (Linkerd), "" stays ""', () => {
    const canary = generated({
      service: {
        port: 9898,
        gatewayRefs: [
          { group: "core", kind: "Service", name: "podinfo", port: 9898 },
          { group: "", kind: "Service", name: "other" },
        ],
      },
    });
    expect(buildGeneratedRoute(canary, weight(0)).spec?.parentRefs).toEqual([
      { group: "core", kind: "Service", name: "podinfo", port: 9898 },
      { group: "", kind: "Service", name: "other" },
    ]);
    expect(() => new GatewayApiRouter(new FakeKubeClient()).check(target(canary))).not.toThrow();
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

  it("once the release is over, tells holders of its canary cookie to drop it, with the attributes it was set with", () => {
    const affinity = { cookieName: "flagger-cookie", maxAge: 600, domain: "example.com", path: "/" };
    const canary = generated({ analysis: { interval: "1m", stepWeight: 20, sessionAffinity: affinity } });
    for (const phase of ["Finalising", "Succeeded", "Failed"] as const) {
      canary.status = { phase, lastAppliedSpec: "abc123", lastPromotedSpec: "abc123" };
      const rules = buildGeneratedRoute(canary, weight(0)).spec?.rules ?? [];
      expect(rules.map(backends), phase).toEqual([
        [["podinfo-primary", undefined]],
        [
          ["podinfo-primary", 100],
          ["podinfo-canary", 0],
        ],
      ]);
      expect(rules[0]?.matches?.[0]?.headers).toEqual([
        { type: "RegularExpression", name: "Cookie", value: ".*flagger-cookie.*abc123.*" },
      ]);
      expect(rules[0]?.backendRefs?.[0]?.filters).toEqual([
        {
          type: "ResponseHeaderModifier",
          responseHeaderModifier: {
            add: [
              { name: "Set-Cookie", value: "flagger-cookie=abc123; Max-Age=-1; Domain=example.com; Path=/" },
            ],
          },
        },
      ]);
      // Read back as the primary-only split it is, not as an A/B match.
      expect(parseSplit(canary, rules)).toEqual(weight(0));
    }
    // Before any release (no cookie was handed out) and while a new one starts: no such rule.
    for (const phase of ["Initialized", "Progressing"] as const) {
      canary.status = { phase, lastAppliedSpec: "abc123" };
      expect(buildGeneratedRoute(canary, weight(0)).spec?.rules, phase).toHaveLength(1);
    }
  });

  it("matches the sticky cookie wherever a browser puts it in the Cookie header, and only its value", () => {
    const canary = generated({
      analysis: { interval: "1m", stepWeight: 20, sessionAffinity: { cookieName: "canary", maxAge: 600 } },
    });
    canary.status = { lastAppliedSpec: "abc123" };
    const [sticky] = buildGeneratedRoute(canary, weight(20)).spec?.rules ?? [];
    // Gateway API's RegularExpression is RE2 in Traefik and Envoy; this pattern reads the same in JS.
    const pattern = new RegExp(sticky?.matches?.[0]?.headers?.[0]?.value ?? "^$");
    // Flagger's documented A/B regex ^(.*?;)?(canary=always)(;.*)?$ misses "a=b; canary=always" (the
    // blank browsers put after ";"); the sticky match is unanchored, so position and blanks do not matter.
    for (const header of [
      "canary=abc123",
      "a=b; canary=abc123",
      "a=b;canary=abc123; c=d",
      "canary=abc123; c=d",
    ]) {
      expect(pattern.test(header), header).toBe(true);
    }
    for (const header of ["canary=abc999", "a=b; canary=always", ""]) {
      expect(pattern.test(header), header).toBe(false);
    }
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

describe("spec.service filters and timeouts (Flagger's makeFilters)", () => {
  const service = (extra: Partial<CanarySpec["service"]>): Partial<CanarySpec> => ({
    service: { port: 9898, gatewayRefs: [GATEWAY], ...extra },
  });

  it("writes timeouts, URLRewrite, one RequestMirror per entry and CORS, after the header filters", () => {
    const canary = generated(
      service({
        timeout: "30s",
        backendTimeout: "10s",
        headers: { response: { set: { "x-v": "1" } } },
        rewrite: { uri: "/v2", authority: "api.internal" },
        mirror: [
          { backendRef: { name: "shadow", port: 8080 } },
          { backendRef: { name: "audit", namespace: "ops", port: 80 }, percent: 10 },
        ],
        corsPolicy: {
          allowOrigin: ["https://example.com"],
          allowMethods: ["GET", "POST"],
          allowHeaders: ["x-token"],
          exposeHeaders: ["x-trace"],
          maxAge: "24h",
          allowCredentials: true,
        },
      }),
    );
    const rule = buildGeneratedRoute(canary, weight(0)).spec?.rules?.[0];
    expect(rule?.timeouts).toEqual({ request: "30s", backendRequest: "10s" });
    expect(rule?.filters).toEqual([
      { type: "ResponseHeaderModifier", responseHeaderModifier: { set: [{ name: "x-v", value: "1" }] } },
      {
        type: "URLRewrite",
        urlRewrite: { hostname: "api.internal", path: { type: "ReplaceFullPath", replaceFullPath: "/v2" } },
      },
      {
        type: "RequestMirror",
        requestMirror: { backendRef: { group: "", kind: "Service", name: "shadow", port: 8080 } },
      },
      {
        type: "RequestMirror",
        requestMirror: {
          backendRef: { group: "", kind: "Service", name: "audit", namespace: "ops", port: 80 },
          percent: 10,
        },
      },
      {
        type: "CORS",
        cors: {
          allowOrigins: ["https://example.com"],
          allowMethods: ["GET", "POST"],
          allowHeaders: ["x-token"],
          exposeHeaders: ["x-trace"],
          allowCredentials: true,
          maxAge: 86400,
        },
      },
    ]);
  });

  it("keeps the service filters on every rule of a split and beside the blue/green mirror", () => {
    const canary = generated({
      ...service({ rewrite: { uri: "/" }, backendTimeout: "5s" }),
      analysis: { iterations: 3, mirror: true, match: [{ headers: { "x-beta": { exact: "1" } } }] },
    });
    const rewrite = {
      type: "URLRewrite",
      urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: "/" } },
    };
    const ab = buildGeneratedRoute(canary, AB).spec?.rules ?? [];
    expect(ab).toHaveLength(2);
    for (const rule of ab) {
      expect(rule.filters).toEqual([rewrite]);
      expect(rule.timeouts).toEqual({ backendRequest: "5s" });
    }
    const mirrored = buildGeneratedRoute(canary, weight(0, { mirrored: true })).spec?.rules?.[0];
    expect(mirrored?.filters?.map((f) => f.type)).toEqual(["URLRewrite", "RequestMirror"]);
  });

  it("rewrites a prefix with ReplacePrefixMatch, and the host alone when uri is empty", () => {
    const prefix = generated(
      service({ match: [{ uri: { prefix: "/api" } }], rewrite: { uri: "/", type: "ReplacePrefixMatch" } }),
    );
    expect(buildGeneratedRoute(prefix, weight(0)).spec?.rules?.[0]?.filters).toEqual([
      { type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/" } } },
    ]);
    const host = generated(service({ rewrite: { authority: "backend.example" } }));
    expect(buildGeneratedRoute(host, weight(0)).spec?.rules?.[0]?.filters).toEqual([
      { type: "URLRewrite", urlRewrite: { hostname: "backend.example" } },
    ]);
  });

  it("sets the session cookie's attributes in Flagger's order, on the canary and the primary cookie", () => {
    const canary = generated({
      analysis: {
        interval: "1m",
        stepWeight: 20,
        sessionAffinity: {
          cookieName: "flagger-cookie",
          primaryCookieName: "primary-cookie",
          domain: "example.com",
          path: "/shop",
          sameSite: "Strict",
          secure: true,
          httpOnly: true,
          partitioned: true,
        },
      },
    });
    canary.status = { lastAppliedSpec: "abc123", lastPromotedSpec: "def456" };
    const weighted = buildGeneratedRoute(canary, weight(20)).spec?.rules?.[2];
    const cookie = (i: number) => weighted?.backendRefs?.[i]?.filters?.[0]?.responseHeaderModifier?.add;
    const attributes = "Domain=example.com; HttpOnly; Partitioned; Path=/shop; SameSite=Strict; Secure";
    expect(cookie(1)).toEqual([
      { name: "Set-Cookie", value: `flagger-cookie=abc123; Max-Age=86400; ${attributes}` },
    ]);
    expect(cookie(0)).toEqual([
      { name: "Set-Cookie", value: `primary-cookie=def456; Max-Age=60; ${attributes}` },
    ]);
  });

  it("rewrites the route when a filter setting or timeout is removed from the Canary", async () => {
    const cors = { allowOrigin: ["*"], allowHeaders: ["x-a"] };
    const before = generated(service({ corsPolicy: cors, backendTimeout: "5s" }));
    const { client, router } = await reconciled(before);
    const after = generated(service({ corsPolicy: { allowOrigin: ["*"] } }));
    await router.reconcile(target(after));
    const rule = (await client.get<HTTPRoute>(routeKey("podinfo")))?.spec?.rules?.[0];
    expect(rule?.filters).toEqual([{ type: "CORS", cors: { allowOrigins: ["*"] } }]);
    expect(rule?.timeouts).toBeUndefined();
  });

  it("reads a CORS filter back with the server's maxAge default as unchanged", async () => {
    const canary = generated(service({ corsPolicy: { allowOrigin: ["*"] } }));
    const { client } = await reconciled(canary);
    const live = (await client.get<HTTPRoute>(routeKey("podinfo"))) as HTTPRoute;
    const withDefault = structuredClone(live);
    const filter = withDefault.spec?.rules?.[0]?.filters?.[0] as unknown as { cors: Record<string, unknown> };
    filter.cors.maxAge = 5;
    const seeded = new FakeKubeClient([withDefault]);
    await new GatewayApiRouter(seeded).reconcile(target(canary));
    expect(seeded.writes).toHaveLength(0);
    expect(client.writes.length).toBeGreaterThan(0);
  });

  it("stalls the Canary with the API server's words when the HTTPRoute CRD refuses the route (a filter it lacks)", async () => {
    class RefusingClient extends FakeKubeClient {
      readonly code: number;
      constructor(code: number) {
        super();
        this.code = code;
      }
      override async apply<T extends KubeObject>(object: T): Promise<T> {
        if (object.kind !== "HTTPRoute") return super.apply(object);
        throw new KubeApiError(
          this.code,
          'HTTPRoute.gateway.networking.k8s.io "podinfo" is invalid: spec.rules[0].filters[0].type: Unsupported value: "CORS"',
          "Invalid",
        );
      }
    }
    const canary = generated(service({ corsPolicy: { allowOrigin: ["*"] } }));
    const refusedRoute = new GatewayApiRouter(new RefusingClient(422)).reconcile(target(canary));
    await expect(refusedRoute).rejects.toBeInstanceOf(RouterConfigError);
    await expect(new GatewayApiRouter(new RefusingClient(422)).reconcile(target(canary))).rejects.toThrow(
      'Canary shop/podinfo: the API server refused HTTPRoute shop/podinfo: HTTPRoute.gateway.networking.k8s.io "podinfo" is invalid: ' +
        'spec.rules[0].filters[0].type: Unsupported value: "CORS"; change the spec.service field it names, or install Gateway API CRDs that have it',
    );
    // Anything else is the API server's trouble, not the Canary's: retried as it is.
    const unavailable = new GatewayApiRouter(new RefusingClient(503)).reconcile(target(canary));
    await expect(unavailable).rejects.not.toBeInstanceOf(RouterConfigError);
  });

  const refused: [string, Partial<CanarySpec>, RegExp][] = [
    [
      "an origin CORS cannot take",
      service({ corsPolicy: { allowOrigin: ["example.com"] } }),
      /spec\.service\.corsPolicy\.allowOrigin\[0\] is "example\.com", not an origin/,
    ],
    [
      "an unknown method",
      service({ corsPolicy: { allowMethods: ["get"] } }),
      /corsPolicy\.allowMethods\[0\] is "get", not one of GET/,
    ],
    [
      "a wildcard beside others",
      service({ corsPolicy: { allowHeaders: ["*", "x-a"] } }),
      /corsPolicy\.allowHeaders lists "\*" beside other values/,
    ],
    [
      "a repeated origin",
      service({ corsPolicy: { allowOrigin: ["*", "*"] } }),
      /corsPolicy\.allowOrigin\[1\] repeats "\*"/,
    ],
    [
      "a maxAge under a second",
      service({ corsPolicy: { maxAge: "500ms" } }),
      /corsPolicy\.maxAge is 500ms; .* use 1s or more/,
    ],
    [
      "a mirror to kanaria's own canary Service",
      service({ mirror: [{ backendRef: { name: "podinfo-canary", port: 9898 } }] }),
      /spec\.service\.mirror\[0\]\.backendRef names podinfo-canary, .*spec\.analysis\.mirror/,
    ],
    [
      "a Service mirror without a port",
      service({ mirror: [{ backendRef: { name: "shadow" } }] }),
      /spec\.service\.mirror\[0\]\.backendRef\.port is missing/,
    ],
    [
      "a backendTimeout longer than the timeout",
      service({ timeout: "5s", backendTimeout: "10s" }),
      /spec\.service\.backendTimeout \(10s\) is longer than spec\.service\.timeout \(5s\)/,
    ],
    [
      "a timeout HTTPRoute cannot write",
      service({ backendTimeout: "1.5s" }),
      /spec\.service\.backendTimeout is "1\.5s"; an HTTPRoute timeout is whole/,
    ],
    [
      "ReplacePrefixMatch without a prefix match",
      service({ rewrite: { uri: "/", type: "ReplacePrefixMatch" }, match: [{ uri: { exact: "/a" } }] }),
      /spec\.service\.rewrite\.type is ReplacePrefixMatch, which needs exactly one path prefix match/,
    ],
  ];
  it.each(refused)("check refuses %s, naming the field and the fix", (_name, spec, message) => {
    const router = new GatewayApiRouter(new FakeKubeClient());
    expect(() => router.check(target(generated(spec)))).toThrow(message);
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
    [
      "canary with cookie attributes",
      {
        analysis: {
          stepWeight: 25,
          sessionAffinity: {
            cookieName: "c",
            primaryCookieName: "p",
            path: "/",
            sameSite: "Lax",
            secure: true,
          },
        },
      },
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
  // Beside routeRef the generated route is never built: each of its fields would be read by nothing.
  // (The CRD refuses these when spec.provider says gatewayapi; this is the --provider gatewayapi case.)
  it.each<[string, Partial<CanarySpec["service"]>]>([
    ["gatewayRefs", { gatewayRefs: [GATEWAY] }],
    ["hosts", { hosts: ["app.example.com"] }],
    ["match", { match: [{ uri: { prefix: "/api" } }] }],
    ["timeout", { timeout: "30s" }],
    ["backendTimeout", { backendTimeout: "5s" }],
    ["headers", { headers: { request: { set: { "x-a": "1" } } } }],
    ["rewrite", { rewrite: { uri: "/" } }],
    ["corsPolicy", { corsPolicy: { allowOrigin: ["*"] } }],
    ["mirror", { mirror: [{ backendRef: { name: "shadow", port: 80 } }] }],
  ])("refuses service.%s beside routeRef, naming it and the fix", (field, extra) => {
    const canary = withRouteRef({ service: { port: 9898, ...extra } });
    expect(() => router.check(target(canary))).toThrow(RouterConfigError);
    expect(() => router.check(target(canary))).toThrow(
      `spec.service.${field} is set, but spec.routeRef's HTTPRoute shop is used as it is, so nothing would read it; ` +
        "write it into that HTTPRoute, or remove routeRef",
    );
  });
  it("takes routeRef with the Service fields every router acts on", () => {
    const canary = withRouteRef({ service: { port: 9898, portName: "http", apex: { labels: { a: "b" } } } });
    expect(() => router.check(target(canary))).not.toThrow();
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
        target(
          generated({
            service: {
              port: 9898,
              gatewayRefs: [{ kind: "Service", group: "networking.k8s.io", name: "p" }],
            },
          }),
        ),
      ),
    ).toThrow(
      /spec\.service\.gatewayRefs\[0\] is a Service \(GAMMA\) in group "networking\.k8s\.io"; .*set group: "" \(or core\)/,
    );
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

  it('matches a Service parent written in group core with a status that reports it in group ""', () => {
    const mesh = { group: "core", kind: "Service", name: "podinfo", port: 9898 };
    const gamma: HTTPRoute = {
      ...userRoute(),
      spec: { ...userRoute().spec, parentRefs: [mesh] },
      status: {
        parents: [
          {
            parentRef: { ...mesh, group: "" },
            conditions: [{ type: "Accepted", status: "False", reason: "NoMatchingParent" }],
          },
        ],
      },
    };
    expect(refusal(gamma)).toMatch(
      /is not accepted by its parent Service shop\/podinfo \(port 9898\): NoMatchingParent/,
    );
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
