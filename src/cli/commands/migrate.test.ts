// The real CLI (`kanaria migrate appmesh-to-gatewayapi ...`), run in this process.
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../program.ts";

const ROOT = join(import.meta.dirname, "../../..");
const FIXTURES = join(ROOT, "test/migrate/fixtures");
const work = mkdtempSync(join(tmpdir(), "kanaria-migrate-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the CLI in this process (as `kanaria ARGS`), capturing what it writes. */
async function kanaria(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const captured = { stdout: "", stderr: "" };
  const capture = (stream: "stdout" | "stderr") =>
    vi.spyOn(process[stream], "write").mockImplementation((chunk: string | Uint8Array) => {
      captured[stream] += String(chunk);
      return true;
    });
  const spies = [capture("stdout"), capture("stderr")];
  process.exitCode = undefined;
  try {
    const code = await main(["node", "kanaria", ...args]);
    return { code, ...captured };
  } finally {
    for (const spy of spies) spy.mockRestore();
    process.exitCode = undefined;
  }
}

describe("kanaria migrate appmesh-to-gatewayapi", () => {
  it("prints the converted file and reports on stderr", async () => {
    const run = await kanaria(
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

  it("writes in place with --write, and a second run finds nothing left to convert", async () => {
    const dir = join(work, "write");
    cpSync(FIXTURES, dir, { recursive: true });
    const run = await kanaria("migrate", "appmesh-to-gatewayapi", "--gateway", "lattice", "--write", dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Canary test/podinfo: provider gatewayapi");
    expect(readFileSync(join(dir, "appmesh-tutorial.yaml"), "utf8")).toBe(
      readFileSync(join(FIXTURES, "appmesh-tutorial.expected.yaml"), "utf8"),
    );
    const again = await kanaria(
      "migrate",
      "appmesh-to-gatewayapi",
      "--write",
      join(dir, "appmesh-tutorial.yaml"),
    );
    expect(again).toMatchObject({ code: 0, stdout: "no Canary with provider appmesh found\n" });
  });

  it("writes under --out-dir with the same relative paths, leaving the inputs alone", async () => {
    const out = join(work, "out");
    const run = await kanaria("migrate", "appmesh-to-gatewayapi", "--out-dir", out, join(ROOT, "examples"));
    expect(run.code).toBe(0);
    expect(readFileSync(join(out, "appmesh/podinfo.yaml"), "utf8")).toContain("provider: gatewayapi");
    expect(readFileSync(join(ROOT, "examples/appmesh/podinfo.yaml"), "utf8")).toContain("provider: appmesh");
  });

  it("exits 1 when a Canary cannot be converted, 2 on a missing path or conflicting flags", async () => {
    const run = await kanaria("migrate", "appmesh-to-gatewayapi", join(FIXTURES, "appmesh-tutorial.yaml"));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "not converted: it has no spec.service.meshName to name the Gateway after: pass --gateway NAME",
    );
    expect(run.stdout).toBe("");
    expect((await kanaria("migrate", "appmesh-to-gatewayapi", "no/such/dir")).code).toBe(2);
    expect(
      (await kanaria("migrate", "appmesh-to-gatewayapi", "--write", "--out-dir", work, FIXTURES)).code,
    ).toBe(2);
  });
});
