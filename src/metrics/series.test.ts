import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import type { Canary } from "../api/canary.ts";
import { KubeApiError } from "../kube/errors.ts";
import type { KubeObject, ObjectRef } from "../kube/types.ts";
import { describeChoice, type SeriesChoice, SeriesResolver } from "./series.ts";

/** Counts reads by kind, and answers 403 for the kinds it is told to. */
class RecordingClient extends FakeKubeClient {
  readonly reads: string[] = [];
  forbidden = new Set<string>();

  override async get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    this.reads.push(ref.kind);
    if (this.forbidden.has(ref.kind)) {
      throw new KubeApiError(403, `${ref.kind} is forbidden`, "Forbidden");
    }
    return super.get<T>(ref);
  }

  override async list<T extends KubeObject>(apiVersion: string, kind: string, namespace?: string) {
    this.reads.push(`list ${kind}`);
    if (this.forbidden.has(kind)) throw new KubeApiError(403, `${kind} is forbidden`, "Forbidden");
    return super.list<T>(apiVersion, kind, namespace);
  }
}

const gatewayClass = (name: string, controllerName: string): KubeObject =>
  ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name },
    spec: { controllerName },
  }) as KubeObject;

const gateway = (namespace: string, name: string, gatewayClassName: string): KubeObject =>
  ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { namespace, name },
    spec: { gatewayClassName, listeners: [] },
  }) as KubeObject;

const ingressClass = (name: string, controller: string): KubeObject =>
  ({
    apiVersion: "networking.k8s.io/v1",
    kind: "IngressClass",
    metadata: { name },
    spec: { controller },
  }) as KubeObject;

const ingress = (spec: Record<string, unknown>, annotations?: Record<string, string>): KubeObject =>
  ({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { namespace: "shop", name: "web", ...(annotations ? { annotations } : {}) },
    spec: { ...spec, rules: [] },
  }) as KubeObject;

const CLASSES = [
  gatewayClass("traefik", "traefik.io/gateway-controller"),
  gatewayClass("istio", "istio.io/gateway-controller"),
  gatewayClass("eg", "gateway.envoyproxy.io/gatewayclass-controller"),
  gatewayClass("cilium", "io.cilium/gateway-controller"),
  gateway("gateways", "public", "traefik"),
  gateway("gateways", "internal", "traefik"),
  gateway("gateways", "mesh-gw", "istio"),
  gateway("gateways", "envoy", "eg"),
  gateway("gateways", "cilium", "cilium"),
  gateway("shop", "local", "traefik"),
  gateway("gateways", "classless", "missing"),
  ingressClass("nginx", "k8s.io/ingress-nginx"),
  ingressClass("traefik-nginx", "traefik.io/ingress-nginx"),
  ingressClass("traefik", "traefik.io/ingress-controller"),
];

function canary(provider: "gatewayapi" | "nginx" | "kubernetes", spec: Record<string, unknown> = {}): Canary {
  return {
    apiVersion: "flagger.app/v1beta1",
    kind: "Canary",
    metadata: { namespace: "shop", name: "web", uid: "uid-web", generation: 1 },
    spec: {
      provider,
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      ...(provider === "nginx"
        ? { ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "web" } }
        : {}),
      ...spec,
      service: { port: 80, ...((spec.service as object) ?? {}) },
      analysis: { interval: "1m" },
    },
  } as unknown as Canary;
}

const gw = (name: string, namespace = "gateways") => ({ name, namespace });

async function choose(c: Canary, objects: KubeObject[] = []): Promise<SeriesChoice | undefined> {
  const client = new RecordingClient([...CLASSES, ...objects]);
  return new SeriesResolver(client, async () => {}).choose(c, c.spec.provider as "gatewayapi");
}

