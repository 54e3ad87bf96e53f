// Keeps `KANARIA_DEMO_PROVIDER=gatewayapi make demo` honest without running it: the example turned into
// a gatewayapi Canary is valid, its router accepts it, and the Ingress gives way to a Gateway.
import { describe, expect, it } from "vitest";
import { canary as canarySchema } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { createRouter } from "../../src/routers/factory.ts";
import { FakeKubeClient } from "../helpers/fake-client.ts";
import { loadExample } from "./example.ts";
import { demoProvider, exampleFor, gatewayApiCrdFiles } from "./gatewayapi.ts";

describe("the demo on Gateway API", () => {
  it("reads KANARIA_DEMO_PROVIDER, nginx by default", () => {
    expect(demoProvider(undefined)).toBe("nginx");
    expect(demoProvider("gatewayapi")).toBe("gatewayapi");
    expect(() => demoProvider("istio")).toThrow(
      /KANARIA_DEMO_PROVIDER must be nginx or gatewayapi, got "istio"/,
    );
  });

  it("leaves the nginx example as it is", () => {
    const example = loadExample();
    expect(exampleFor(example, "nginx")).toBe(example);
  });

  it("turns the Canary into a generated-route gatewayapi Canary for the Ingress' host", () => {
    const example = exampleFor(loadExample(), "gatewayapi");
    const canary = canarySchema.parse({
      ...example.canary,
      metadata: { ...example.canary.metadata, uid: "u" },
    });
    expect(canary.spec.provider).toBe("gatewayapi");
    expect(canary.spec.ingressRef).toBeUndefined();
    expect(canary.spec.service.gatewayRefs).toEqual([{ name: "demo", namespace: example.namespace }]);
    expect(canary.spec.service.hosts?.length).toBeGreaterThan(0);
    const router = createRouter("gatewayapi", { client: new FakeKubeClient() });
    expect(() => router.check({ canary, resolved: resolveCanary(canary.spec) })).not.toThrow();
    expect(example.objects.map((o) => o.obj.kind)).toEqual([
      "Namespace",
      "Deployment",
      "GatewayClass",
      "Gateway",
      "Canary",
    ]);
    expect(gatewayApiCrdFiles().some((f) => f.endsWith("gateway.networking.k8s.io_httproutes.yaml"))).toBe(
      true,
    );
  });
});
