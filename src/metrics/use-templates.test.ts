import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { metricTemplate } from "../api/metric-template.ts";
import { renderQuery } from "./template.ts";
import { USE_TEMPLATES } from "./use-templates.ts";

const yamlFile = new URL("../../examples/metric-templates/use.yaml", import.meta.url);

describe("USE MetricTemplates", () => {
  const documents = parseAllDocuments(readFileSync(yamlFile, "utf8")).map((d) => d.toJS());

  it("examples/metric-templates/use.yaml validates with the MetricTemplate schema", () => {
    for (const doc of documents) {
      const parsed = metricTemplate.safeParse(doc);
      expect(parsed.error?.issues ?? [], JSON.stringify(doc?.metadata)).toEqual([]);
    }
  });

  it("the YAML and the exported objects are the same", () => {
    expect(documents).toEqual(USE_TEMPLATES);
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
    for (const template of USE_TEMPLATES) {
      expect(metricTemplate.parse(template)).toEqual(template);
      expect(renderQuery(template.spec.query, model)).toContain(
        'namespace="shop", pod=~"web-[0-9a-zA-Z]+-[0-9a-zA-Z]+"',
      );
    }
  });
});