describe("the series the built-in metrics read", () => {
  it.each<[string, Canary, KubeObject[], Partial<SeriesChoice>]>([
    [
      "Traefik's GatewayClass",
      canary("gatewayapi", { service: { gatewayRefs: [gw("public")] } }),
      [],
      {
        series: "traefik-gateway",
        basis: "GatewayClass traefik (traefik.io/gateway-controller) of Gateway gateways/public",
      },
    ],
    [
      "two listeners of Traefik's Gateways",
      canary("gatewayapi", {
        service: {
          gatewayRefs: [{ ...gw("public"), sectionName: "web" }, gw("internal"), { name: "local" }],
        },
      }),
      [],
      { series: "traefik-gateway" },
    ],
    [
      "Istio's GatewayClass",
      canary("gatewayapi", { service: { gatewayRefs: [gw("mesh-gw")] } }),
      [],
      { series: "istio" },
    ],
    [
      "a mesh Service parent (GAMMA), beside a Gateway",
      canary("gatewayapi", {
        service: { gatewayRefs: [gw("public"), { group: "core", kind: "Service", name: "web", port: 80 }] },
      }),
      [],
      { series: "app", basis: "the mesh parent Service shop/web (GAMMA)" },
    ],
    [
      "routeRef: the parents of the user's HTTPRoute",
      canary("gatewayapi", { routeRef: { name: "web-route" } }),
      [
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: { namespace: "shop", name: "web-route" },
          spec: { parentRefs: [{ name: "public", namespace: "gateways" }], rules: [] },
        } as KubeObject,
      ],
      { series: "traefik-gateway" },
    ],
    [
      "ingress-nginx's IngressClass",
      canary("nginx"),
      [ingress({ ingressClassName: "nginx" })],
      { series: "ingress-nginx", basis: "IngressClass nginx (k8s.io/ingress-nginx)" },
    ],
    [
      "Traefik's ingress-nginx provider under a controllerClass of its own",
      canary("nginx"),
      [ingress({ ingressClassName: "traefik-nginx" })],
      { series: "traefik-ingress-nginx", basis: "IngressClass traefik-nginx (traefik.io/ingress-nginx)" },
    ],
    [
      "the class annotation naming an IngressClass",
      canary("nginx"),
      [ingress({}, { "kubernetes.io/ingress.class": "traefik-nginx" })],
      { series: "traefik-ingress-nginx" },
    ],
    [
      "the class annotation naming no IngressClass (ingress-nginx's --ingress-class)",
      canary("nginx"),
      [ingress({}, { "kubernetes.io/ingress.class": "nginx-internal" })],
      { series: "ingress-nginx", basis: "annotation kubernetes.io/ingress.class=nginx-internal" },
    ],
  ])("%s", async (_what, c, objects, expected) => {
    const choice = await choose(c, objects);
    expect(choice).toMatchObject(expected);
    expect(choice?.fallback).toBeUndefined();
  });

  it.each<[string, Canary, KubeObject[], Partial<SeriesChoice>]>([
    [
      "Envoy Gateway: one cluster per route rule",
      canary("gatewayapi", { service: { gatewayRefs: [gw("envoy")] } }),
      [],
      { series: "app", fallback: expect.stringContaining("httproute/<namespace>/<name>/rule/<n>") },
    ],
    [
      "a controller the built-ins know no series of",
      canary("gatewayapi", { service: { gatewayRefs: [gw("cilium")] } }),
      [],
      { series: "app", fallback: "the built-ins know no series of this controller" },
    ],
    [
      "Gateways of different implementations",
      canary("gatewayapi", { service: { gatewayRefs: [gw("public"), gw("mesh-gw")] } }),
      [],
      { series: "app", fallback: expect.stringContaining("different implementations") },
    ],
    [
      "Traefik's kubernetesIngress provider (no canary annotations)",
      canary("nginx"),
      [ingress({ ingressClassName: "traefik" })],
      { series: "ingress-nginx", fallback: expect.stringContaining("kubernetesIngressNGINX") },
    ],
  ])("%s: the router's default, and why", async (_what, c, objects, expected) => {
    const choice = await choose(c, objects);
    expect(choice).toMatchObject(expected);
    expect(choice?.failed).toBeUndefined();
  });

  it.each<[string, Canary, KubeObject[], string]>([
    [
      "a missing Gateway",
      canary("gatewayapi", { service: { gatewayRefs: [gw("gone")] } }),
      [],
      "Gateway gateways/gone not found",
    ],
    [
      "a missing GatewayClass",
      canary("gatewayapi", { service: { gatewayRefs: [gw("classless")] } }),
      [],
      "GatewayClass missing (of Gateway gateways/classless) not found",
    ],
    [
      "a missing routeRef HTTPRoute",
      canary("gatewayapi", { routeRef: { name: "gone" } }),
      [],
      "HTTPRoute shop/gone (spec.routeRef) not found",
    ],
    [
      "a missing IngressClass",
      canary("nginx"),
      [ingress({ ingressClassName: "gone" })],
      "IngressClass gone not found",
    ],
  ])("%s: the router's default, as a failure", async (_what, c, objects, fallback) => {
    const choice = await choose(c, objects);
    expect(choice).toMatchObject({
      series: c.spec.provider === "nginx" ? "ingress-nginx" : "app",
      fallback,
      failed: true,
    });
  });

  it("no permission to read GatewayClasses: the default, and the message says forbidden", async () => {
    const client = new RecordingClient(CLASSES);
    client.forbidden.add("GatewayClass");
    const c = canary("gatewayapi", { service: { gatewayRefs: [gw("public")] } });
    const choice = await new SeriesResolver(client, async () => {}).choose(c, "gatewayapi");
    expect(choice).toMatchObject({ series: "app", failed: true });
    expect(choice?.fallback).toBe(
      "reading GatewayClass traefik (of Gateway gateways/public) failed: forbidden (GatewayClass is forbidden)",
    );
    expect(describeChoice(choice as SeriesChoice)).toBe(
      "the built-in metrics read the application's own histogram (http_request_duration_seconds), the router's default: Gateway gateways/public: reading GatewayClass " +
        "traefik (of Gateway gateways/public) failed: forbidden (GatewayClass is forbidden); a MetricTemplate reads other series",
    );
  });

  it("the class annotation with IngressClasses forbidden: a failure, not the quiet default of a missing class", async () => {
    const client = new RecordingClient([...CLASSES, ingress({}, { "kubernetes.io/ingress.class": "nginx" })]);
    client.forbidden.add("IngressClass");
    const choice = await new SeriesResolver(client, async () => {}).choose(canary("nginx"), "nginx");
    expect(choice).toMatchObject({
      series: "ingress-nginx",
      failed: true,
      fallback: "reading IngressClass nginx failed: forbidden (IngressClass is forbidden)",
    });
  });

  describe("an Ingress without a class: the cluster's default IngressClass", () => {
    const classless = ingress({});
    const marked = (name: string, controller: string): KubeObject => {
      const cls = ingressClass(name, controller);
      return {
        ...cls,
        metadata: { ...cls.metadata, annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } },
      };
    };

    it("reads the series of the default class's controller", async () => {
      expect(await choose(canary("nginx"), [classless, marked("edge", "traefik.io/ingress-nginx")])).toEqual({
        router: "nginx",
        series: "traefik-ingress-nginx",
        basis: "the default IngressClass edge (traefik.io/ingress-nginx) (the Ingress names no class)",
      });
    });

    it("keeps the router's default quietly when no class is the default", async () => {
      expect(await choose(canary("nginx"), [classless])).toEqual({
        router: "nginx",
        series: "ingress-nginx",
        basis: "the Ingress names no class and no IngressClass is the default",
      });
    });

    it("keeps the router's default, saying why, when several classes are marked default", async () => {
      const choice = await choose(canary("nginx"), [
        classless,
        marked("edge", "traefik.io/ingress-nginx"),
        marked("nginx-default", "k8s.io/ingress-nginx"),
      ]);
      expect(choice).toMatchObject({ series: "ingress-nginx" });
      expect(choice?.fallback).toBe(
        "several IngressClasses are marked default (edge, nginx-default), so nothing says which one serves it; set spec.ingressClassName",
      );
      expect(choice?.failed).toBeUndefined();
    });

    it("reports a list it may not make as a failure", async () => {
      const client = new RecordingClient([...CLASSES, classless]);
      client.forbidden.add("IngressClass");
      const choice = await new SeriesResolver(client, async () => {}).choose(canary("nginx"), "nginx");
      expect(choice).toMatchObject({
        series: "ingress-nginx",
        failed: true,
        fallback: "listing IngressClasses for the default one failed: forbidden (IngressClass is forbidden)",
      });
    });
  });

  it("kubernetes and appmesh have nothing to look up", async () => {
    expect(await choose(canary("kubernetes"))).toBeUndefined();
  });
});

