import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, NS } from "../../test/helpers/fixtures.ts";
import { routesOverRelease } from "../../test/helpers/routes.ts";
import type { Canary, CanarySpec, HttpMatch } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import { RouterConfigError } from "./errors.ts";
import { buildCanaryIngress, type Ingress, NginxRouter, parseRoutes, routingAnnotations } from "./nginx.ts";
import type { RouterTarget, Routes } from "./router.ts";

const P = "nginx.ingress.kubernetes.io";
const weight = (canaryWeight: number): Routes => ({
  primaryWeight: 100 - canaryWeight,
  canaryWeight,
  matched: false,
  mirrored: false,
});
const AB: Routes = { primaryWeight: 100, canaryWeight: 0, matched: true, mirrored: false };

function nginxCanary(spec: Partial<CanarySpec> = {}): Canary {
  return canaryFixture({
    provider: "nginx",
    ingressRef: { name: "podinfo" },
    analysis: { stepWeight: 10 },
    ...spec,
  });
}

const abCanary = (...match: HttpMatch[]) => nginxCanary({ analysis: { iterations: 10, match } });

function ingressFixture(): Ingress {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name: "podinfo",
      namespace: NS,
      labels: { app: "podinfo" },
      annotations: {
        "kubernetes.io/ingress.class": "nginx",
        [`${P}/canary`]: "true",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
      },
    },
    spec: {
      ingressClassName: "nginx",
      tls: [{ hosts: ["app.example.com"], secretName: "app-tls" }],
      rules: [
        {
          host: "app.example.com",
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "podinfo", port: { number: 80 } } },
              },
              {
                path: "/static",
                pathType: "Prefix",
                backend: { service: { name: "cdn", port: { number: 80 } } },
              },
            ],
          },
        },
      ],
    },
  };
}

describe("routingAnnotations", () => {
  it("sets canary and canary-weight for a weighted split", () => {
    expect(routingAnnotations(nginxCanary(), weight(30), P)).toEqual({
      [`${P}/canary`]: "true",
      [`${P}/canary-weight`]: "30",
    });
  });

  it("routes an exact header match with canary-by-header and -value at weight 0", () => {
    expect(routingAnnotations(abCanary({ headers: { "x-canary": { exact: "insider" } } }), AB, P)).toEqual({
      [`${P}/canary`]: "true",
      [`${P}/canary-weight`]: "0",
      [`${P}/canary-by-header`]: "x-canary",
      [`${P}/canary-by-header-value`]: "insider",
    });
  });

  it("routes a regex header match with canary-by-header-pattern", () => {
    const a = routingAnnotations(abCanary({ headers: { "user-agent": { regex: ".*Firefox.*" } } }), AB, P);
    expect(a[`${P}/canary-by-header`]).toBe("user-agent");
    expect(a[`${P}/canary-by-header-pattern`]).toBe(".*Firefox.*");
    expect(a[`${P}/canary-by-header-value`]).toBeUndefined();
  });

  it("maps headers.cookie.exact to canary-by-cookie (the cookie's name, as Flagger)", () => {
    const a = routingAnnotations(abCanary({ headers: { cookie: { exact: "canary" } } }), AB, P);
    expect(a).toEqual({
      [`${P}/canary`]: "true",
      [`${P}/canary-weight`]: "0",
      [`${P}/canary-by-cookie`]: "canary",
    });
  });

  it("combines one header and one cookie across matches", () => {
    const a = routingAnnotations(
      abCanary(
        { headers: { "x-canary": { exact: "always" } } },
        { headers: { cookie: { exact: "canary" } } },
      ),
      AB,
      P,
    );
    expect(a[`${P}/canary-by-header`]).toBe("x-canary");
    expect(a[`${P}/canary-by-cookie`]).toBe("canary");
  });

  it("rejects what ingress-nginx cannot match, naming the field", () => {
    expect(() => routingAnnotations(abCanary({ uri: { prefix: "/api" } }), AB, P)).toThrow(
      /spec\.analysis\.match\[0\]\.uri is set; ingress-nginx routes A\/B traffic by one header/,
    );
    expect(() => routingAnnotations(abCanary({ headers: { "x-a": { prefix: "v" } } }), AB, P)).toThrow(
      /headers\.x-a uses prefix\/suffix.*regex/,
    );
    expect(() =>
      routingAnnotations(
        abCanary({ headers: { "x-a": { exact: "1" } } }, { headers: { "x-b": { exact: "2" } } }),
        AB,
        P,
      ),
    ).toThrow(RouterConfigError);
    expect(() => routingAnnotations(nginxCanary(), AB, P)).toThrow(/spec\.analysis\.match is empty/);
  });

  it("rejects an out-of-range weight", () => {
    expect(() => routingAnnotations(nginxCanary(), weight(101), P)).toThrow(RangeError);
  });

  it("uses the configured prefix", () => {
    expect(Object.keys(routingAnnotations(nginxCanary(), weight(5), "custom.io"))).toEqual([
      "custom.io/canary",
      "custom.io/canary-weight",
    ]);
  });
});

