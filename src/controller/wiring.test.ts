import { describe, expect, it } from "vitest";
import { API_VERSION } from "../api/common.ts";
import type { MetricTemplate } from "../api/metric-template.ts";
import type { KubeObject } from "../kube/types.ts";
import { cachedTemplateLookups } from "./wiring.ts";

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
