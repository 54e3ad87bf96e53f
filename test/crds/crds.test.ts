// The generated CRDs on the real API server: valid Canaries are accepted, invalid ones rejected with
// the CEL rule's message, and status is a subresource.
import { beforeAll, describe, expect, it } from "vitest";
import type { CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import { testClient } from "../support/canary-observer.ts";
import { useNamespace } from "../support/k8s.ts";

const ns = useNamespace("crds");
let client: KubeClient;
beforeAll(() => {
  client = testClient();
});

const valid: CanarySpec = {
  provider: "nginx",
  targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
  ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "podinfo" },
  service: { port: 80, targetPort: "http" },
  analysis: {
    interval: "1m",
    threshold: 5,
    maxWeight: 50,
    stepWeight: 10,
    metrics: [
      { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
      { name: "latency", templateRef: { name: "latency" }, thresholdRange: { max: 0.5 }, onNoData: "skip" },
    ],
  },
};

const canary = (name: string, spec: unknown): KubeObject =>
  ({ apiVersion: API_VERSION, kind: "Canary", metadata: { name, namespace: ns }, spec }) as KubeObject;

async function rejection(name: string, spec: unknown): Promise<string> {
  try {
    await client.apply(canary(name, spec));
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error(`the API server accepted Canary ${name}`);
}

describe("the kanaria.dev CRDs on a real API server", () => {
  it("accept a valid Canary", async () => {
    const stored = await client.apply(canary("valid", valid));
    expect(stored.metadata.uid).toBeDefined();
  });

  it.each([
    [
      "stepWeight and stepWeights",
      { ...valid, analysis: { ...valid.analysis, stepWeights: [10, 20] } },
      "stepWeight and stepWeights are mutually exclusive",
    ],
    [
      "descending stepWeights",
      { ...valid, analysis: { ...valid.analysis, stepWeight: undefined, stepWeights: [30, 20] } },
      "stepWeights must be in ascending order",
    ],
    [
      "min above max",
      {
        ...valid,
        analysis: {
          ...valid.analysis,
          metrics: [{ name: "request-duration", thresholdRange: { min: 5, max: 1 } }],
        },
      },
      "thresholdRange.min must not be greater than thresholdRange.max",
    ],
    ["nginx without ingressRef", { ...valid, ingressRef: undefined }, "provider nginx needs ingressRef"],
    [
      "a custom metric without templateRef",
      {
        ...valid,
        analysis: { ...valid.analysis, metrics: [{ name: "errors", thresholdRange: { max: 1 } }] },
      },
      "needs templateRef",
    ],
    [
      "a Service target (Flagger's Knative and upstream targets)",
      { ...valid, targetRef: { apiVersion: "v1", kind: "Service", name: "podinfo" } },
      "set targetRef.kind to Deployment or DaemonSet",
    ],
    [
      "an inline query beside a templateRef",
      {
        ...valid,
        analysis: { ...valid.analysis, metrics: [{ name: "e", query: "up", templateRef: { name: "t" } }] },
      },
      "query is an inline query for a metric of its own",
    ],
    [
      "appmesh without meshName",
      { ...valid, provider: "appmesh", ingressRef: undefined },
      "or write provider appmesh:v1beta2",
    ],
    // spec.service fields only some routers act on, on one that does not (and Flagger's ignores).
    [
      "nginx with service.timeout",
      { ...valid, service: { ...valid.service, timeout: "30s" } },
      "service.timeout sets the request timeout of the generated route (HTTPRoute timeouts.request, App Mesh route timeout), which only provider gatewayapi or appmesh writes (Flagger ignores it on kubernetes and nginx too): remove it or use provider gatewayapi or appmesh",
    ],
    [
      "kubernetes with service.hosts and service.match",
      {
        ...valid,
        provider: "kubernetes",
        ingressRef: undefined,
        service: { ...valid.service, hosts: ["app.example.com"], match: [{ uri: { prefix: "/" } }] },
      },
      "service.hosts sets the host names of the generated route",
    ],
    [
      "gatewayapi:v1 with service.retries",
      {
        ...valid,
        provider: "gatewayapi:v1",
        ingressRef: undefined,
        service: { ...valid.service, gatewayRefs: [{ name: "public" }], retries: { attempts: 3 } },
      },
      "service.retries sets the retry policy of the App Mesh route, which only provider appmesh writes",
    ],
    [
      "appmesh:v1beta2 with service.headers",
      {
        ...valid,
        provider: "appmesh:v1beta2",
        ingressRef: undefined,
        service: { ...valid.service, headers: { request: { set: { "x-a": "1" } } } },
      },
      "service.headers sets the HTTPRoute RequestHeaderModifier and ResponseHeaderModifier filters, which only provider gatewayapi writes",
    ],
    [
      "nginx with service.meshName",
      { ...valid, service: { ...valid.service, meshName: "global" } },
      "service.meshName sets the mesh of the App Mesh objects, which only provider appmesh writes",
    ],
    [
      "gatewayapi with routeRef and service.hosts",
      {
        ...valid,
        provider: "gatewayapi",
        ingressRef: undefined,
        routeRef: { name: "web" },
        service: { ...valid.service, hosts: ["app.example.com"] },
      },
      "service.hosts goes into the HTTPRoute kanaria generates, but routeRef's HTTPRoute is used as it is",
    ],
    [
      "mirrorWeight without mirror",
      { ...valid, analysis: { ...valid.analysis, mirrorWeight: 50 } },
      "mirrorWeight is the share of requests analysis.mirror copies to the canary, and mirror is not true",
    ],
  ])("reject %s with the rule's message", async (_label, spec, message) => {
    expect(await rejection(`invalid-${Math.random().toString(36).slice(2, 8)}`, spec)).toContain(message);
  });

  it.each<[string, object]>([
    [
      "gatewayapi:v1 with empty webhook type and alert severity, disableTLS and deprecated metric fields",
      {
        ...valid,
        provider: "gatewayapi:v1",
        ingressRef: undefined,
        service: { port: 80, gatewayRefs: [{ name: "public", namespace: "gateways" }] },
        analysis: {
          ...valid.analysis,
          webhooks: [{ name: "load", type: "", url: "https://tester.test/", disableTLS: true }],
          alerts: [{ name: "on-call", severity: "", providerRef: { name: "slack" } }],
          metrics: [
            { name: "request-success-rate", threshold: 99 },
            { name: "404s", query: "sum(rate(x[1m]))", threshold: 5 },
          ],
        },
      },
    ],
    [
      "gatewayapi:v1beta1 with routeRef",
      { ...valid, provider: "gatewayapi:v1beta1", routeRef: { name: "web" } },
    ],
    ["appmesh:v1beta2 without meshName", { ...valid, provider: "appmesh:v1beta2", ingressRef: undefined }],
    ["iterations with stepWeight", { ...valid, analysis: { ...valid.analysis, iterations: 5 } }],
    [
      "kubernetes with stepWeight and match",
      {
        ...valid,
        provider: "kubernetes",
        ingressRef: undefined,
        analysis: { ...valid.analysis, match: [{ headers: { x: { exact: "1" } } }] },
      },
    ],
    [
      "a DaemonSet target",
      { ...valid, targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" } },
    ],
    [
      "appmesh:v1beta2 with the service fields App Mesh acts on",
      {
        ...valid,
        provider: "appmesh:v1beta2",
        ingressRef: undefined,
        service: {
          ...valid.service,
          timeout: "35s",
          retries: { attempts: 3, perTryTimeout: "5s", retryOn: "gateway-error" },
          match: [{ uri: { prefix: "/" } }],
          hosts: ["app.example.com"],
          backends: ["backend.test"],
        },
      },
    ],
    [
      // The router is the controller's --provider, unknown to the API server: the controller decides.
      "no provider with service.timeout",
      { ...valid, provider: undefined, service: { ...valid.service, timeout: "30s" } },
    ],
  ])("accept Flagger's form: %s", async (label, spec) => {
    const name = `flagger-${label.length}-${Math.random().toString(36).slice(2, 8)}`;
    const stored = await client.apply(canary(name, spec));
    expect(stored.metadata.uid).toBeDefined();
  });

  it.each([
    ["a weight above 100", { ...valid, analysis: { ...valid.analysis, maxWeight: 150 } }, "maxWeight"],
    ["a malformed duration", { ...valid, analysis: { ...valid.analysis, interval: "1 minute" } }, "interval"],
    ["an unknown provider", { ...valid, provider: "istio" }, "provider"],
  ])("reject %s by the OpenAPI schema", async (_label, spec, field) => {
    expect(await rejection(`bad-${Math.random().toString(36).slice(2, 8)}`, spec)).toContain(field);
  });

  it("keep status in a subresource: a write to the object ignores status", async () => {
    const stored = await client.apply(canary("status", valid));
    const withStatus = await client.replaceStatus({
      ...stored,
      status: { phase: "Initialized", canaryWeight: 0 },
    } as KubeObject);
    expect((withStatus as { status?: { phase?: string } }).status?.phase).toBe("Initialized");
    await client.mergePatch(
      { apiVersion: API_VERSION, kind: "Canary", namespace: ns, name: "status" },
      {
        status: { phase: "Failed" },
      },
    );
    const read = await client.get<KubeObject & { status?: { phase?: string } }>({
      apiVersion: API_VERSION,
      kind: "Canary",
      namespace: ns,
      name: "status",
    });
    expect(read?.status?.phase).toBe("Initialized");
  });
});
