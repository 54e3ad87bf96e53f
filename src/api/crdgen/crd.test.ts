import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { KINDS } from "../kinds.ts";
import { crdFileName, crdFor, crdYaml } from "./crd.ts";
import { toStructural } from "./structural.ts";

const repoRoot = join(import.meta.dirname, "../../..");

type Node = Record<string, unknown>;

/** Walks every schema node of a CRD's openAPIV3Schema. */
function* schemaNodes(node: Node, path = "$"): Generator<[string, Node]> {
  yield [path, node];
  for (const [key, child] of Object.entries((node.properties as Record<string, Node>) ?? {})) {
    yield* schemaNodes(child, `${path}.${key}`);
  }
  if (typeof node.items === "object") yield* schemaNodes(node.items as Node, `${path}[]`);
  if (typeof node.additionalProperties === "object")
    yield* schemaNodes(node.additionalProperties as Node, `${path}{}`);
}

it("the Helm chart carries exactly the generated CRDs", () => {
  const files = readdirSync(join(repoRoot, "charts", "kanaria", "crds")).filter((f) => f.endsWith(".yaml"));
  expect(files.sort()).toEqual(KINDS.map(crdFileName).sort());
});

describe.each(KINDS.map((k) => [k.kind, k] as const))("the %s CRD", (_name, kind) => {
  const crd = crdFor(kind) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema as Node;

  it("is committed exactly as `make crds` generates it", () => {
    const committed = readFileSync(join(repoRoot, "crds", crdFileName(kind)), "utf8");
    expect(committed, "crds/ is stale: run `make crds` and commit the result").toBe(crdYaml(kind));
  });

  it("ships unchanged in the Helm chart (charts/kanaria/crds links to crds/)", () => {
    const inChart = readFileSync(join(repoRoot, "charts", "kanaria", "crds", crdFileName(kind)), "utf8");
    expect(inChart, "charts/kanaria/crds must be the symlink ../../crds").toBe(crdYaml(kind));
  });

  it("is a structural schema", () => {
    for (const [path, node] of schemaNodes(schema)) {
      for (const banned of ["$ref", "$schema", "anyOf", "oneOf", "allOf", "default"]) {
        expect(node, `${path} has ${banned}`).not.toHaveProperty(banned);
      }
      if ("properties" in node) expect(node, `${path}`).not.toHaveProperty("additionalProperties");
      const typed = "type" in node || node["x-kubernetes-int-or-string"] === true;
      expect(typed, `${path} has no type`).toBe(true);
    }
  });

  it("parses back as YAML", () => {
    expect(parse(crdYaml(kind)).metadata.name).toBe(`${kind.plural}.kanaria.dev`);
  });
});

describe("Canary CRD details", () => {
  const canary = KINDS.find((k) => k.kind === "Canary");
  const crd = canary ? (crdFor(canary) as { spec: Node }) : undefined;
  if (!crd) throw new Error("the Canary kind is missing from KINDS");
  const version = (crd.spec.versions as Node[])[0] as Node;
  const spec = ((version.schema as Node).openAPIV3Schema as Node).properties as Record<string, Node>;
  const specProps = spec.spec?.properties as Record<string, Node>;

  it("has the status subresource, printer columns and short names", () => {
    expect(version.subresources).toEqual({ status: {} });
    expect((version.additionalPrinterColumns as Node[]).map((c) => c.name)).toEqual([
      "Status",
      "Weight",
      "FailedChecks",
      "LastTransition",
    ]);
    expect((crd.spec.names as Node).shortNames).toEqual(["cd"]);
  });

  it("marks int-or-string fields and enumerations", () => {
    const service = specProps.service?.properties as Record<string, Node>;
    expect(service.targetPort).toMatchObject({ "x-kubernetes-int-or-string": true });
    expect(specProps.provider?.enum).toEqual([
      "kubernetes",
      "nginx",
      "gatewayapi",
      "appmesh",
      "gatewayapi:v1",
      "gatewayapi:v1beta1",
      "appmesh:v1beta2",
    ]);
  });

  it("carries the cross-field rules as CEL", () => {
    const analysis = specProps.analysis as Node;
    const rules = (analysis["x-kubernetes-validations"] as { rule: string }[]).map((r) => r.rule);
    expect(rules).toContain("!(has(self.stepWeight) && has(self.stepWeights))");
    expect(rules).toContain("!has(self.stepWeights) || self.stepWeights.isSorted()");
  });
});

describe("toStructural", () => {
  it("rejects unions and references it cannot express", () => {
    expect(() => toStructural({ anyOf: [{ type: "string" }, { type: "object" }] })).toThrow(/not structural/);
    expect(() => toStructural({ $ref: "#/definitions/x" })).toThrow(/\$ref/);
  });

  it("turns maps into additionalProperties and drops zod's integer bounds", () => {
    expect(
      toStructural({
        type: "object",
        propertyNames: { type: "string" },
        additionalProperties: { type: "integer", minimum: -9007199254740991, maximum: 9007199254740991 },
      }),
    ).toEqual({ type: "object", additionalProperties: { type: "integer" } });
  });

  it("writes exclusive bounds as OpenAPI v3.0 booleans, which apiextensions reads", () => {
    expect(toStructural({ type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 })).toEqual({
      type: "number",
      minimum: 0,
      exclusiveMinimum: true,
      maximum: 1,
      exclusiveMaximum: true,
    });
  });
});
