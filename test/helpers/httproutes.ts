import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";

/**
 * An HTTPRoute as a user keeps it in Git, for the routeRef tests: a redirect rule, a rule with a filter
 * to another Service, and the rule to the apex Service (with a filter and a timeout of its own).
 */
export function gitHTTPRoute(namespace: string, name: string, apex: string, port: number): HTTPRoute {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace, labels: { team: "web" }, annotations: { "example.com/owner": "web" } },
    spec: {
      parentRefs: [
        { group: "gateway.networking.k8s.io", kind: "Gateway", name: "public", namespace: "gateways" },
      ],
      hostnames: [`${name}.example.test`],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: "/old" } }],
          filters: [
            {
              type: "RequestRedirect",
              requestRedirect: { path: { type: "ReplaceFullPath", replaceFullPath: "/" } },
            },
          ],
        },
        {
          matches: [{ path: { type: "PathPrefix", value: "/static" } }],
          filters: [
            {
              type: "RequestHeaderModifier",
              requestHeaderModifier: { set: [{ name: "x-cdn", value: "1" }] },
            },
          ],
          backendRefs: [{ name: "cdn", port: 80 }],
        },
        {
          name: "app",
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          filters: [
            {
              type: "ResponseHeaderModifier",
              responseHeaderModifier: { add: [{ name: "x-app", value: name }] },
            },
          ],
          timeouts: { request: "10s" },
          backendRefs: [{ name: apex, port }],
        },
      ],
    },
  };
}
