import { describe, expect, it } from "vitest";
import { formatJson, formatProblem, formatSummary, formatText } from "./format.ts";
import type { Problem, ValidateResult } from "./index.ts";

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
    warnings: problems.length - errors,
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
