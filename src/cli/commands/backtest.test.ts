// The CLI's usage and input errors (`node src/cli/main.ts backtest ...`); replays against real
// Prometheus and CloudWatch are in test/backtest.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../../..");

function kanaria(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ["src/cli/main.ts", "backtest", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("kanaria backtest: usage and input errors exit 2 with a message naming the fix", {
  timeout: 30_000,
}, () => {
  it.each([
    [["examples/backtest", "--from", "yesterday"], 'invalid time "yesterday": use an ISO 8601 time'],
    [["examples/backtest", "--from", "now-1h", "--to", "now-2h"], "--from must be before --to"],
    [
      ["examples/backtest", "--from", "now-1h", "--false-failure-rate", "5"],
      "--false-failure-rate must be a share between 0 and 1",
    ],
    [
      ["examples/backtest", "--from", "now-1h", "--exclude", "now-1h"],
      '--exclude "now-1h": expected FROM/TO',
    ],
    [["--from", "now-1h"], "name the manifest files, or use --from-cluster"],
    [
      ["examples/backtest", "--from", "now-1h", "--series", "envoy-gateway"],
      "Allowed choices are ingress-nginx, app, envoy-sidecar, traefik-gateway, traefik-ingress-nginx, istio",
    ],
    [
      ["examples/backtest", "--from", "now-1h", "--canary", "shop/other"],
      "no Canary shop/other in examples/backtest (found: shop/web)",
    ],
    [
      ["test/fixtures/validate/positions.yaml", "--from", "now-1h"],
      "the manifests have errors (fix them first)",
    ],
  ])("%j", (args, message) => {
    const run = kanaria(...args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(message);
  });
});
