import { describe, expect, it } from "vitest";
import { PROVIDERS } from "../api/canary.ts";
import { BUILTIN_QUERIES, builtinQuery } from "./builtin.ts";
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
        const canary = renderQuery(builtinQuery(router, metric, "canary", "DaemonSet") as string, model);
        const pattern = new RegExp(`^${/kubernetes_pod_name=~"([^"]+)"/.exec(canary)?.[1]}$`);
        expect(pattern.test("web-x7k2p"), `${router} ${metric}`).toBe(true);
        expect(pattern.test("web-primary-x7k2p"), `${router} ${metric}`).toBe(false);
        const primaryModel = { ...model, target: "web-primary" };
        const primary = renderQuery(
          builtinQuery(router, metric, "primary", "DaemonSet") as string,
          primaryModel,
        );
        const primaryPattern = new RegExp(`^${/kubernetes_pod_name=~"([^"]+)"/.exec(primary)?.[1]}$`);
        expect(primaryPattern.test("web-primary-x7k2p")).toBe(true);
        expect(primaryPattern.test("web-x7k2p")).toBe(false);
      }
    }
    // Deployments keep Flagger's pattern; nginx selects by Ingress, not by pod.
    expect(builtinQuery("kubernetes", "request-duration", "canary", "Deployment")).toBe(
      builtinQuery("kubernetes", "request-duration"),
    );
    expect(builtinQuery("nginx", "request-duration", "canary", "DaemonSet")).toBe(
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

  it("gatewayapi and appmesh: Envoy upstream metrics, already in milliseconds", () => {
    expect(BUILTIN_QUERIES.gatewayapi).toBe(BUILTIN_QUERIES.appmesh);
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
});
