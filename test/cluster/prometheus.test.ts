// Prometheus scrapes a target that the test serves on 127.0.0.1 (registered through a file_sd JSON
// file in PROMETHEUS_TARGETS_DIR) and an instant query returns the served value.
import { randomBytes } from "node:crypto";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { waitFor } from "../support/k8s.ts";

const prometheusUrl = inject("prometheusUrl");
const targetsDir = inject("prometheusTargetsDir");

describe.skipIf(!prometheusUrl || !targetsDir)("prometheus", () => {
  const run = randomBytes(4).toString("hex");
  const targetFile = path.join(targetsDir, `cluster-test-${run}.json`);
  let server: Server;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
      res.end(
        "# HELP kanaria_cluster_test_value A value served by the cluster test.\n" +
          "# TYPE kanaria_cluster_test_value gauge\n" +
          'kanaria_cluster_test_value{kind="answer"} 42.5\n',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    // write + rename, so Prometheus never reads a half-written file
    writeFileSync(
      `${targetFile}.tmp`,
      JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: "kanaria-cluster-test", run } }]),
    );
    renameSync(`${targetFile}.tmp`, targetFile);
  });

  afterAll(async () => {
    rmSync(targetFile, { force: true });
    await new Promise((resolve) => server?.close(resolve));
  });

  it("scrapes a test-served target and answers an instant query with its value", async () => {
    const query = `kanaria_cluster_test_value{run="${run}",kind="answer"}`;
    const value = await waitFor(
      async () => {
        const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
        const body = (await res.json()) as {
          status: string;
          data: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        return body.data.result[0]?.value[1];
      },
      { description: `Prometheus to return ${query}`, timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(Number(value)).toBe(42.5);
  });
});
