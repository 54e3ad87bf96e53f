// The nginx router against the real API server: the canary Ingress is created from the Canary's
// ingressRef and carries ingress-nginx's canary annotations. No ingress controller runs here; what is
// checked is what ingress-nginx would read.
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { Canary, CanarySpec } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/types.ts";
import { createRouter } from "../../src/routers/factory.ts";
import type { Ingress } from "../../src/routers/nginx.ts";
import type { Router, RouterTarget } from "../../src/routers/router.ts";
import { kubeConnection, useNamespace } from "../support/k8s.ts";
import { canary as canaryManifest, ingress } from "../support/manifests.ts";

const ns = useNamespace("router-nginx");
const logger = pino({ level: process.env.KANARIA_TEST_LOG ?? "silent" });
const P = "nginx.ingress.kubernetes.io";

describe("nginx router on a real cluster", () => {
  let client: KubeClient;
  let router: Router;

  beforeAll(async () => {
    client = createKubeClient(kubeConnection(), logger);
    router = createRouter("nginx", { client });
    await client.apply(ingress(ns, "web"));
    await client.apply(ingress(ns, "shop"));
  });

  async function createCanary(name: string, spec: Partial<CanarySpec> & Pick<CanarySpec, "analysis">) {
    const applied = await client.apply(
      canaryManifest(ns, name, { provider: "nginx", ingressRef: { name }, ...spec }),
    );
    const canary = applied as unknown as Canary;
    return { canary, resolved: resolveCanary(canary.spec) } satisfies RouterTarget;
  }

  const canaryIngress = (name: string) =>
    client.get<Ingress>({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      namespace: ns,
      name: `${name}-canary`,
    });

  it("clones the Ingress at weight 0 and shifts weights", async () => {
    const target = await createCanary("web", { analysis: { interval: "10s", stepWeight: 20 } });
    await router.reconcile(target);
    const created = await canaryIngress("web");
    expect(created?.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name).toBe("web-canary");
    expect(created?.metadata.annotations).toMatchObject({
      [`${P}/canary`]: "true",
      [`${P}/canary-weight`]: "0",
    });
    expect(created?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Canary",
      name: "web",
      controller: true,
    });

    await router.setRoutes(target, { primaryWeight: 60, canaryWeight: 40, matched: false, mirrored: false });
    expect((await canaryIngress("web"))?.metadata.annotations?.[`${P}/canary-weight`]).toBe("40");
    expect(await router.getRoutes(target)).toEqual({
      primaryWeight: 60,
      canaryWeight: 40,
      matched: false,
      mirrored: false,
    });

    await router.reconcile(target);
    expect((await router.getRoutes(target))?.canaryWeight).toBe(40);

    await router.finalize(target);
    expect(await canaryIngress("web")).toBeUndefined();
    expect(await router.getRoutes(target)).toBeUndefined();
  });

  it("routes A/B by header and cookie and removes them again", async () => {
    const target = await createCanary("shop", {
      analysis: {
        interval: "10s",
        iterations: 3,
        match: [
          { headers: { "x-canary": { regex: "^(insider|beta)$" } } },
          { headers: { cookie: { exact: "canary" } } },
        ],
      },
    });
    await router.reconcile(target);
    // A/B as decide() asks for it: matching requests to the canary, weight 0 for everyone else.
    const ab = { primaryWeight: 100, canaryWeight: 0, matched: true, mirrored: false };
    await router.setRoutes(target, ab);
    expect((await canaryIngress("shop"))?.metadata.annotations).toMatchObject({
      [`${P}/canary`]: "true",
      [`${P}/canary-weight`]: "0",
      [`${P}/canary-by-header`]: "x-canary",
      [`${P}/canary-by-header-pattern`]: "^(insider|beta)$",
      [`${P}/canary-by-cookie`]: "canary",
    });
    expect(await router.getRoutes(target), "read back exactly as written").toEqual(ab);

    await router.setRoutes(target, { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false });
    const annotations = (await canaryIngress("shop"))?.metadata.annotations ?? {};
    expect(Object.keys(annotations).filter((k) => k.startsWith(`${P}/canary-by`))).toEqual([]);
    expect(annotations[`${P}/canary-weight`]).toBe("0");
  });
});
