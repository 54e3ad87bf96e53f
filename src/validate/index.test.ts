import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatText } from "./format.ts";
import { Run, validatePaths, validateSources } from "./index.ts";
import { scan } from "./scan.ts";

const FIXTURES = join(import.meta.dirname, "../../test/fixtures/validate");
const EXAMPLES = join(import.meta.dirname, "../../examples/flagger-migration");

describe("validatePaths", () => {
  it("accepts every converted Flagger example", async () => {
    const result = await validatePaths([EXAMPLES]);
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ files: 5, objects: 7, errors: 0, warnings: 0, exitCode: 0 });
  });

  it("accepts a GitOps repository whose references all resolve", async () => {
    const result = await validatePaths([join(FIXTURES, "repo")]);
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ files: 5, objects: 3, exitCode: 0 });
  });

  it("puts every problem at the line and column of its node", async () => {
    const file = join(FIXTURES, "positions.yaml");
    const result = await validatePaths([file]);
    expect(
      result.problems.map((p) => [p.line, p.column, p.severity, `${p.kind}/${p.name}`, p.path, p.message]),
    ).toEqual([
      // missing field: its parent's key
      [10, 3, "error", "Canary/podinfo", "spec.service.port", 'missing required field "port"'],
      // unknown field: its key
      [
        13,
        5,
        "error",
        "Canary/podinfo",
        "spec.analysis.treshold",
        'unknown field "treshold" (did you mean "threshold"?)',
      ],
      // wrong type: its value
      [
        14,
        17,
        "error",
        "Canary/podinfo",
        "spec.analysis.stepWeight",
        'expected a whole number, got the string "10": remove the quotes',
      ],
      // a rule on a whole mapping inside a list: the mapping's key
      [
        20,
        9,
        "error",
        "Canary/podinfo",
        "spec.analysis.metrics[1].thresholdRange",
        "thresholdRange.min must not be greater than thresholdRange.max",
      ],
      // second document: offsets count from the start of the file
      [
        29,
        1,
        "error",
        "AlertProvider/slack",
        "spec.secretRef",
        "an AlertProvider needs address or secretRef (a Secret with an `address` key)",
      ],
    ]);
    expect(result.problems.every((p) => p.file === file && p.namespace === "test")).toBe(true);
    expect(result).toMatchObject({ files: 1, objects: 2, errors: 5, warnings: 0, exitCode: 1 });
  });

  it("reports a YAML syntax error with the parser's position", async () => {
    const result = await validatePaths([join(FIXTURES, "syntax-error.yaml")]);
    expect(result.problems).toEqual([
      expect.objectContaining({
        line: 16,
        column: 1,
        severity: "error",
        kind: null,
        message: 'YAML syntax error: Missing closing "quote',
      }),
    ]);
    expect(result.exitCode).toBe(1);
  });

  it("fails a Flagger object, naming the apiVersion kanaria serves", async () => {
    const result = await validatePaths([join(FIXTURES, "flagger.yaml")]);
    expect(result).toMatchObject({ objects: 0, errors: 1, warnings: 0, exitCode: 1 });
    expect(result.problems[0]).toMatchObject({
      line: 1,
      column: 13,
      severity: "error",
      kind: "Canary",
      name: "podinfo",
      message: expect.stringContaining("kanaria serves kanaria.dev/v1alpha1"),
    });
  });

  // Found by the manifest fuzz: these were skipped as "not ours", yet applying them fails.
  it.each([
    ['""', '"" is not an API version kanaria serves'],
    ["v1", '"v1" is not an API version kanaria serves'],
    ['"{{ .Values.apiVersion }}"', "is an unrendered template"],
    ["kanria.dev/v1alpha1", 'API group "kanria.dev" looks like a typo of kanaria.dev'],
    ["flagger.app/v1beta1", "flagger.app/v1beta1 is Flagger's API"],
  ])("fails a kanaria kind under apiVersion %s", (apiVersion, why) => {
    for (const kind of ["Canary", "MetricTemplate", "AlertProvider"]) {
      const text = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: x\n`;
      const result = validateSources([{ file: "x.yaml", text }]);
      expect(result.exitCode).toBe(1);
      expect(result.problems).toEqual([
        expect.objectContaining({
          line: 1,
          column: 13,
          severity: "error",
          kind,
          path: "apiVersion",
        }),
      ]);
      expect(result.problems[0]?.message).toContain(why);
      expect(result.problems[0]?.message).toMatch(
        /; kanaria serves kanaria\.dev\/v1alpha1: set apiVersion to /,
      );
    }
  });

  it("runs the cross-object checks across files", async () => {
    const result = await validatePaths([join(FIXTURES, "invalid")]);
    expect(
      result.problems.map(
        (p) => `${p.file.slice(FIXTURES.length + 1)}:${p.line}:${p.column} ${p.severity} ${p.path}`,
      ),
    ).toEqual([
      "invalid/cross-refs.yaml:10:11 error spec.service.port",
      "invalid/cross-refs.yaml:15:9 warning spec.analysis.metrics[0].templateRef",
      "invalid/cross-refs.yaml:18:9 warning spec.analysis.metrics[1].templateRef",
      "invalid/cross-refs.yaml:23:9 warning spec.analysis.alerts[0].providerRef",
      "invalid/duplicates/staging/canary.yaml:7:3 error spec.targetRef",
    ]);
    expect(result).toMatchObject({ files: 3, objects: 4, errors: 2, warnings: 3, exitCode: 1 });
  });

  it("exits 2 when a path cannot be read, after validating the others", async () => {
    const result = await validatePaths([join(FIXTURES, "does-not-exist"), join(FIXTURES, "positions.yaml")]);
    expect(result.ioErrors).toEqual([
      { path: join(FIXTURES, "does-not-exist"), message: "no such file or directory" },
    ]);
    expect(result.errors).toBe(5);
    expect(result.exitCode).toBe(2);
  });
});

describe("validateSources", () => {
  it("exits 0 with warnings only and 1 with them under strict", () => {
    const text = "apiVersion: kanaria.de/v1\nkind: Widget\nmetadata:\n  name: x\n";
    expect(validateSources([{ file: "x.yaml", text }]).exitCode).toBe(0);
    expect(validateSources([{ file: "x.yaml", text }], { strict: true }).exitCode).toBe(1);
  });

  it("counts files and kanaria objects, including invalid ones but not other kinds", () => {
    const text =
      "apiVersion: kanaria.dev/v1alpha1\nkind: Canary\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: Service\n";
    expect(
      validateSources([
        { file: "x.yaml", text },
        { file: "empty.yaml", text: "" },
      ]),
    ).toMatchObject({
      files: 2,
      objects: 1,
      exitCode: 1,
    });
  });

  it("never throws on hostile input", () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x]\n${Array.from(
      { length: 12 },
      (_, i) =>
        `${"b".repeat(i + 1)}: &${"b".repeat(i + 1)} [${Array(9)
          .fill(i === 0 ? "*a" : `*${"b".repeat(i)}`)
          .join(", ")}]`,
    ).join("\n")}\n`;
    const texts = [
      "\u0000\u0001binary",
      ":\n:\n",
      "apiVersion: kanaria.dev/v1alpha1\nkind: Canary\nspec: 5\n",
      bomb,
    ];
    for (const text of texts) expect(() => validateSources([{ file: "x.yaml", text }])).not.toThrow();
  });
});

