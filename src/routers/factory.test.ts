import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../testing/fake-client.ts";
import { AppMeshRouter } from "./appmesh.ts";
import { createRouter, supportedProviders, UnsupportedProviderError } from "./factory.ts";
import { KubernetesRouter } from "./kubernetes.ts";
import { NginxRouter } from "./nginx.ts";

describe("createRouter", () => {
  const deps = { client: new FakeKubeClient() };

  it("picks the router by provider name", () => {
    expect(createRouter("kubernetes", deps)).toBeInstanceOf(KubernetesRouter);
    expect(createRouter("nginx", deps)).toBeInstanceOf(NginxRouter);
    expect(createRouter("appmesh", deps)).toBeInstanceOf(AppMeshRouter);
  });

  it("names the provider and the supported ones when it has no router", () => {
    expect(supportedProviders()).toEqual(["kubernetes", "nginx", "appmesh"]);
    expect(() => createRouter("gatewayapi", deps)).toThrow(UnsupportedProviderError);
    expect(() => createRouter("gatewayapi", deps)).toThrow(
      /provider "gatewayapi" is not supported yet; supported providers: kubernetes, nginx, appmesh/,
    );
  });
});
