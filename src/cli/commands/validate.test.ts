// End to end: runs the real CLI (`node src/cli/main.ts validate ...`) the way CI would.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");
const FIXTURES = "test/fixtures/validate";

function kanaria(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  // process.execPath is the Node 24 that runs vitest, which can run the .ts sources directly.
  const run = spawnSync(process.execPath, ["src/cli/main.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

// Each case starts a Node process (about a second each on a busy CI runner).
describe("kanaria validate", { timeout: 30_000 }, () => {
  it("exits 0 for the converted Flagger examples and prints the summary", () => {
    const run = kanaria("validate", "examples/flagger-migration");
    expect(run).toEqual({
      code: 0,
      stdout: "5 files, 7 kanaria objects: 0 errors, 0 warnings\n",
      stderr: "",
    });
  });

  it("exits 1 and prints one FILE:LINE:COL line per problem", () => {
    const run = kanaria("validate", `${FIXTURES}/positions.yaml`);
    expect(run.code).toBe(1);
    expect(run.stdout.split("\n")).toEqual([
      `${FIXTURES}/positions.yaml:10:3: error: Canary/podinfo: spec.service.port: missing required field "port"`,
      `${FIXTURES}/positions.yaml:13:5: error: Canary/podinfo: spec.analysis.treshold: unknown field "treshold" (did you mean "threshold"?)`,
      `${FIXTURES}/positions.yaml:14:17: error: Canary/podinfo: spec.analysis.stepWeight: expected a whole number, got the string "10": remove the quotes`,
      `${FIXTURES}/positions.yaml:20:9: error: Canary/podinfo: spec.analysis.metrics[1].thresholdRange: thresholdRange.min must not be greater than thresholdRange.max`,
      `${FIXTURES}/positions.yaml:29:1: error: AlertProvider/slack: spec.secretRef: an AlertProvider needs address or secretRef (a Secret with an \`address\` key)`,
      "1 file, 2 kanaria objects: 5 errors, 0 warnings",
      "",
    ]);
    expect(run.stderr).toBe("");
  });

  it("prints only the problems with --quiet", () => {
    const run = kanaria("validate", "--quiet", `${FIXTURES}/syntax-error.yaml`);
    expect(run).toEqual({
      code: 1,
      stdout: `${FIXTURES}/syntax-error.yaml:16:1: error: YAML syntax error: Missing closing "quote\n`,
      stderr: "",
    });
    expect(kanaria("validate", "-q", "examples/flagger-migration")).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
  });

  it("prints JSON with --format json", () => {
    const run = kanaria("validate", "--format", "json", `${FIXTURES}/invalid`);
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout) as {
      problems: Record<string, unknown>[];
      summary: Record<string, unknown>;
    };
    expect(out.summary).toEqual({ files: 3, objects: 4, errors: 2, warnings: 3, ioErrors: [] });
    expect(out.problems[0]).toEqual({
      file: `${FIXTURES}/invalid/cross-refs.yaml`,
      line: 10,
      column: 11,
      severity: "error",
      kind: "Canary",
      name: "api",
      namespace: "prod",
      path: "spec.service.port",
      message: `Deployment "api" (${FIXTURES}/invalid/cross-refs.yaml:26) has no container port 8080; its ports are 80 (http): set service.port to one of them`,
    });
  });

  it("passes warnings unless --strict", () => {
    const hint = `${FIXTURES}/missing-template.yaml:20:9: warning: Canary/podinfo: spec.analysis.metrics[0].templateRef: MetricTemplate "test/latency" is not among the validated files: add its manifest, or ignore this if it is applied to the cluster some other way`;
    expect(kanaria("validate", `${FIXTURES}/missing-template.yaml`)).toMatchObject({
      code: 0,
      stdout: `${hint}\n1 file, 1 kanaria object: 0 errors, 1 warning\n`,
    });
    expect(kanaria("validate", "--strict", `${FIXTURES}/missing-template.yaml`).code).toBe(1);
  });

  it("fails a Flagger object, naming the apiVersion kanaria serves", () => {
    expect(kanaria("validate", `${FIXTURES}/flagger.yaml`)).toEqual({
      code: 1,
      stdout: `${FIXTURES}/flagger.yaml:1:13: error: Canary/podinfo: apiVersion: flagger.app/v1beta1 is Flagger's API, which kanaria does not act on; kanaria serves kanaria.dev/v1alpha1: set apiVersion to kanaria.dev/v1alpha1\n1 file, 0 kanaria objects: 1 error, 0 warnings\n`,
      stderr: "",
    });
  });

  it("exits 2 for a missing path, without a stack trace, after checking the other paths", () => {
    const run = kanaria("validate", `${FIXTURES}/nope.yaml`, `${FIXTURES}/repo`);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`kanaria validate: ${FIXTURES}/nope.yaml: no such file or directory\n`);
    expect(run.stdout).toBe("5 files, 3 kanaria objects: 0 errors, 0 warnings\n");
  });

  it.each([
    ["no path", ["validate"]],
    ["an unknown format", ["validate", "--format", "xml", "examples"]],
    ["an unknown option", ["validate", "--strikt", "examples"]],
  ])("exits 2 for a usage error: %s", (_, args) => {
    const run = kanaria(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: /);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  it("documents the exit codes in --help", () => {
    const run = kanaria("validate", "--help");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Exit codes: 0 no errors, 1 an object is invalid");
  });
});
