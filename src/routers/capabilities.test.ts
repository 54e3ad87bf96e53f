import { describe, expect, it } from "vitest";
import {
  type CanarySpec,
  type ProviderName,
  ROUTER_SERVICE_FIELDS,
  type RouterServiceField,
} from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { APPMESH_CAPABILITIES } from "./appmesh.ts";
import { type RouterCapabilities, unsupportedRouting } from "./capabilities.ts";
import { GATEWAYAPI_CAPABILITIES } from "./gatewayapi.ts";
import { KUBERNETES_CAPABILITIES } from "./kubernetes.ts";
import { NGINX_CAPABILITIES } from "./nginx.ts";

const FULL: RouterCapabilities = {
  weights: true,
  match: {
    headers: true,
    cookies: true,
    queryParams: true,
    uri: true,
    method: true,
    sourceLabels: true,
    operators: ["exact", "prefix", "suffix", "regex"],
  },
  mirroring: true,
  sessionAffinity: true,
  serviceFields: Object.keys(ROUTER_SERVICE_FIELDS) as RouterServiceField[],
};

const spec = (analysis: Partial<CanarySpec["analysis"]>): CanarySpec => ({
  targetRef: { name: "podinfo" },
  service: { port: 80 },
  analysis: { interval: "30s", ...analysis },
});

const check = (
  analysis: Partial<CanarySpec["analysis"]>,
  caps: RouterCapabilities,
  provider = "kubernetes",
) => {
  const s = spec(analysis);
  // Resolved as for a router that keeps the strategy written: the kubernetes provider itself turns
  // stepWeight and match into blue/green (resolveCanary), so these cases stand for any router without
  // the capability.
  return unsupportedRouting(s, resolveCanary(s, "nginx"), provider as ProviderName, caps)?.message;
};

describe("unsupportedRouting", () => {
  const cases: [string, Partial<CanarySpec["analysis"]>, RouterCapabilities, string | undefined][] = [
    [
      "stepWeight without weights",
      { stepWeight: 10 },
      KUBERNETES_CAPABILITIES,
      "spec.analysis.stepWeight is set",
    ],
    [
      "stepWeights: names the field written",
      { stepWeights: [10, 50] },
      KUBERNETES_CAPABILITIES,
      "spec.analysis.stepWeights is set",
    ],
    ["blue/green needs no weights", { iterations: 3 }, KUBERNETES_CAPABILITIES, undefined],
    [
      "A/B without matches",
      { iterations: 3, match: [{ headers: { "x-a": { exact: "1" } } }] },
      KUBERNETES_CAPABILITIES,
      "spec.analysis.match is set",
    ],
    [
      "mirror without mirroring",
      { iterations: 3, mirror: true },
      NGINX_CAPABILITIES,
      "spec.analysis.mirror is set",
    ],
    [
      "session affinity",
      { stepWeight: 10, sessionAffinity: { cookieName: "c" } },
      NGINX_CAPABILITIES,
      "spec.analysis.sessionAffinity is set",
    ],
    [
      "query params on nginx",
      { iterations: 3, match: [{ queryParams: { beta: { exact: "1" } } }] },
      NGINX_CAPABILITIES,
      "spec.analysis.match[0].queryParams is set",
    ],
    [
      "prefix operator on nginx",
      { iterations: 3, match: [{ headers: { "x-a": { prefix: "v" } } }] },
      NGINX_CAPABILITIES,
      "spec.analysis.match[0].headers.x-a.prefix is set",
    ],
    [
      "second match's field is named",
      { iterations: 3, match: [{ headers: { "x-a": { exact: "1" } } }, { uri: { exact: "/a" } }] },
      NGINX_CAPABILITIES,
      "spec.analysis.match[1].uri is set",
    ],
    [
      "cookie on nginx",
      { iterations: 3, match: [{ headers: { cookie: { exact: "canary" } } }] },
      NGINX_CAPABILITIES,
      undefined,
    ],
    [
      "everything on a full router",
      { stepWeight: 10, mirror: true, sessionAffinity: { cookieName: "c" } },
      FULL,
      undefined,
    ],
    [
      "full A/B on a full router",
      {
        iterations: 2,
        match: [{ uri: { prefix: "/" }, method: { exact: "GET" }, queryParams: { q: { regex: "." } } }],
      },
      FULL,
      undefined,
    ],
  ];
  it.each(cases)("%s", (_name, analysis, caps, expected) => {
    const message = check(analysis, caps);
    if (expected === undefined) expect(message).toBeUndefined();
    else expect(message).toContain(expected);
  });

  it("names the provider and a fix", () => {
    expect(check({ stepWeight: 10 }, KUBERNETES_CAPABILITIES)).toBe(
      "spec.analysis.stepWeight is set, but provider kubernetes cannot split traffic by weight; " +
        "use analysis.iterations (blue/green), or a provider that shifts weights (nginx, gatewayapi)",
    );
  });
});

