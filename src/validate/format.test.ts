import { describe, expect, it } from "vitest";
import { escapeText, formatJson, formatProblem, formatSummary, formatText } from "./format.ts";
import { type Problem, type ValidateResult, validateSources } from "./index.ts";
import { formatPath } from "./problem.ts";

const problem: Problem = {
  file: "apps/canary.yaml",
  line: 12,
  column: 7,
  severity: "error",
  kind: "Canary",
  name: "podinfo",
  namespace: "test",
  path: "spec.analysis.metrics[2].thresholdRange",
  message: "thresholdRange needs min, max or both",
};

function result(problems: Problem[], files = 3, objects = 5): ValidateResult {
  const errors = problems.filter((p) => p.severity === "error").length;
  return {
    problems,
    files,
    objects,
    errors,
    warnings: problems.filter((p) => p.severity === "warning").length,
    notes: problems.filter((p) => p.severity === "note").length,
    omitted: 0,
    ioErrors: [],
    exitCode: errors > 0 ? 1 : 0,
  };
}

describe("text output", () => {
  it("prints FILE:LINE:COL: SEVERITY: KIND/NAME: FIELD.PATH: message", () => {
    expect(formatProblem(problem)).toBe(
      "apps/canary.yaml:12:7: error: Canary/podinfo: spec.analysis.metrics[2].thresholdRange: thresholdRange needs min, max or both",
    );
  });

  it("leaves out the object and path of a file-level problem", () => {
    const syntax = {
      ...problem,
      kind: null,
      name: null,
      namespace: null,
      path: "",
      message: "YAML syntax error: x",
    };
    expect(formatProblem(syntax)).toBe("apps/canary.yaml:12:7: error: YAML syntax error: x");
  });

  it("marks an object without a name", () => {
    expect(formatProblem({ ...problem, name: null })).toContain(": Canary/<unnamed>: ");
  });

  it("ends with a summary with singular and plural counts", () => {
    const warning = { ...problem, severity: "warning" as const };
    expect(formatSummary(result([problem, problem, warning]))).toBe(
      "3 files, 5 kanaria objects: 2 errors, 1 warning",
    );
    expect(formatSummary(result([], 1, 1))).toBe("1 file, 1 kanaria object: 0 errors, 0 warnings");
    expect(formatText(result([problem])).split("\n")).toEqual([
      formatProblem(problem),
      "3 files, 5 kanaria objects: 1 error, 0 warnings",
      "",
    ]);
  });

  it("prints only problems when quiet, and nothing when there are none", () => {
    expect(formatText(result([problem]), { quiet: true })).toBe(`${formatProblem(problem)}\n`);
    expect(formatText(result([]), { quiet: true })).toBe("");
  });
});

describe("json output", () => {
  it("has the problems and a summary", () => {
    expect(JSON.parse(formatJson(result([problem])))).toEqual({
      problems: [problem],
      summary: { files: 3, objects: 5, errors: 1, warnings: 0, ioErrors: [] },
    });
  });
});

describe("input text in the output", () => {
  it("escapes control characters so one problem stays one line", () => {
    const line = formatProblem({
      ...problem,
      file: "a\rb.yaml",
      kind: "Ca\nnary",
      name: "x\u0000y\u200bz",
      path: 'spec["a\\u001bb"]',
      message: "bad\u2028value\t\u202eend",
    });
    expect(line).toBe(
      'a\\rb.yaml:12:7: error: Ca\\nnary/x\\x00y\\u200bz: spec["a\\u001bb"]: bad\\u2028value\\t\\u202eend',
    );
    expect(line.split("\n")).toHaveLength(1);
  });

  // Found by the manifest fuzz: a "\ud800" escape in a double-quoted name is a lone surrogate, which
  // UTF-8 output turned into a raw U+FFFD in the KIND/NAME prefix.
  it("escapes lone surrogates in every part of the line and keeps surrogate pairs", () => {
    const text =
      'apiVersion: kanaria.dev/v1alpha1\nkind: Canary\nmetadata:\n  name: "a\\ud800b\\udc00"\n  namespace: "\u{1F600}"\n';
    const out = formatText(validateSources([{ file: "lone\ud800.yaml", text }]));
    const line = out.split("\n").find((l) => l.includes("metadata.name")) ?? "";
    expect(line).toMatch(/^lone\\ud800\.yaml:4:9: error: Canary\/a\\ud800b\\udc00: metadata\.name: /);
    // Every line survives UTF-8 output unchanged: no unpaired surrogate is left to be replaced.
    expect(Buffer.from(out, "utf8").toString("utf8")).toBe(out);
    expect(escapeText("\u{1F600}\udc00\ud83d")).toBe("\u{1F600}\\udc00\\ud83d");
  });

  it("cuts long names and messages in the middle, in text and JSON", () => {
    const long = { ...problem, name: "n".repeat(10_000_000), message: `unknown field "${"k".repeat(5000)}"` };
    const line = formatProblem(long);
    expect(line.length).toBeLessThan(1500);
    expect(line).toMatch(/Canary\/n+…\(9999\d{3} more\)…n+: /);
    const json = JSON.parse(formatJson(result([long]))) as { problems: { name: string; message: string }[] };
    expect(json.problems[0]?.name.length).toBeLessThanOrEqual(253);
    expect(json.problems[0]?.message.length).toBeLessThanOrEqual(1000);
  });
});

describe("formatPath", () => {
  it("quotes keys that are not plain words and cuts long keys and paths", () => {
    expect(formatPath(["metadata", "labels", "app.kubernetes.io/name"])).toBe(
      'metadata.labels["app.kubernetes.io/name"]',
    );
    expect(formatPath(["spec", "a\nb", 0, "x-y_z"])).toBe('spec["a\\nb"][0].x-y_z');
    expect(formatPath(["spec", "k".repeat(1000)]).length).toBeLessThan(120);
    expect(formatPath(Array.from({ length: 500 }, () => "abc")).length).toBeLessThanOrEqual(220);
  });
});
