import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { CANARY } from "../../test/helpers/validate-fixtures.ts";
import { type Problem, validateSources } from "./index.ts";
import { isDnsLabel, isDnsSubdomain, qualifiedNameError } from "./metadata-check.ts";

type Obj = Record<string, unknown>;

const problemsOf = (object: Obj): Problem[] =>
  validateSources([{ file: "m.yaml", text: stringify(object) }]).problems;
const withMeta = (metadata: Obj): Obj => ({
  ...CANARY,
  metadata: { ...(CANARY.metadata as Obj), ...metadata },
});

describe("metadata as the API server checks it", () => {
  it("knows the drift annotation: warn and correct pass, anything else names the values allowed", () => {
    expect(problemsOf(withMeta({ annotations: { "kanaria.dev/drift": "warn" } }))).toEqual([]);
    expect(problemsOf(withMeta({ annotations: { "kanaria.dev/drift": "correct" } }))).toEqual([]);
    expect(problemsOf(withMeta({ annotations: { "kanaria.dev/drift": "off" } }))).toEqual([
      expect.objectContaining({
        path: 'metadata.annotations["kanaria.dev/drift"]',
        severity: "error",
        message: expect.stringMatching(/must be "correct" .* or "warn" .*, got "off"/),
      }),
    ]);
  });

  it.each([
    ["uppercase", "PodInfo"],
    ["unicode", "pødinfo"],
    ["a zero-width space", "pod\u200binfo"],
    ["a shell variable", "$" + "{HOME}"],
    ["an underscore", "pod_info"],
    ["a trailing dash", "podinfo-"],
  ])("rejects a name with %s", (_what, name) => {
    const problems = problemsOf(withMeta({ name }));
    expect(problems).toEqual([
      expect.objectContaining({
        path: "metadata.name",
        line: 4,
        message: expect.stringMatching(/is not a valid name: use lowercase letters, digits, '-' and '\.'/),
      }),
    ]);
  });

  it.each(["Test", "a.b", "x".repeat(64), "ns_1"])("rejects the namespace %j", (namespace) => {
    expect(problemsOf(withMeta({ namespace }))).toEqual([
      expect.objectContaining({
        path: "metadata.namespace",
        message: expect.stringContaining("not a valid namespace"),
      }),
    ]);
  });

  it("accepts valid names, namespaces, labels, annotations and finalizers", () => {
    const object = withMeta({
      name: "podinfo.v2-canary",
      namespace: "team-a",
      generateName: "podinfo-",
      labels: { "app.kubernetes.io/name": "podinfo", tier: "", "x_y.z": "A-b_c.d" },
      annotations: { "example.com/note": "anything: at all\nmultiline" },
      finalizers: ["kanaria.dev/finalizer"],
    });
    expect(problemsOf(object)).toEqual([]);
  });

  it("rejects unknown fields in metadata and at the top level, suggesting the field meant", () => {
    const object = { ...withMeta({ namespaces: "test", annotationss: {} }), specs: {} };
    expect(problemsOf(object).map((p) => [p.path, p.message])).toEqual([
      [
        "metadata.namespaces",
        expect.stringMatching(/^unknown field "namespaces" \(did you mean "namespace"\?\)/),
      ],
      [
        "metadata.annotationss",
        expect.stringMatching(/^unknown field "annotationss" \(did you mean "annotations"\?\)/),
      ],
      ["specs", expect.stringMatching(/^unknown field "specs" \(did you mean "spec"\?\)/)],
    ]);
  });

  it("checks label keys and values, annotation keys and finalizers", () => {
    const object = withMeta({
      labels: { "bad key": "v", ok: "has space", "Example.com/x": "v" },
      annotations: { "/x": "v" },
      finalizers: ["ok/fine", "not ok"],
    });
    expect(problemsOf(object).map((p) => p.path)).toEqual([
      'metadata.labels["bad key"]',
      "metadata.labels.ok",
      'metadata.labels["Example.com/x"]',
      'metadata.annotations["/x"]',
      "metadata.finalizers[1]",
    ]);
  });

  it("limits the annotations to 256 KiB in total", () => {
    const object = withMeta({ annotations: { a: "x".repeat(200_000), b: "y".repeat(70_000) } });
    expect(problemsOf(object)).toEqual([
      expect.objectContaining({
        path: "metadata.annotations",
        message: expect.stringContaining("at most 262144"),
      }),
    ]);
  });

  it("rejects a kanaria kind without apiVersion, and leaves other kinds without one alone", () => {
    const text = "kind: Canary\nmetadata: {name: x}\n---\nkind: Deployment\nmetadata: {name: y}\n";
    expect(
      validateSources([{ file: "m.yaml", text }]).problems.map((p) => [p.line, p.path, p.message]),
    ).toEqual([[1, "apiVersion", 'missing required field "apiVersion": set it to kanaria.dev/v1alpha1']]);
  });

  it("rejects an apiVersion or kind that is not a string, on any object", () => {
    const text =
      "apiVersion: [kanaria.dev/v1alpha1]\nkind: Canary\nmetadata: {name: x}\n---\napiVersion: v1\nkind: {a: 1}\n";
    expect(
      validateSources([{ file: "m.yaml", text }]).problems.map((p) => [p.line, p.path, p.message]),
    ).toEqual([
      [1, "apiVersion", "apiVersion must be a string such as kanaria.dev/v1alpha1; got a list"],
      [6, "kind", "kind must be a string such as Canary; got a mapping"],
    ]);
  });
});

describe("name rules", () => {
  it("DNS-1123 subdomains and labels", () => {
    expect(isDnsSubdomain("a.b-c.d")).toBe(true);
    expect(isDnsSubdomain("a".repeat(254))).toBe(false);
    expect(isDnsSubdomain(".a")).toBe(false);
    expect(isDnsLabel("a-1")).toBe(true);
    expect(isDnsLabel("a.b")).toBe(false);
  });

  it("qualified names", () => {
    expect(qualifiedNameError("kanaria.dev/revision")).toBeUndefined();
    expect(qualifiedNameError("Name_1.x")).toBeUndefined();
    expect(qualifiedNameError("a/b/c")).toContain("prefix");
    expect(qualifiedNameError("x".repeat(64))).toContain("name part");
    expect(qualifiedNameError("")).toContain("name part");
  });
});
