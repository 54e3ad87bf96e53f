// End to end: runs the real CLI (`node src/cli/main.ts migrate appmesh-to-gatewayapi ...`).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");
const FIXTURES = join(ROOT, "test/migrate/fixtures");
const work = mkdtempSync(join(tmpdir(), "kanaria-migrate-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function kanaria(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ["src/cli/main.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 90_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

// Each case starts one to three Node processes, seconds each on a busy machine.
describe("kanaria migrate appmesh-to-gatewayapi", { timeout: 180_000 }, () => {
  it("prints the converted file and reports on stderr", () => {
    const run = kanaria(
      "migrate",
      "appmesh-to-gatewayapi",
      "--gateway",
      "lattice",
      join(FIXTURES, "appmesh-canary.yaml"),
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `# Source: ${join(FIXTURES, "appmesh-canary.yaml")}\n${readFileSync(join(FIXTURES, "appmesh-canary.expected.yaml"), "utf8")}`,
    );
    expect(run.stderr).toContain(
      "appmesh-canary.yaml: Canary test/podinfo: provider gatewayapi, Gateway lattice\n",
    );
    expect(run.stderr).toContain("Next, outside these manifests:");
  });

  it("writes in place with --write, and a second run finds nothing left to convert", () => {
    const dir = join(work, "write");
    cpSync(FIXTURES, dir, { recursive: true });
    const run = kanaria("migrate", "appmesh-to-gatewayapi", "--gateway", "lattice", "--write", dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Canary test/podinfo: provider gatewayapi");
    expect(readFileSync(join(dir, "appmesh-tutorial.yaml"), "utf8")).toBe(
      readFileSync(join(FIXTURES, "appmesh-tutorial.expected.yaml"), "utf8"),
    );
    const again = kanaria("migrate", "appmesh-to-gatewayapi", "--write", join(dir, "appmesh-tutorial.yaml"));
    expect(again).toMatchObject({ code: 0, stdout: "no Canary with provider appmesh found\n" });
  });

  it("writes under --out-dir with the same relative paths, leaving the inputs alone", () => {
    const out = join(work, "out");
    const run = kanaria("migrate", "appmesh-to-gatewayapi", "--out-dir", out, "examples");
    expect(run.code).toBe(0);
    expect(readFileSync(join(out, "appmesh/podinfo.yaml"), "utf8")).toContain("provider: gatewayapi");
    expect(readFileSync(join(ROOT, "examples/appmesh/podinfo.yaml"), "utf8")).toContain("provider: appmesh");
  });

  it("exits 1 when a Canary cannot be converted, 2 on a missing path or conflicting flags", () => {
    const run = kanaria("migrate", "appmesh-to-gatewayapi", join(FIXTURES, "appmesh-tutorial.yaml"));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "not converted: it has no spec.service.meshName to name the Gateway after: pass --gateway NAME",
    );
    expect(run.stdout).toBe("");
    expect(kanaria("migrate", "appmesh-to-gatewayapi", "no/such/dir").code).toBe(2);
    expect(kanaria("migrate", "appmesh-to-gatewayapi", "--write", "--out-dir", work, FIXTURES).code).toBe(2);
  });
});