it("names an unquoted template in apiVersion as one", () => {
  const text = "apiVersion: {{ .Values.apiVersion }}\nkind: Canary\nmetadata:\n  name: x\n";
  expect(validateSources([{ file: "t.yaml", text }]).problems).toEqual([
    expect.objectContaining({
      line: 1,
      severity: "error",
      path: "apiVersion",
      message:
        "apiVersion must be a string such as kanaria.dev/v1alpha1; got a mapping (an unrendered template: validate the rendered output)",
    }),
  ]);
});

describe("the per-run limits", () => {
  const canary = (name: string, port: unknown) =>
    `apiVersion: kanaria.dev/v1alpha1\nkind: Canary\nmetadata:\n  name: ${name}\nspec:\n  targetRef:\n    name: ${name}\n  service:\n    port: ${port}\n  analysis:\n    interval: 1m\n    threshold: 5\n    stepWeight: 10\n`;

  it("keeps objects for the cross-object checks up to the run's budget, then says so and checks the rest one by one", () => {
    // The budget holds two of these Canaries.
    const values = [...scan(canary("a", 80))][0]?.values ?? 0;
    expect(values).toBeGreaterThan(10);
    const run = new Run({ runValues: 2 * values, problems: 100 });
    run.add({ file: "a.yaml", text: `${canary("a", 80)}---\n${canary("b", 80)}` });
    run.add({ file: "c.yaml", text: `${canary("c", 80)}---\n${canary("d", '"x"')}` });
    const result = run.result({}, []);
    expect(result.objects).toBe(4);
    expect(result.problems.map((p) => `${p.file}:${p.line} ${p.name} ${p.path}`)).toEqual([
      "c.yaml:1 c ",
      "c.yaml:23 d spec.service.port",
    ]);
    expect(result.problems[0]?.message).toMatch(
      new RegExp(
        `^the cross-object checks hold up to ${2 * values} YAML values .*: validate fewer files at once$`,
      ),
    );
    expect(result.exitCode).toBe(1);
  });

  it("lists the first problems and counts all of them", () => {
    const run = new Run({ runValues: 1000, problems: 3 });
    run.add({ file: "l.yaml", text: `apiVersion: v1\nkind: List\nitems:\n${"- 1\n".repeat(10)}` });
    const result = run.result({}, []);
    expect(result).toMatchObject({ errors: 10, omitted: 7, exitCode: 1 });
    expect(result.problems.map((p) => p.line)).toEqual([4, 5, 6]);
    expect(formatText(result).split("\n").slice(-3)).toEqual([
      "... and 7 more problems, not listed (kanaria validate lists the first 3)",
      "1 file, 0 kanaria objects: 10 errors, 0 warnings",
      "",
    ]);
  });
});
