// A Prometheus of our own holding backfilled history: OpenMetrics written here, turned into TSDB
// blocks by `promtool tsdb create-blocks-from openmetrics`, served from a temporary data dir on
// 127.0.0.1. The shared test cluster's Prometheus is never touched.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** promtool and prometheus from PATH or Debian's /usr/bin; undefined when either is missing. */
export async function findPrometheus(): Promise<{ promtool: string; prometheus: string } | undefined> {
  const find = async (name: string) => {
    const found = await run("bash", ["-c", `command -v ${name}`]).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    return found || (existsSync(`/usr/bin/${name}`) ? `/usr/bin/${name}` : undefined);
  };
  const [promtool, prometheus] = await Promise.all([find("promtool"), find("prometheus")]);
  return promtool && prometheus ? { promtool, prometheus } : undefined;
}

export interface Series {
  name: string;
  labels: Record<string, string>;
  /** [unix ms, value] in time order. */
  samples: [number, number][];
}

function openMetrics(series: Series[]): string {
  const lines: string[] = [];
  const families = [...new Set(series.map((s) => s.name))];
  for (const family of families) {
    // "unknown" accepts any name (a counter would need the _total suffix); rate() does not mind.
    lines.push(`# TYPE ${family} unknown`);
    for (const s of series.filter((x) => x.name === family)) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",");
      for (const [ms, value] of s.samples) lines.push(`${family}{${labels}} ${value} ${ms / 1000}`);
    }
  }
  lines.push("# EOF");
  return `${lines.join("\n")}\n`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export interface HistoryPrometheus {
  url: string;
  stop(): Promise<void>;
}

export async function startHistoryPrometheus(
  bin: { promtool: string; prometheus: string },
  series: Series[],
): Promise<HistoryPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "kanaria-backtest-prom-"));
  const data = join(dir, "data");
  await writeFile(join(dir, "history.om"), openMetrics(series));
  await run(bin.promtool, ["tsdb", "create-blocks-from", "openmetrics", join(dir, "history.om"), data], {
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  await writeFile(join(dir, "prometheus.yml"), "global:\n  scrape_interval: 15s\nscrape_configs: []\n");
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin.prometheus,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${data}`,
      "--storage.tsdb.retention.time=3650d",
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`the history Prometheus did not become ready on ${url}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
