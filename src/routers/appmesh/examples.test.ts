import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { FakeKubeClient } from "../../../test/helpers/fake-client.ts";
import { type Canary, canary as canarySchema } from "../../api/canary.ts";
import { resolveCanary } from "../../api/defaults.ts";
import { type MetricTemplate, metricTemplate } from "../../api/metric-template.ts";
import { parseCloudWatchQuery } from "../../metrics/providers/cloudwatch.ts";
import { renderQuery, templateModel } from "../../metrics/template.ts";
import { validateSources } from "../../validate/index.ts";
import type { Deployment } from "../../workloads/meta.ts";
import { AppMeshRouter } from "../appmesh.ts";

const DIR = join(import.meta.dirname, "../../../examples/appmesh");
const files = ["podinfo.yaml", "cloudwatch-metric-templates.yaml"].map((f) => ({
  file: f,
  text: readFileSync(join(DIR, f), "utf8"),
}));
const objects = files.flatMap((f) => parseAllDocuments(f.text).map((d) => d.toJS()));
const podinfo = canarySchema.parse(objects.find((o) => o.kind === "Canary")) as Canary;
const templates = objects
  .filter((o) => o.kind === "MetricTemplate")
  .map((o) => metricTemplate.parse(o) as MetricTemplate);

describe("examples/appmesh", () => {
  it("validates without a problem", () => {
    expect(validateSources(files).problems).toEqual([]);
  });

  it("builds App Mesh objects for the example Canary", async () => {
    const dep = objects.find((o) => o.kind === "Deployment") as Deployment;
    const client = new FakeKubeClient([dep]);
    const canary = { ...podinfo, metadata: { ...podinfo.metadata, uid: "u1" } };
    const router = new AppMeshRouter(client);
    await router.reconcile({ canary, resolved: resolveCanary(canary.spec) });
    const vr = await client.get<{ spec: { routes: { httpRoute: { retryPolicy: unknown } }[] } } & Deployment>(
      {
        apiVersion: "appmesh.k8s.aws/v1beta2",
        kind: "VirtualRouter",
        namespace: "test",
        name: "podinfo",
      },
    );
    expect(vr?.spec.routes[0]?.httpRoute.retryPolicy).toEqual({
      maxRetries: 3,
      perRetryTimeout: { unit: "ms", value: 5000 },
      httpRetryEvents: ["gateway-error", "client-error", "stream-error"],
    });
  });

  it("the CloudWatch templates render with the Canary's variables into one judged query on the canary's pods", () => {
    const metric = podinfo.spec.analysis.metrics?.find(
      (m) => m.templateRef?.name === "appmesh-envoy-success-rate",
    );
    expect(metric).toBeDefined();
    for (const template of templates) {
      const model = templateModel(podinfo, { templateVariables: metric?.templateVariables, interval: "2m" });
      const queries = parseCloudWatchQuery(renderQuery(template.spec.query, model));
      const judged = queries.filter((q) => q.ReturnData !== false);
      expect(judged, template.metadata.name).toHaveLength(1);
      for (const q of queries.filter((x) => x.MetricStat)) {
        expect(q.MetricStat?.Metric?.Namespace).toBe("ContainerInsights/Prometheus");
        expect(q.MetricStat?.Metric?.Dimensions).toEqual(
          expect.arrayContaining([
            { Name: "ClusterName", Value: "my-eks-cluster" },
            { Name: "Namespace", Value: "test" },
            { Name: "app", Value: "podinfo" },
            { Name: "envoy_http_conn_manager_prefix", Value: "ingress" },
          ]),
        );
      }
    }
    const rate = templates.find((t) => t.metadata.name === "appmesh-envoy-success-rate");
    expect(rate?.spec.query).toContain('"Expression": "100 - 100 * FILL(errors, 0) / requests"');
  });
});
