// `kanaria status --watch` as an on-call engineer sees it: the real CLI in a real terminal (tmux, a
// fixed 160x45 pane) against the local cluster, with releases the controller rolls back, promotes and
// holds at a gate. The pane is read back character by character, as a person would read it.
import { execFileSync, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { CanaryWebhook } from "../../src/api/canary.ts";
import { waitForPhase } from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { deployment, nginxApp } from "../support/manifests.ts";
import { useGateApps } from "../webhooks/gate-apps.ts";

const REPO_ROOT = join(import.meta.dirname, "../..");
const COLUMNS = 160;
const ROWS = 45;
// A tmux server of this test's own (its socket name), so no one else's sessions are touched.
const SOCKET = `kanaria-status-${process.pid}`;

const { ns, client, gates, hook, app } = useGateApps("watch");

function tmux(...args: string[]): string {
  return execFileSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
}

/** The pane as it is on screen: ROWS lines, trailing blanks dropped. */
function screen(): string[] {
  return tmux("capture-pane", "-p", "-t", "status").replace(/\n+$/, "").split("\n");
}

async function nginxRelease(name: string, webhooks: CanaryWebhook[]): Promise<void> {
  const analysis = { interval: "5s", threshold: 1, maxWeight: 30, stepWeight: 10, webhooks };
  for (const object of nginxApp(ns, name, analysis)) await client.apply(object);
  await waitForPhase(client, ns, name, "Initialized", 60_000);
  await client.apply(deployment(ns, name, "6.0.1"));
}

describe("kanaria status --watch in a 160x45 terminal", () => {
  beforeAll(() => {
    // The project installs what its tests drive: tmux comes from Debian when it is missing.
    const installed = spawnSync("bash", [join(REPO_ROOT, "test/cluster/cluster.sh"), "apt-tool", "tmux"], {
      encoding: "utf8",
    });
    expect(installed.status, installed.stderr).toBe(0);
  });
  afterAll(() => {
    spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
    // kill-server leaves the socket file behind.
    const dir = join(process.env.TMUX_TMPDIR ?? "/tmp", `tmux-${process.getuid?.() ?? 0}`);
    rmSync(join(dir, SOCKET), { force: true });
  });

  it("shows one line per Canary, saying what happened to each revision, without wrapping", async () => {
    gates().set("/bad-load", "no");
    gates().set("/good-load", "yes");
    gates().set("/held-gate", "no");
    await Promise.all([
      nginxRelease("bad", [hook("bad-load", "rollout")]),
      nginxRelease("good", [hook("good-load", "rollout")]),
      app("held", [hook("held-gate", "confirm-promotion")]).then(() =>
        client.apply(deployment(ns, "held", "6.0.1")),
      ),
    ]);
    const main = join(REPO_ROOT, "src/cli/main.ts");
    const command = `env KUBECONFIG='${inject("kubeconfig")}' '${process.execPath}' '${main}' status --watch -n ${ns}`;
    // remain-on-exit: should the CLI fail, its last words stay in the pane for the timeout's message.
    tmux(
      "new-session",
      "-d",
      "-s",
      "status",
      "-x",
      String(COLUMNS),
      "-y",
      String(ROWS),
      command,
      ";",
      "set-option",
      "-t",
      "status",
      "remain-on-exit",
      "on",
    );

    const lineOf = (lines: string[], name: string) => lines.find((l) => l.startsWith(`${name} `));
    const lines = await waitFor(screen, {
      description: "bad rolled back, good promoted and held at its gate, on screen",
      timeoutMs: 180_000,
      intervalMs: 1_000,
      until: (l) =>
        /rolled back at 10%/.test(lineOf(l, "bad") ?? "") &&
        /promoted after 30%/.test(lineOf(l, "good") ?? "") &&
        /WaitingPromotion/.test(lineOf(l, "held") ?? ""),
    });
    expect(lines[0]).toMatch(/^NAME +PHASE +RELEASE +WEIGHT +FAILED +AGE +LAST EVENT +HELD BY$/);
    // One line each, no continuation lines: the header and three Canaries fill the screen's top.
    expect(lines.filter((l) => l.trim() !== "")).toHaveLength(4);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(COLUMNS);
    // Releases in flight first, then the failed one, then the settled.
    expect(lines.slice(1, 4).map((l) => l.split(" ")[0])).toEqual(["held", "bad", "good"]);
    expect(lineOf(lines, "held")).toMatch(
      /^held +WaitingPromotion +passed 1 iteration, waiting to promote +░{10} +0% +0\/1 .* confirm-promotion held-gate: 403 Forbidden(: gate closed|.*…)$/,
    );
    expect(lineOf(lines, "bad")).toMatch(
      /^bad +Failed +rolled back at 10% +░{10} +0% +1\/1 .* RolledBack +-$/,
    );
    expect(lineOf(lines, "good")).toMatch(
      /^good +Succeeded +promoted after 30% +░{10} +0% +0\/1 .* Succeeded +-$/,
    );
  }, 300_000);
});
