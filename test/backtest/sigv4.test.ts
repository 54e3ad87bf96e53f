// `kanaria backtest` on a SigV4-signed Prometheus (the AMP stand-in, test/cluster/sigv4_proxy.py,
// checking every signature with botocore), with the credentials IRSA gives a pod: a projected token
// exchanged with STS (moto) for temporary credentials. --metrics-server-sigv4-region signs the
// built-in metric and the template that takes --metrics-server as its address.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { kanaria } from "../cli/run-cli.ts";
import { canary } from "../support/manifests.ts";
import { irsaEnv, proxyLog, scenarioRole, sigv4Region, sigv4Url } from "../support/sigv4-proxy.ts";

const CANARY = canary("shop", "web", {
  provider: "kubernetes",
  analysis: {
    interval: "1m",
    threshold: 2,
    iterations: 5,
    metrics: [
      { name: "request-success-rate", interval: "1m", thresholdRange: { min: 99 } },
      { name: "answer", interval: "1m", templateRef: { name: "answer" }, thresholdRange: { max: 50 } },
    ],
  },
});
const TEMPLATE = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "MetricTemplate",
  metadata: { name: "answer", namespace: "shop" },
  // No address: --metrics-server, signed as the flags say.
  spec: { provider: { type: "prometheus" }, query: "vector(42)" },
};

interface Report {
  metrics: { name: string; windows: number; noData: number; error?: string; values?: { p50: number } }[];
}

describe.skipIf(!sigv4Url)("kanaria backtest on a SigV4-signed Prometheus with IRSA credentials", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kanaria-backtest-sigv4-"));
    await writeFile(join(dir, "canary.yaml"), `${stringify(CANARY)}---\n${stringify(TEMPLATE)}`);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const backtest = (extra: string[], env: Record<string, string>) =>
    kanaria(
      [
        "backtest",
        dir,
        "--from",
        "now-30m",
        "--to",
        "now",
        "--metrics-server",
        sigv4Url,
        "-o",
        "json",
        ...extra,
      ],
      env,
    );

  it("replays both metrics with range queries signed with the role's temporary credentials", async () => {
    const role = scenarioRole("backtest");
    const result = await backtest(["--metrics-server-sigv4-region", sigv4Region], irsaEnv(role));
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    const answer = report.metrics.find((m) => m.name === "answer");
    expect(answer?.error).toBeUndefined();
    expect(answer?.windows).toBeGreaterThanOrEqual(29);
    expect(answer?.values?.p50).toBe(42);
    // No traffic in this Prometheus for the built-in query: no data, but answered, not refused.
    expect(report.metrics.find((m) => m.name === "request-success-rate")?.error).toBeUndefined();

    const seen = (await proxyLog()).filter((r) => r.source === `moto:${role}`);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((r) => r.status === 200 && r.path.startsWith("/api/v1/query_range?"))).toBe(true);
    expect(new Set(seen.map((r) => r.accessKeyId)).size, "one STS exchange for the whole run").toBe(1);
  });

  it("without the SigV4 flags the proxy refuses, and the report says why", async () => {
    const result = await backtest([], irsaEnv(scenarioRole("unsigned")));
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.metrics.find((m) => m.name === "answer")?.error).toContain(
      "HTTP 403: Missing Authentication Token",
    );
  });
});
