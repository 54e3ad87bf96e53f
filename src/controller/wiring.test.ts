import pino from "pino";
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import type { Canary } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import type { MetricTemplate } from "../api/metric-template.ts";
import type { KubeObject } from "../kube/types.ts";
import { builtinSeries, cachedTemplateLookups } from "./wiring.ts";

const template = (namespace: string, name: string, query: string) =>
  ({
    apiVersion: API_VERSION,
    kind: "MetricTemplate",
    metadata: { name, namespace },
    spec: { provider: { type: "prometheus", address: "http://prometheus:9090" }, query },
  }) as KubeObject & MetricTemplate;

/** The API server's answer, tagged so a test sees which source answered. */
function apiLookups(asked: string[]) {
  return {
    templates: async (namespace: string, name: string) => {
      asked.push(`${namespace}/${name}`);
      return template(namespace, name, "from the API server");
    },
    secrets: async () => undefined,
  };
}

const cache = (...objects: KubeObject[]) => [
  { get: (key: string) => objects.find((o) => `${o.metadata.namespace}/${o.metadata.name}` === key) },
];

describe("cachedTemplateLookups", () => {
  it("answers a watched namespace from the watch cache, without asking the API server", async () => {
    const asked: string[] = [];
    const lookups = cachedTemplateLookups(apiLookups(asked), cache(template("shop", "rate", "cached")), [
      "shop",
    ]);
    expect((await lookups.templates("shop", "rate"))?.spec.query).toBe("cached");
    expect(asked).toEqual([]);
  });

  it("reads a template in a namespace it does not watch from the API server", async () => {
    const asked: string[] = [];
    const lookups = cachedTemplateLookups(apiLookups(asked), cache(template("ops", "rate", "cached")), [
      "shop",
    ]);
    expect((await lookups.templates("ops", "rate"))?.spec.query).toBe("from the API server");
    expect(asked).toEqual(["ops/rate"]);
  });

  it("watching all namespaces, a template missing from the cache does not exist", async () => {
    const asked: string[] = [];
    const lookups = cachedTemplateLookups(apiLookups(asked), cache(), []);
    expect(await lookups.templates("shop", "missing")).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it("rejects an invalid cached template with a message naming it", async () => {
    const invalid = { ...template("shop", "broken", "q"), spec: {} } as KubeObject;
    const lookups = cachedTemplateLookups(apiLookups([]), cache(invalid), []);
    await expect(lookups.templates("shop", "broken")).rejects.toThrow(
      "MetricTemplate shop/broken is invalid",
    );
  });
});

describe("builtinSeries", () => {
  const logger = pino({ level: "silent" });
  const objects = [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "traefik" },
      spec: { controllerName: "traefik.io/gateway-controller" },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "public", namespace: "gateways" },
      spec: { gatewayClassName: "traefik" },
    },
  ] as unknown as KubeObject[];
  const canary = (gateway: string) =>
    ({
      apiVersion: API_VERSION,
      kind: "Canary",
      metadata: { name: "web", namespace: "shop", uid: `uid-${gateway}`, generation: 1 },
      spec: {
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
        service: { port: 80, gatewayRefs: [{ name: gateway, namespace: "gateways" }] },
        analysis: { interval: "1m" },
      },
    }) as unknown as Canary;
  const builtin = [{ name: "request-success-rate", interval: "1m", onNoData: "fail" as const }];

  it("reads Traefik's series behind a Traefik Gateway, and says so once in a Normal Event", async () => {
    const client = new FakeKubeClient(objects);
    const seriesOf = builtinSeries(client, logger);
    for (let i = 0; i < 3; i++) {
      expect(await seriesOf(canary("public"), { provider: "gatewayapi", metrics: builtin })).toBe(
        "traefik-gateway",
      );
    }
    expect(client.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      [
        "Normal",
        "BuiltinMetrics",
        "the built-in metrics read Traefik's series: GatewayClass traefik (traefik.io/gateway-controller) of Gateway gateways/public",
      ],
    ]);
  });

  it("a Gateway it cannot find: the router's default, told once in a Warning", async () => {
    const client = new FakeKubeClient(objects);
    const seriesOf = builtinSeries(client, logger);
    expect(await seriesOf(canary("gone"), { provider: "gatewayapi", metrics: builtin })).toBe("app");
    expect(await seriesOf(canary("gone"), { provider: "gatewayapi", metrics: builtin })).toBe("app");
    expect(client.events.map((e) => [e.type, e.message])).toEqual([
      [
        "Warning",
        "the built-in metrics read the application's own histogram (http_request_duration_seconds), the router's default: Gateway gateways/gone: Gateway gateways/gone not found; a MetricTemplate reads other series",
      ],
    ]);
  });

  it("looks nothing up for a Canary without built-in metrics", async () => {
    const client = new FakeKubeClient(objects);
    const seriesOf = builtinSeries(client, logger);
    const templated = [
      {
        name: "request-success-rate",
        interval: "1m",
        onNoData: "fail" as const,
        templateRef: { name: "mine" },
      },
    ];
    expect(await seriesOf(canary("public"), { provider: "gatewayapi", metrics: templated })).toBeUndefined();
    expect(client.events).toEqual([]);
  });
});