describe("unsupportedRouting: spec.service fields only some routers act on", () => {
  const withService = (service: Partial<CanarySpec["service"]>): CanarySpec => ({
    targetRef: { name: "podinfo" },
    service: { port: 80, ...service },
    analysis: { interval: "30s", iterations: 3 },
  });
  const message = (service: Partial<CanarySpec["service"]>, provider: ProviderName) => {
    const s = withService(service);
    return unsupportedRouting(s, resolveCanary(s, provider), provider, CAPABILITIES[provider])?.message;
  };
  const CAPABILITIES: Record<ProviderName, RouterCapabilities> = {
    nginx: NGINX_CAPABILITIES,
    kubernetes: KUBERNETES_CAPABILITIES,
    gatewayapi: GATEWAYAPI_CAPABILITIES,
    appmesh: APPMESH_CAPABILITIES,
  };
  const VALUES: Record<RouterServiceField, Partial<CanarySpec["service"]>> = {
    timeout: { timeout: "30s" },
    backendTimeout: { backendTimeout: "5s" },
    rewrite: { rewrite: { uri: "/" } },
    corsPolicy: { corsPolicy: { allowOrigin: ["*"] } },
    mirror: { mirror: [{ backendRef: { name: "shadow", port: 80 } }] },
    headers: { headers: { request: { set: { "x-a": "1" } } } },
    match: { match: [{ uri: { prefix: "/" } }] },
    hosts: { hosts: ["app.example.com"] },
    gatewayRefs: { gatewayRefs: [{ name: "public", namespace: "gateways" }] },
    retries: { retries: { attempts: 3 } },
    meshName: { meshName: "global" },
    backends: { backends: ["backend.test"] },
  };
  // What each router reads from spec.service, as its code does (and as Flagger's router for that
  // provider): every other field of ROUTER_SERVICE_FIELDS stalls the Canary on it.
  const ACTS: [RouterServiceField, ProviderName[]][] = [
    ["timeout", ["gatewayapi", "appmesh"]],
    ["backendTimeout", ["gatewayapi"]],
    ["rewrite", ["gatewayapi"]],
    ["corsPolicy", ["gatewayapi"]],
    ["mirror", ["gatewayapi"]],
    ["headers", ["gatewayapi"]],
    ["match", ["gatewayapi", "appmesh"]],
    ["hosts", ["gatewayapi", "appmesh"]],
    ["gatewayRefs", ["gatewayapi"]],
    ["retries", ["appmesh"]],
    ["meshName", ["appmesh"]],
    ["backends", ["appmesh"]],
  ];

  it("the table covers every such field", () => {
    expect(ACTS.map(([f]) => f).sort()).toEqual(Object.keys(ROUTER_SERVICE_FIELDS).sort());
  });

  it.each(ACTS)("%s: used by %j, a stall naming it and the fix on the others", (field, acting) => {
    for (const provider of Object.keys(CAPABILITIES) as ProviderName[]) {
      const got = message(VALUES[field], provider);
      if (acting.includes(provider)) expect(got, provider).toBeUndefined();
      else {
        expect(got, provider).toMatch(
          new RegExp(`^spec\\.service\\.${field} is set, but provider ${provider} cannot use it: it sets `),
        );
        expect(got, provider).toContain(`; remove it or use provider ${acting.join(" or ")}`);
      }
    }
  });

  it("says what the field is, which routers write it, and that Flagger ignores it there too", () => {
    expect(message({ timeout: "30s" }, "nginx")).toBe(
      "spec.service.timeout is set, but provider nginx cannot use it: it sets the request timeout of the generated route " +
        "(HTTPRoute timeouts.request, App Mesh route timeout), which only provider gatewayapi or appmesh writes " +
        "(Flagger ignores it on kubernetes and nginx too); remove it or use provider gatewayapi or appmesh",
    );
    expect(message({ retries: { attempts: 3 } }, "gatewayapi")).toBe(
      "spec.service.retries is set, but provider gatewayapi cannot use it: it sets the retry policy of the App Mesh route, " +
        "which only provider appmesh writes (Flagger ignores it on kubernetes, nginx and gatewayapi too); remove it or use " +
        "provider appmesh; with gatewayapi, configure retries with your implementation (e.g. Envoy Gateway's " +
        "BackendTrafficPolicy): HTTPRoute retries are not in Gateway API's standard channel",
    );
  });
});
