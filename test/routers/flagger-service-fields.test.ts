// Flagger's Gateway API and Service fields (issue 26 item 4) on the real API server with the real
// controller process: the kanaria CRD stores them as written and refuses them where no router acts on
// them; the HTTPRoute CRD of test/cluster/versions.env accepts what the gatewayapi router makes of them
// (a Linkerd-style Service parent in group core, backendRequest timeout, URLRewrite, RequestMirror,
// CORS, cookie attributes); the generated Services are headless with a traffic distribution for every
// router; and a value another controller sets on an unmanaged annotation is not put back, while one
// kanaria manages is.
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { createRouter } from "../../src/routers/factory.ts";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import type { Service } from "../../src/workloads/meta.ts";
import { canaryEvents, getCanary, testClient, waitForPhase } from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { kubeConfig, useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment } from "../support/manifests.ts";

const ns = useNamespace("flagger-fields");
const client = testClient();
useController(ns);

const GATEWAY = {
  group: "gateway.networking.k8s.io",
  kind: "Gateway",
  name: "public",
  namespace: "gateways",
};

const ref = (apiVersion: string, kind: string, name: string) => ({ apiVersion, kind, namespace: ns, name });
const getService = async (name: string) => client.get<Service>(ref("v1", "Service", name));
const getRoute = async (name: string) =>
  client.get<HTTPRoute>(ref("gateway.networking.k8s.io/v1", "HTTPRoute", name));

/** As another controller (or kubectl annotate) writes: an Update under its own field manager. */
async function patchAs(fieldManager: string, object: KubeObject): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
  await api.patch(object, undefined, undefined, fieldManager, undefined, k8s.PatchStrategy.MergePatch);
}

