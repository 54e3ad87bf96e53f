import { describe, expect, it } from "vitest";
import type { CanarySpec, ProviderName } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { type RouterCapabilities, unsupportedRouting } from "./capabilities.ts";
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
  routeFilters: true,
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

describe("unsupportedRouting: HTTPRoute fields of spec.service", () => {
  const withService = (service: Partial<CanarySpec["service"]>): CanarySpec => ({
    targetRef: { name: "podinfo" },
    service: { port: 80, ...service },
    analysis: { interval: "30s", iterations: 3 },
  });
  const message = (service: Partial<CanarySpec["service"]>, caps: RouterCapabilities) => {
    const s = withService(service);
    return unsupportedRouting(s, resolveCanary(s), "nginx", caps)?.message;
  };

  const cases: [string, Partial<CanarySpec["service"]>, string][] = [
    ["backendTimeout", { backendTimeout: "5s" }, "HTTPRoute timeouts.backendRequest"],
    ["rewrite", { rewrite: { uri: "/" } }, "HTTPRoute URLRewrite filter"],
    ["corsPolicy", { corsPolicy: { allowOrigin: ["*"] } }, "HTTPRoute CORS filter"],
    ["mirror", { mirror: [{ backendRef: { name: "shadow", port: 80 } }] }, "HTTPRoute RequestMirror filter"],
  ];
  it.each(cases)("%s on a router without HTTPRoute filters is named with a fix", (field, service, what) => {
    expect(message(service, NGINX_CAPABILITIES)).toBe(
      `spec.service.${field} is set, but provider nginx cannot write an ${what}; remove it, or use provider gatewayapi`,
    );
    expect(message(service, FULL)).toBeUndefined();
  });
});
