import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../testing/fake-client.ts";
import { createRouter, supportedProviders, UnsupportedProviderError } from "./factory.ts";
import { KubernetesRouter } from "./kubernetes.ts";
import { NginxRouter } from "./nginx.ts";

describe("createRouter", () => {
  const deps = { client: new FakeKubeClient() };

  it("picks the router by provider name", () => {
    expect(createRouter("kubernetes", deps)).toBeInstanceOf(KubernetesRouter);
    expect(createRouter("nginx", deps)).toBeInstanceOf(NginxRouter);
  });

  it("names the provider and the supported ones when it has no router", () => {
    expect(supportedProviders()).toEqual(["kubernetes", "nginx"]);
    expect(() => createRouter("gatewayapi", deps)).toThrow(UnsupportedProviderError);
    expect(() => createRouter("appmesh", deps)).toThrow(
      /provider "appmesh" is not supported yet; supported providers: kubernetes, nginx/,
    );
  });
});
