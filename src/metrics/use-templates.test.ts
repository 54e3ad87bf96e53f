import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { metricTemplate } from "../api/metric-template.ts";
import { renderQuery } from "./template.ts";

const yamlFile = new URL("../../examples/metric-templates/use.yaml", import.meta.url);

describe("USE MetricTemplates", () => {
  const documents = parseAllDocuments(readFileSync(yamlFile, "utf8")).map((d) => d.toJS());

  it("examples/metric-templates/use.yaml validates with the MetricTemplate schema", () => {
    for (const doc of documents) {
      const parsed = metricTemplate.safeParse(doc);
      expect(parsed.error?.issues ?? [], JSON.stringify(doc?.metadata)).toEqual([]);
    }
  });

  it("holds the three USE checks", () => {
    expect(documents.map((d) => d.metadata.name)).toEqual([
      "use-cpu-throttling",
      "use-memory-utilization",
      "use-container-restarts",
    ]);
  });

  it("render with a Canary's variables", () => {
    const model = {
      namespace: "shop",
      name: "web",
      target: "web",
      service: "web",
      ingress: undefined,
      route: undefined,
      interval: "5m",
      variables: {},
    };
    for (const doc of documents) {
      const template = metricTemplate.parse(doc);
      expect(template).toEqual(doc);
      expect(renderQuery(template.spec.query, model)).toContain(
        'namespace="shop", pod=~"web-[0-9a-zA-Z]+-[0-9a-zA-Z]+"',
      );
    }
  });
});