describe("SeriesResolver", () => {
  const traefikCanary = (generation: number) => {
    const c = canary("gatewayapi", { service: { gatewayRefs: [gw("public")] } });
    c.metadata.generation = generation;
    return c;
  };

  it("reads the Gateway and its class once per Canary generation, and tells each decision once", async () => {
    const client = new RecordingClient(CLASSES);
    const told: string[] = [];
    const resolver = new SeriesResolver(client, async (_c, choice) => {
      told.push(describeChoice(choice));
    });
    for (let i = 0; i < 5; i++)
      expect((await resolver.choose(traefikCanary(1), "gatewayapi"))?.series).toBe("traefik-gateway");
    expect(client.reads).toEqual(["Gateway", "GatewayClass"]);
    expect(told).toEqual([
      "the built-in metrics read Traefik's series: GatewayClass traefik (traefik.io/gateway-controller) of Gateway gateways/public",
    ]);
    await resolver.choose(traefikCanary(2), "gatewayapi");
    expect(client.reads).toEqual(["Gateway", "GatewayClass", "Gateway", "GatewayClass"]);
    expect(told).toHaveLength(2);
  });

  it("routeRef: the HTTPRoute (from the watch cache) is read each time; the classes only when its parents change", async () => {
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { namespace: "shop", name: "web-route" },
      spec: { parentRefs: [{ name: "public", namespace: "gateways" }], rules: [] },
    } as KubeObject;
    const client = new RecordingClient([...CLASSES, route]);
    const resolver = new SeriesResolver(client, async () => {});
    const c = canary("gatewayapi", { routeRef: { name: "web-route" } });
    await resolver.choose(c, "gatewayapi");
    await resolver.choose(c, "gatewayapi");
    expect(client.reads).toEqual(["HTTPRoute", "Gateway", "GatewayClass", "HTTPRoute"]);
    client.seed({
      ...route,
      spec: { parentRefs: [{ name: "mesh-gw", namespace: "gateways" }], rules: [] },
    } as KubeObject);
    expect((await resolver.choose(c, "gatewayapi"))?.series).toBe("istio");
    expect(client.reads.slice(4)).toEqual(["HTTPRoute", "Gateway", "GatewayClass"]);
  });

  it("tries a failed read again after five minutes, and tells a failure that repeats only once", async () => {
    const client = new RecordingClient(CLASSES);
    client.forbidden.add("GatewayClass");
    let now = 0;
    const told: SeriesChoice[] = [];
    const resolver = new SeriesResolver(
      client,
      async (_c, choice) => {
        told.push(choice);
      },
      () => now,
    );
    await resolver.choose(traefikCanary(1), "gatewayapi");
    now = 4 * 60_000;
    await resolver.choose(traefikCanary(1), "gatewayapi");
    expect(client.reads).toEqual(["Gateway", "GatewayClass"]);
    now = 5 * 60_000;
    await resolver.choose(traefikCanary(1), "gatewayapi");
    expect(client.reads).toEqual(["Gateway", "GatewayClass", "Gateway", "GatewayClass"]);
    expect(told).toHaveLength(1);
    // Granted since: the next retry finds Traefik, and says so.
    client.forbidden.clear();
    now = 10 * 60_000;
    expect((await resolver.choose(traefikCanary(1), "gatewayapi"))?.series).toBe("traefik-gateway");
    expect(told.map((c) => c.series)).toEqual(["app", "traefik-gateway"]);
  });
});
