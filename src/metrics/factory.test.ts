import { describe, expect, it } from "vitest";
import type { MetricTemplateSpec } from "../api/metric-template.ts";
import { createMetricProvider } from "./factory.ts";

describe("createMetricProvider", () => {
  it("builds prometheus and cloudwatch providers", () => {
    expect(createMetricProvider({ type: "prometheus", address: "http://prom:9090" }, {})).toHaveProperty(
      "query",
    );
    expect(createMetricProvider({ type: "cloudwatch", region: "eu-west-1" }, {}, "max")).toHaveProperty(
      "query",
    );
  });

  it("names an unknown provider type", () => {
    const provider = { type: "datadog" } as unknown as MetricTemplateSpec["provider"];
    expect(() => createMetricProvider(provider, {})).toThrow(
      'unknown metric provider type "datadog": supported are prometheus, cloudwatch',
    );
  });

  it("rejects a CloudWatch secret without both keys", () => {
    expect(() =>
      createMetricProvider(
        { type: "cloudwatch", region: "eu-west-1", secretRef: { name: "aws" } },
        { aws_access_key_id: "AKIA" },
      ),
    ).toThrow("the secret aws needs the keys aws_access_key_id and aws_secret_access_key");
  });
});
