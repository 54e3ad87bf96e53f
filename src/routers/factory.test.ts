import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import type { ProviderName } from "../api/canary.ts";
import { AppMeshRouter } from "./appmesh.ts";
import { createRouter, supportedProviders, UnsupportedProviderError } from "./factory.ts";
import { GatewayApiRouter } from "./gatewayapi.ts";
import { KubernetesRouter } from "./kubernetes.ts";
import { NginxRouter } from "./nginx.ts";

describe("createRouter", () => {
  const deps = { client: new FakeKubeClient() };

  it("picks the router by provider name", () => {
    expect(createRouter("kubernetes", deps)).toBeInstanceOf(KubernetesRouter);
    expect(createRouter("nginx", deps)).toBeInstanceOf(NginxRouter);
    expect(createRouter("appmesh", deps)).toBeInstanceOf(AppMeshRouter);
    expect(createRouter("gatewayapi", deps)).toBeInstanceOf(GatewayApiRouter);
  });

  it("names the provider and the supported ones when it has no router", () => {
    expect(supportedProviders()).toEqual(["kubernetes", "gatewayapi", "nginx", "appmesh"]);
    // Every name of the API has a router now: a name from an older or newer CRD stands in.
    const unknown = "istio" as ProviderName;
    expect(() => createRouter(unknown, deps)).toThrow(UnsupportedProviderError);
    expect(() => createRouter(unknown, deps)).toThrow(
      /provider "istio" is not supported yet; supported providers: kubernetes, gatewayapi, nginx, appmesh/,
    );
  });
});