async function rejection(name: string, spec: unknown): Promise<string> {
  try {
    await client.apply({
      apiVersion: API_VERSION,
      kind: "Canary",
      metadata: { name, namespace: ns },
      spec,
    } as KubeObject);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error(`the API server accepted Canary ${name}`);
}

/** A Flagger gatewayapi Canary (Linkerd's GAMMA tutorial shape) with every field of item 4. */
const gatewaySpec = (name: string): Partial<CanarySpec> & Pick<CanarySpec, "analysis"> => ({
  provider: "gatewayapi",
  service: {
    port: 80,
    targetPort: 9898,
    headless: true,
    trafficDistribution: "PreferSameZone",
    apex: { annotations: { "lb.example/pool": "blue", "example.com/team": "shop" } },
    unmanagedMetadata: { annotations: ["lb.example/pool"] },
    gatewayRefs: [GATEWAY, { group: "core", kind: "Service", name, port: 80 }],
    timeout: "30s",
    backendTimeout: "10s",
    rewrite: { uri: "/v2", authority: "api.internal" },
    mirror: [{ backendRef: { name: "shadow", port: 8080 }, percent: 5 }],
    corsPolicy: {
      allowOrigin: ["https://example.com"],
      allowMethods: ["GET", "POST"],
      allowHeaders: ["x-token"],
      allowCredentials: true,
    },
  },
  analysis: {
    interval: "10s",
    stepWeight: 50,
    sessionAffinity: {
      cookieName: "flagger-cookie",
      primaryCookieName: "primary-cookie",
      domain: "example.com",
      path: "/",
      sameSite: "Strict",
      secure: true,
      httpOnly: true,
      partitioned: true,
    },
  },
});

describe.concurrent("Flagger's Gateway API and Service fields on a real cluster", () => {
  it("the CRD stores them as written, and refuses them where no router acts on them, naming the field", async () => {
    const spec = gatewaySpec("stored");
    await client.apply(canary(ns, "stored", spec));
    const stored = await getCanary(client, ns, "stored");
    expect(stored.spec.service).toEqual(spec.service);
    expect(stored.spec.analysis.sessionAffinity).toEqual(spec.analysis.sessionAffinity);

    const nginx = {
      provider: "nginx",
      targetRef: { name: "x" },
      ingressRef: { name: "x" },
      service: { port: 80, rewrite: { uri: "/" } },
      analysis: { interval: "1m", stepWeight: 10 },
    };
    expect(await rejection("nginx-rewrite", nginx)).toContain(
      "service.rewrite sets the HTTPRoute URLRewrite filter, which only provider gatewayapi writes (Flagger ignores it on kubernetes, nginx and appmesh too): remove it or use provider gatewayapi",
    );
    const patterns = {
      ...gatewaySpec("x"),
      targetRef: { name: "x" },
      service: { port: 80, gatewayRefs: [GATEWAY], corsPolicy: { allowOrigins: [{ prefix: "https://" }] } },
    };
    expect(await rejection("cors-patterns", patterns)).toContain(
      "corsPolicy.allowOrigins (string patterns) cannot be written as a Gateway API CORS filter: list the origins in corsPolicy.allowOrigin",
    );
  });

  it("gatewayapi: the HTTPRoute CRD takes the route, the Services are headless, an unmanaged annotation is not fought", async () => {
    await client.apply(deployment(ns, "gw", "6.0.0"));
    await client.apply(canary(ns, "gw", gatewaySpec("gw")));
    await waitForPhase(client, ns, "gw", "Initialized", 60_000);

    const route = (await getRoute("gw")) as HTTPRoute;
    expect(route.spec?.parentRefs).toEqual([
      GATEWAY,
      { group: "core", kind: "Service", name: "gw", port: 80 },
    ]);
    const [rule] = route.spec?.rules ?? [];
    expect(rule?.timeouts).toEqual({ request: "30s", backendRequest: "10s" });
    expect(rule?.filters).toEqual([
      {
        type: "URLRewrite",
        urlRewrite: { hostname: "api.internal", path: { type: "ReplaceFullPath", replaceFullPath: "/v2" } },
      },
      {
        type: "RequestMirror",
        requestMirror: { backendRef: { group: "", kind: "Service", name: "shadow", port: 8080 }, percent: 5 },
      },
      {
        type: "CORS",
        cors: {
          allowOrigins: ["https://example.com"],
          allowMethods: ["GET", "POST"],
          allowHeaders: ["x-token"],
          allowCredentials: true,
          // The HTTPRoute CRD's default, for a corsPolicy without maxAge.
          maxAge: 5,
        },
      },
    ]);

    for (const name of ["gw", "gw-primary", "gw-canary"]) {
      const svc = await getService(name);
      expect(svc?.spec?.clusterIP, name).toBe("None");
      expect(svc?.spec?.trafficDistribution, name).toBe("PreferSameZone");
    }

    // Every split of the release (cookie attributes included) is accepted by the HTTPRoute CRD and read back.
    // On a route of its own (service.name "gw-splits"): the controller owns route "gw" and puts a split it
    // did not write back to its own, so writing one there races its drift correction.
    const live = await getCanary(client, ns, "gw");
    const router = createRouter("gatewayapi", { client });
    const spec = { ...live.spec, service: { ...live.spec.service, name: "gw-splits" } };
    const target = {
      canary: { ...live, spec, status: { ...live.status, lastAppliedSpec: "rev2" } } as Canary,
      resolved: resolveCanary(spec),
    };
    for (const canaryWeight of [50, 0]) {
      const routes = { primaryWeight: 100 - canaryWeight, canaryWeight, matched: false, mirrored: false };
      await router.setRoutes(target, routes);
      expect(await router.getRoutes(target)).toEqual(routes);
      if (canaryWeight === 0) continue;
      const weighted = (await getRoute("gw-splits"))?.spec?.rules?.at(-1);
      expect(weighted?.backendRefs?.[1]?.filters?.[0]?.responseHeaderModifier?.add).toEqual([
        {
          name: "Set-Cookie",
          value:
            "flagger-cookie=rev2; Max-Age=86400; Domain=example.com; HttpOnly; Partitioned; Path=/; SameSite=Strict; Secure",
        },
      ]);
    }

    const routeVersion = (await getRoute("gw"))?.metadata.resourceVersion;
    // A load-balancer controller sets the unmanaged annotation, and someone edits a managed one with it.
    await patchAs("lb-controller", {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "gw",
        namespace: ns,
        annotations: { "lb.example/pool": "green", "example.com/team": "ops" },
      },
    } as KubeObject);
    // kanaria puts the managed annotation back (so it has reconciled since the change) ...
    const after = await waitFor(() => getService("gw"), {
      description: "the managed annotation put back",
      until: (s) => s?.metadata.annotations?.["example.com/team"] === "shop",
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    // ... and leaves the unmanaged one as the other controller set it, without reporting it as drift.
    expect(after?.metadata.annotations?.["lb.example/pool"]).toBe("green");
    // The reconcile that corrects it writes twice (the drift patch, then the apply that keeps the
    // unmanaged value, Flagger's way): the Service settles once its version holds for a second; a fight
    // never would, and one slower than that shows in the 3 s after.
    let seen = after?.metadata.resourceVersion;
    const settled = await waitFor(
      async () => {
        await new Promise((r) => setTimeout(r, 1000));
        const now = (await getService("gw"))?.metadata.resourceVersion;
        const held = now === seen;
        seen = now;
        return held ? now : undefined;
      },
      {
        description: "the Service to settle after the correction",
        until: (v) => v !== undefined,
        timeoutMs: 15_000,
      },
    );
    await new Promise((r) => setTimeout(r, 3000));
    const later = await getService("gw");
    expect(later?.metadata.annotations?.["lb.example/pool"]).toBe("green");
    expect(later?.metadata.resourceVersion, "no write back and forth").toBe(settled);
    // Nor did those reconciles write the route again (read back with the CRD's defaults, e.g. CORS maxAge).
    expect((await getRoute("gw"))?.metadata.resourceVersion).toBe(routeVersion);
    const events = await canaryEvents(client, ns, "gw");
    expect(events.filter((e) => e.reason === "Drift" && e.message.includes("lb.example/pool"))).toEqual([]);
  });

  it("kubernetes router: headless Services with the traffic distribution asked for", async () => {
    await client.apply(deployment(ns, "plain", "6.0.0"));
    await client.apply(
      canary(ns, "plain", {
        provider: "kubernetes",
        service: { port: 80, targetPort: 9898, headless: true, trafficDistribution: "PreferSameNode" },
        analysis: { interval: "10s", iterations: 1 },
      }),
    );
    await waitForPhase(client, ns, "plain", "Initialized", 60_000);
    for (const name of ["plain", "plain-primary", "plain-canary"]) {
      const svc = await getService(name);
      expect(svc?.spec, name).toMatchObject({ clusterIP: "None", trafficDistribution: "PreferSameNode" });
      expect(svc?.spec?.selector, name).toEqual({ app: name === "plain-canary" ? "plain" : "plain-primary" });
    }
  });
});