describe("buildCanaryIngress", () => {
  const built = buildCanaryIngress(nginxCanary(), ingressFixture(), weight(0), P);

  it("clones the Ingress as <name>-canary with the apex backends re-pointed at <apex>-canary", () => {
    expect(built.metadata.name).toBe("podinfo-canary");
    const paths = built.spec?.rules?.[0]?.http?.paths ?? [];
    expect(paths.map((p) => p.backend.service?.name)).toEqual(["podinfo-canary", "cdn"]);
    expect(built.spec?.tls).toEqual(ingressFixture().spec?.tls);
    expect(built.spec?.ingressClassName).toBe("nginx");
  });

  it("keeps the original's labels and annotations except routing state and kubectl's", () => {
    expect(built.metadata.labels).toEqual({ app: "podinfo" });
    expect(built.metadata.annotations).toEqual({
      "kubernetes.io/ingress.class": "nginx",
      [`${P}/canary`]: "true",
      [`${P}/canary-weight`]: "0",
    });
    expect(built.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Canary",
      name: "podinfo",
      controller: true,
    });
  });

  it("rejects an Ingress without a backend for the apex Service, naming both", () => {
    const ingress = ingressFixture();
    const path = ingress.spec?.rules?.[0]?.http?.paths[0];
    if (path?.backend.service) path.backend.service.name = "frontend";
    expect(() => buildCanaryIngress(nginxCanary(), ingress, weight(0), P)).toThrow(
      "Canary shop/podinfo: Ingress shop/podinfo (spec.ingressRef) has no rule whose backend is the apex Service podinfo; " +
        "point its backend at podinfo, or set spec.service.name to the Service it uses",
    );
  });
});

describe("parseRoutes", () => {
  const withAnnotations = (annotations: Record<string, string>): Ingress => ({
    ...ingressFixture(),
    metadata: { name: "podinfo-canary", namespace: NS, annotations },
  });

  it("reads the weight", () => {
    expect(
      parseRoutes(withAnnotations({ [`${P}/canary`]: "true", [`${P}/canary-weight`]: "40" }), P),
    ).toEqual(weight(40));
  });

  it("reads header or cookie routing as A/B", () => {
    expect(
      parseRoutes(withAnnotations({ [`${P}/canary`]: "true", [`${P}/canary-by-cookie`]: "c" }), P),
    ).toEqual(AB);
  });

  it("rejects a weight that is not 0..100", () => {
    expect(() => parseRoutes(withAnnotations({ [`${P}/canary-weight`]: "abc" }), P)).toThrow(
      /annotation nginx\.ingress\.kubernetes\.io\/canary-weight is "abc"/,
    );
  });
});

