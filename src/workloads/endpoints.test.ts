import { describe, expect, it } from "vitest";
import { type EndpointSlice, readyEndpoints } from "./endpoints.ts";

const slice = (endpoints: EndpointSlice["endpoints"]): EndpointSlice =>
  ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-canary-abc", namespace: "shop" },
    endpoints,
  }) as EndpointSlice;

describe("readyEndpoints", () => {
  it("counts the ready pods, once each over the slices of both address families", () => {
    const pods = [
      { addresses: ["10.244.0.5"], conditions: { ready: true }, targetRef: { uid: "a" } },
      { addresses: ["10.244.0.6"], conditions: { ready: false }, targetRef: { uid: "b" } },
      // No ready condition: ready, as the API defines it.
      { addresses: ["10.244.0.7"], conditions: {}, targetRef: { uid: "c" } },
    ];
    const ipv6 = [{ addresses: ["fd00::5"], conditions: { ready: true }, targetRef: { uid: "a" } }];
    expect(readyEndpoints([slice(pods), slice(ipv6)])).toBe(2);
  });

  it("is 0 for a Service whose slice lists no ready pod yet, and undefined where nothing publishes slices", () => {
    expect(readyEndpoints([slice(null)])).toBe(0);
    expect(readyEndpoints([slice([{ addresses: ["10.244.0.6"], conditions: { ready: false } }])])).toBe(0);
    expect(readyEndpoints([])).toBeUndefined();
  });
});
