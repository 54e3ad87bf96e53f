// A field kanaria takes is a field kanaria acts on: every spec.service field a router's capabilities
// claim (ROUTER_SERVICE_FIELDS) changes what that router writes, or, for meshName, what it accepts.
// Fields it does not claim are stalled by unsupportedRouting (capabilities.test.ts) and refused by the
// CRD (schema-check.test.ts), so a router that claims a field it then ignores fails here.
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, deploymentFixture, NS } from "../../test/helpers/fixtures.ts";
import type { CanarySpec, RouterServiceField } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import type { KubeObject } from "../kube/types.ts";
import { APPMESH_API_VERSION } from "./appmesh/spec.ts";
import { APPMESH_CAPABILITIES, AppMeshRouter } from "./appmesh.ts";
import { RouterConfigError } from "./errors.ts";
import { GATEWAYAPI_CAPABILITIES, GatewayApiRouter } from "./gatewayapi.ts";
import { KUBERNETES_CAPABILITIES } from "./kubernetes.ts";
import { NGINX_CAPABILITIES } from "./nginx.ts";

type Service = CanarySpec["service"];
const GATEWAY = { name: "public", namespace: "gateways" };

/** Two settings of each field that must come out differently (undefined: the field left out). */
const SETTINGS: Record<RouterServiceField, [Partial<Service>, Partial<Service>]> = {
  timeout: [{ timeout: "30s" }, {}],
  backendTimeout: [{ backendTimeout: "5s" }, {}],
  rewrite: [{ rewrite: { uri: "/v2" } }, {}],
  corsPolicy: [{ corsPolicy: { allowOrigin: ["https://example.com"] } }, {}],
  mirror: [{ mirror: [{ backendRef: { name: "shadow", port: 80 } }] }, {}],
  headers: [{ headers: { request: { set: { "x-a": "1" } } } }, {}],
  match: [{ match: [{ uri: { prefix: "/api" } }] }, {}],
  hosts: [{ hosts: ["app.example.com"] }, {}],
  gatewayRefs: [{ gatewayRefs: [GATEWAY] }, { gatewayRefs: [{ name: "internal", namespace: "gateways" }] }],
  retries: [{ retries: { attempts: 3, perTryTimeout: "5s", retryOn: "gateway-error" } }, {}],
  // Checked against the mesh App Mesh put the objects in: another one is refused, naming both.
  meshName: [{ meshName: "other" }, { meshName: "global" }],
  backends: [{ backends: ["backend.test"] }, {}],
};

/** Everything a router writes for the Canary, or the error it refuses it with. */
type Written = (service: Partial<Service>) => Promise<unknown>;

const MESH_KINDS = ["VirtualNode", "VirtualRouter", "VirtualService"];

async function objects(
  client: FakeKubeClient,
  apiVersion: string,
  kinds: string[],
  view = (o: KubeObject & { spec?: unknown }): unknown => [
    o.kind,
    o.metadata.name,
    o.metadata.annotations,
    o.spec,
  ],
): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const kind of kinds)
    for (const o of await client.list<KubeObject & { spec?: unknown }>(apiVersion, kind, NS))
      out.push(view(o));
  return out;
}

async function outcome(write: () => Promise<unknown[]>): Promise<unknown> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof RouterConfigError) return `refused: ${err.message}`;
    throw err;
  }
}

const gatewayapi: Written = (service) => {
  const canary = canaryFixture({
    provider: "gatewayapi",
    service: { port: 9898, gatewayRefs: [GATEWAY], ...service },
  });
  return outcome(async () => {
    const client = new FakeKubeClient([deploymentFixture()]);
    await new GatewayApiRouter(client).reconcile({ canary, resolved: resolveCanary(canary.spec) });
    return objects(client, "gateway.networking.k8s.io/v1", ["HTTPRoute"]);
  });
};

/** A first apply, then the mesh App Mesh's webhook puts the objects in (global), then the Canary. */
const appmesh: Written = (service) => {
  const canary = canaryFixture({
    provider: "appmesh",
    service: { port: 9898, meshName: "global", ...service },
  });
  return outcome(async () => {
    const client = new FakeKubeClient([deploymentFixture()]);
    const router = new AppMeshRouter(client);
    const first = canaryFixture({ provider: "appmesh", service: { port: 9898, meshName: "global" } });
    await router.reconcile({ canary: first, resolved: resolveCanary(first.spec) });
    for (const o of await objects(client, APPMESH_API_VERSION, MESH_KINDS, (o) => o)) {
      const live = o as KubeObject & { spec: Record<string, unknown> };
      await client.apply({ ...live, spec: { ...live.spec, meshRef: { name: "global", uid: "mesh-uid" } } });
    }
    await router.reconcile({ canary, resolved: resolveCanary(canary.spec) });
    return objects(client, APPMESH_API_VERSION, MESH_KINDS);
  });
};

describe("the spec.service fields a router claims change what it writes", () => {
  const claimed = (caps: { serviceFields: readonly RouterServiceField[] }, write: Written) =>
    caps.serviceFields.map((field) => [field, write] as const);

  it.each([...claimed(GATEWAYAPI_CAPABILITIES, gatewayapi), ...claimed(APPMESH_CAPABILITIES, appmesh)])(
    "%s",
    async (field, write) => {
      const [a, b] = SETTINGS[field];
      const [withA, withB] = [await write(a), await write(b)];
      expect(typeof withB === "string" ? withB : "", "the other setting is taken").not.toMatch(/^refused/);
      expect(withA).not.toEqual(withB);
      if (field === "meshName")
        expect(withA).toMatch(/^refused: .*belongs to mesh global, but spec\.service\.meshName is other/);
    },
  );

  it("nginx and kubernetes claim none: their objects come from the Ingress and the Services alone", () => {
    expect(NGINX_CAPABILITIES.serviceFields).toEqual([]);
    expect(KUBERNETES_CAPABILITIES.serviceFields).toEqual([]);
  });
});
