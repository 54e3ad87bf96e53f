// What `kanaria migrate appmesh-to-gatewayapi` prints is accepted by the API server: every converted
// Canary (Flagger's App Mesh manifests and the project's example) is created with a server-side dry
// run against the kanaria CRDs, whose schema and CEL rules are the ones the cluster enforces.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { migrateSource } from "../../src/migrate/index.ts";
import { kubeConfig, useNamespace } from "../support/k8s.ts";

const ROOT = join(import.meta.dirname, "../..");
const ns = useNamespace("migrate-apply");

const inputs = [
  ...["appmesh-tutorial", "appmesh-tutorial-ab-cookie", "appmesh-canary", "appmesh-abtest"].map((f) =>
    join(ROOT, "test/migrate/fixtures", `${f}.yaml`),
  ),
  join(ROOT, "examples/appmesh/podinfo.yaml"),
];

describe("converted Canaries on the API server", () => {
  it.each(inputs)("%s", async (file) => {
    const out = migrateSource({ file, text: readFileSync(file, "utf8") }, { gateway: "lattice" });
    expect(out.canaries.map((c) => c.problems)).toEqual([[]]);
    const api = k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
    const canaries = parseAllDocuments(out.text)
      .map((d) => d.toJS() as k8s.KubernetesObject)
      .filter((o) => o?.kind === "Canary");
    expect(canaries).toHaveLength(1);
    for (const c of canaries) {
      const body = { ...c, metadata: { ...c.metadata, namespace: ns } };
      const created = await api.create(body, undefined, "All", "kanaria-test");
      expect((created as { spec?: { provider?: string } }).spec?.provider).toBe("gatewayapi");
    }
  });

  it("refuses the unconverted tutorial Canary (service.rewrite, which App Mesh cannot write): the check can fail", async () => {
    const file = join(ROOT, "test/migrate/fixtures/appmesh-tutorial.yaml");
    const input = parseAllDocuments(readFileSync(file, "utf8"))[0]?.toJS() as k8s.KubernetesObject;
    const api = k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
    // Flagger's appmesh:v1beta2 spelling is accepted; the HTTPRoute-only rewrite is what is refused.
    await expect(
      api.create(
        { ...input, metadata: { ...input.metadata, namespace: ns } },
        undefined,
        "All",
        "kanaria-test",
      ),
    ).rejects.toThrow(/HTTP-Code: 422[\s\S]*spec.service.rewrite/);
  });
});
