import { describe, expect, it } from "vitest";
import { PROVIDERS } from "../api/canary.ts";
import { BUILTIN_QUERIES, builtinQuery, ROUTER_SERIES, SERIES, SERIES_QUERIES } from "./builtin.ts";
import { renderQuery, type TemplateModel } from "./template.ts";

const model: TemplateModel = {
  namespace: "shop",
  name: "web",
  target: "web",
  service: "web",
  ingress: "web",
  route: "web",
  interval: "1m",
  variables: {},
};

describe("built-in queries", () => {
  it("has both metrics for every router, and they render", () => {
    for (const router of PROVIDERS) {
      for (const metric of ["request-success-rate", "request-duration"]) {
        const query = builtinQuery(router, metric);
        expect(query, `${router} ${metric}`).toBeDefined();
        expect(renderQuery(query as string, model)).not.toContain("{{");
      }
    }
  });

  it('reads the primary\'s requests for compare: nginx by canary="", pods by the -primary target', () => {
    const primary = { ...model, target: "web-primary" };
    const rate = renderQuery(builtinQuery("nginx", "request-success-rate", "primary") as string, primary);
    expect(rate).toContain('{namespace="shop", ingress="web", canary="", status!~"5.*"}[1m]');
    expect(rate).not.toContain('canary!=""');
    const p99 = renderQuery(builtinQuery("kubernetes", "request-duration", "primary") as string, primary);
    expect(p99).toContain('kubernetes_pod_name=~"web-primary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"');
    const pattern = /^web-primary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/;
    expect(pattern.test("web-primary-7d9f8b6c4-x2k9p")).toBe(true);
    expect(pattern.test("web-7d9f8b6c4-x2k9p")).toBe(false);
    for (const router of PROVIDERS) {
      expect(builtinQuery(router, "request-duration", "primary"), router).toBeDefined();
    }
  });

  it("DaemonSet targets: the canary's pods (<daemonset>-<suffix>), never the primary's", () => {
    for (const router of ["kubernetes", "gatewayapi", "appmesh"] as const) {
      for (const metric of ["request-success-rate", "request-duration"]) {
        const canary = renderQuery(
          builtinQuery(router, metric, "canary", undefined, "DaemonSet") as string,
          model,
        );
        const pattern = new RegExp(`^${/kubernetes_pod_name=~"([^"]+)"/.exec(canary)?.[1]}$`);
        expect(pattern.test("web-x7k2p"), `${router} ${metric}`).toBe(true);
        expect(pattern.test("web-primary-x7k2p"), `${router} ${metric}`).toBe(false);
        const primaryModel = { ...model, target: "web-primary" };
        const primary = renderQuery(
          builtinQuery(router, metric, "primary", undefined, "DaemonSet") as string,
          primaryModel,
        );
        const primaryPattern = new RegExp(`^${/kubernetes_pod_name=~"([^"]+)"/.exec(primary)?.[1]}$`);
        expect(primaryPattern.test("web-primary-x7k2p")).toBe(true);
        expect(primaryPattern.test("web-x7k2p")).toBe(false);
      }
    }
    // Deployments keep Flagger's pattern; nginx selects by Ingress, not by pod.
    expect(builtinQuery("kubernetes", "request-duration", "canary", undefined, "Deployment")).toBe(
      builtinQuery("kubernetes", "request-duration"),
    );
    expect(builtinQuery("nginx", "request-duration", "canary", undefined, "DaemonSet")).toBe(
      builtinQuery("nginx", "request-duration"),
    );
  });

  it("knows no other metric names", () => {
    expect(builtinQuery("nginx", "error-rate")).toBeUndefined();
  });

  it("nginx: the canary ingress's non-5xx share and p99 in milliseconds", () => {
    const rate = renderQuery(BUILTIN_QUERIES.nginx["request-success-rate"], model);
    expect(rate).toContain(
      'nginx_ingress_controller_requests{namespace="shop", ingress="web", canary!="", status!~"5.*"}[1m]',
    );
    expect(rate).toMatch(/\* 100$/);
    const duration = renderQuery(BUILTIN_QUERIES.nginx["request-duration"], model);
    expect(duration).toBe(
      'histogram_quantile(0.99, sum(rate(nginx_ingress_controller_request_duration_seconds_bucket{namespace="shop", ingress="web", canary!=""}[1m])) by (le)) * 1000',
    );
  });

  it("kubernetes: the canary pods' HTTP histogram, seconds to milliseconds", () => {
    const duration = renderQuery(BUILTIN_QUERIES.kubernetes["request-duration"], model);
    expect(duration).toContain('kubernetes_pod_name=~"web-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"');
    expect(duration).toMatch(/\* 1000$/);
  });

  it("gatewayapi, unless the implementation is known: the application's histogram, as Flagger's HttpObserver", () => {
    expect(ROUTER_SERIES.gatewayapi).toBe("app");
    expect(BUILTIN_QUERIES.gatewayapi).toBe(BUILTIN_QUERIES.kubernetes);
    const rate = renderQuery(BUILTIN_QUERIES.gatewayapi["request-success-rate"], model);
    expect(rate).toContain(
      'http_request_duration_seconds_count{kubernetes_namespace="shop", kubernetes_pod_name=~"web-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", status!~"5.*"}',
    );
    expect(rate).not.toContain("envoy");
    // DaemonSet targets: the same pod pattern as for the kubernetes router.
    expect(builtinQuery("gatewayapi", "request-duration", "canary", undefined, "DaemonSet")).toBe(
      builtinQuery("kubernetes", "request-duration", "canary", undefined, "DaemonSet"),
    );
  });

  it("appmesh: Envoy upstream metrics of the sidecars, already in milliseconds", () => {
    expect(ROUTER_SERIES.appmesh).toBe("envoy-sidecar");
    expect(BUILTIN_QUERIES.appmesh["request-success-rate"]).toContain('envoy_response_code!~"5.*"');
    expect(BUILTIN_QUERIES.appmesh["request-duration"]).toMatch(
      /envoy_cluster_upstream_rq_time_bucket.*by \(le\)\)$/,
    );
  });

  it("the canary pod pattern excludes the primary's pods", () => {
    const pattern = /^web-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)$/;
    expect(pattern.test("web-7d9f8b6c4-x2k9p")).toBe(true);
    expect(pattern.test("web-primary-7d9f8b6c4-x2k9p")).toBe(false);
  });

  it("every implementation's series has both metrics, on both sides, and they render", () => {
    for (const series of SERIES) {
      for (const side of ["canary", "primary"] as const) {
        for (const metric of ["request-success-rate", "request-duration"]) {
          const query = builtinQuery("gatewayapi", metric, side, series);
          expect(query, `${series} ${side} ${metric}`).toBeDefined();
          expect(renderQuery(query as string, model)).not.toContain("{{");
        }
      }
    }
    // Without a series, each router reads its own default, as before.
    for (const router of PROVIDERS) {
      expect(builtinQuery(router, "request-duration")).toBe(
        SERIES_QUERIES[ROUTER_SERIES[router]]["request-duration"],
      );
    }
  });
});