describe("NginxRouter", () => {
  const target = (canary: Canary): RouterTarget => ({ canary, resolved: resolveCanary(canary.spec) });
  const canaryRef = {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    namespace: NS,
    name: "podinfo-canary",
  };

  async function reconciled(canary: Canary) {
    const client = new FakeKubeClient([ingressFixture()]);
    const router = new NginxRouter(client);
    await router.reconcile(target(canary));
    return { client, router };
  }

  it("has no routes before reconcile", async () => {
    expect(await new NginxRouter(new FakeKubeClient()).getRoutes(target(nginxCanary()))).toBeUndefined();
  });

  it("creates the canary Ingress at weight 0, then shifts and reads back weights", async () => {
    const { router } = await reconciled(nginxCanary());
    expect(await router.getRoutes(target(nginxCanary()))).toEqual(weight(0));
    await router.setRoutes(target(nginxCanary()), weight(20));
    expect(await router.getRoutes(target(nginxCanary()))).toEqual(weight(20));
  });

  it("keeps the current split when reconciling again", async () => {
    const { router } = await reconciled(nginxCanary());
    await router.setRoutes(target(nginxCanary()), weight(60));
    await router.reconcile(target(nginxCanary()));
    expect(await router.getRoutes(target(nginxCanary()))).toEqual(weight(60));
  });

  it("turns A/B routing on and off", async () => {
    const canary = abCanary({ headers: { "x-canary": { exact: "insider" } } });
    const { client, router } = await reconciled(canary);
    await router.setRoutes(target(canary), AB);
    expect(
      (await client.get<Ingress>(canaryRef))?.metadata.annotations?.[`${P}/canary-by-header-value`],
    ).toBe("insider");
    expect(await router.getRoutes(target(canary))).toEqual(AB);

    await router.setRoutes(target(canary), weight(0));
    const annotations = (await client.get<Ingress>(canaryRef))?.metadata.annotations ?? {};
    expect(Object.keys(annotations).filter((k) => k.startsWith(`${P}/canary-by`))).toEqual([]);
    expect(annotations[`${P}/canary-weight`]).toBe("0");
  });

  it("honours a custom annotation prefix", async () => {
    const client = new FakeKubeClient([ingressFixture()]);
    const router = new NginxRouter(client, { annotationPrefix: "ingress.example.com" });
    await router.setRoutes(target(nginxCanary()), weight(10));
    expect(
      (await client.get<Ingress>(canaryRef))?.metadata.annotations?.["ingress.example.com/canary-weight"],
    ).toBe("10");
    expect(await router.getRoutes(target(nginxCanary()))).toEqual(weight(10));
  });

  it("deletes the canary Ingress on finalize and leaves the original alone", async () => {
    const { client, router } = await reconciled(nginxCanary());
    await router.finalize(target(nginxCanary()));
    expect(await client.get(canaryRef)).toBeUndefined();
    expect(await client.get({ ...canaryRef, name: "podinfo" })).toEqual(
      expect.objectContaining({ spec: ingressFixture().spec }),
    );
  });

  it("names the missing Ingress", async () => {
    await expect(new NginxRouter(new FakeKubeClient()).reconcile(target(nginxCanary()))).rejects.toThrow(
      /Ingress shop\/podinfo \(spec\.ingressRef\) does not exist/,
    );
  });

  it("refuses a <name>-canary Ingress it does not control", async () => {
    const client = new FakeKubeClient([
      ingressFixture(),
      { ...ingressFixture(), metadata: { name: "podinfo-canary", namespace: NS } },
    ]);
    await expect(new NginxRouter(client).reconcile(target(nginxCanary()))).rejects.toThrow(
      /is not controlled by this Canary/,
    );
  });

  describe("reads back exactly what it wrote", () => {
    const strategies: [string, Canary][] = [
      ["canary", nginxCanary({ analysis: { stepWeights: [5, 25, 50], stepWeightPromotion: 20 } })],
      ["blue/green", nginxCanary({ analysis: { iterations: 3 } })],
      ["A/B by header", abCanary({ headers: { "x-canary": { regex: "^(insider|beta)$" } } })],
      ["A/B by cookie", abCanary({ headers: { cookie: { exact: "canary" } } })],
    ];
    it.each(strategies)("for every split of a %s release", async (_name, canary) => {
      const { router } = await reconciled(canary);
      const splits = routesOverRelease(target(canary).resolved, router.capabilities);
      expect(splits.length).toBeGreaterThan(1);
      for (const routes of splits) {
        await router.setRoutes(target(canary), routes);
        expect(await router.getRoutes(target(canary))).toEqual(routes);
      }
    });
  });

  it("checks A/B settings without touching the cluster", () => {
    const router = new NginxRouter(new FakeKubeClient());
    expect(() => router.check(target(abCanary({ uri: { prefix: "/api" } })))).toThrow(RouterConfigError);
    expect(() => router.check(target(nginxCanary({ ingressRef: undefined })))).toThrow(
      /needs spec\.ingressRef/,
    );
    expect(() => router.check(target(abCanary({ headers: { "x-canary": { exact: "1" } } })))).not.toThrow();
  });
});