/** The `service` matchers of a rendered query, as anchored regexes (PromQL matches the whole value). */
function serviceMatchers(query: string): { equal: RegExp[]; notEqual: RegExp[] } {
  const all = [...query.matchAll(/service(=~|!~)"([^"]+)"/g)];
  const anchored = (m: RegExpMatchArray) => new RegExp(`^(?:${m[2]})$`);
  return {
    equal: all.filter((m) => m[1] === "=~").map(anchored),
    notEqual: all.filter((m) => m[1] === "!~").map(anchored),
  };
}

function selects(query: string, service: string): boolean {
  const { equal, notEqual } = serviceMatchers(query);
  return equal.every((r) => r.test(service)) && notEqual.every((r) => !r.test(service));
}

describe("Traefik's series", () => {
  const canaryQuery = (series: "traefik-gateway" | "traefik-ingress-nginx", side: "canary" | "primary") =>
    renderQuery(builtinQuery("gatewayapi", "request-success-rate", side, series) as string, model);

  // Service names as Traefik's Gateway API provider builds them: v3.6.12 (the version the real data
  // plane runs) to v3.7.5 `<ns>-<Service>-http-<port>`; v3.7.6 on `<route key>-svc-<ns>-<Service>-<index>`.
  it.each([
    ["shop-web-canary-http-80@kubernetesgateway", true, false],
    ["shop-web-primary-http-80@kubernetesgateway", false, true],
    [
      "httproute-shop-web-gw-gateways-public-ep-web-0-af329269dd38031b03e3-svc-shop-web-canary-1@kubernetesgateway",
      true,
      false,
    ],
    [
      "httproute-shop-web-gw-gateways-public-ep-web-0-af329269dd38031b03e3-svc-shop-web-primary-0@kubernetesgateway",
      false,
      true,
    ],
    // The apex Service, the weighted service, another namespace, an app named web-canary, another provider.
    ["shop-web-http-80@kubernetesgateway", false, false],
    [
      "httproute-shop-web-gw-gateways-public-ep-web-0-af329269dd38031b03e3-wrr@kubernetesgateway",
      false,
      false,
    ],
    ["other-web-canary-http-80@kubernetesgateway", false, false],
    ["shop-web-canary-canary-http-80@kubernetesgateway", false, false],
    ["shop-web-canary-80@kubernetescrd", false, false],
  ])("Gateway API provider: %s is the canary %s, the primary %s", (service, canary, primary) => {
    expect(selects(canaryQuery("traefik-gateway", "canary"), service)).toBe(canary);
    expect(selects(canaryQuery("traefik-gateway", "primary"), service)).toBe(primary);
  });

  // ingress-nginx provider (v3.7): `<ns>-<ingress>-<Service>-<port>`, the canary backend with `-canary`.
  it.each([
    ["shop-web-web-80-canary@kubernetesingressnginx", true, false],
    ["shop-web-web-http-canary@kubernetesingressnginx", true, false],
    ["shop-web-web-80@kubernetesingressnginx", false, true],
    ["shop-web-web-80-wrr@kubernetesingressnginx", false, true],
    ["shop-other-web-80@kubernetesingressnginx", false, false],
    ["other-web-web-80-canary@kubernetesingressnginx", false, false],
  ])("ingress-nginx provider: %s is the canary %s, the primary %s", (service, canary, primary) => {
    expect(selects(canaryQuery("traefik-ingress-nginx", "canary"), service)).toBe(canary);
    expect(selects(canaryQuery("traefik-ingress-nginx", "primary"), service)).toBe(primary);
  });

  it("the non-5xx share of traefik_service_requests_total and the p99 of its histogram in milliseconds", () => {
    const rate = canaryQuery("traefik-gateway", "canary");
    expect(rate).toMatch(
      /^\(sum\(rate\(traefik_service_requests_total\{service=~"[^"]+", code!~"5\.\*"\}\[1m\]\)\) or on\(\) vector\(0\)\)\n\/\n/,
    );
    expect(rate).toMatch(/\* 100$/);
    const p99 = renderQuery(
      builtinQuery("gatewayapi", "request-duration", "canary", "traefik-gateway") as string,
      model,
    );
    expect(p99).toMatch(
      /^histogram_quantile\(0\.99, sum\(rate\(traefik_service_request_duration_seconds_bucket\{service=~"[^"]+"\}\[1m\]\)\) by \(le\)\) \* 1000$/,
    );
  });
});

describe("Istio's series", () => {
  it("by destination workload: the canary Deployment, or the primary's when target is <target>-primary", () => {
    const rate = renderQuery(
      builtinQuery("gatewayapi", "request-success-rate", "canary", "istio") as string,
      model,
    );
    expect(rate).toContain(
      'istio_requests_total{reporter="destination", destination_workload_namespace="shop", destination_workload=~"web", response_code!~"5.*"}[1m]',
    );
    const primary = renderQuery(
      builtinQuery("gatewayapi", "request-duration", "primary", "istio") as string,
      {
        ...model,
        target: "web-primary",
      },
    );
    expect(primary).toContain('destination_workload=~"web-primary"');
    expect(primary).toMatch(/by \(le\)\)$/);
  });
});
