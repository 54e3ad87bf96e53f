// The release commands end to end: the kanaria CLI as a release manager runs it, against the real API
// server with the controller process and local gate services on 127.0.0.1.
import { describe, expect, it } from "vitest";
import { getCanary, getDeployment, waitForPhase } from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE } from "../support/manifests.ts";
import { useGateApps } from "../webhooks/gate-apps.ts";
import { kanaria } from "./run-cli.ts";

const { ns, client, gates, hook, app, release, primaryImage, messages } = useGateApps("cli");

// Each CLI call is a fresh Node process (several seconds on a loaded machine): generous timeouts.
describe.concurrent("kanaria promote, abort, retry, resume and status", () => {
  it("shows a release held by confirm-promotion in kanaria status, and kanaria promote lets it through", async () => {
    const n = "promote";
    gates().set(`/${n}-gate`, "no");
    await app(n, [hook(`${n}-gate`, "confirm-promotion")]);
    await release(n);
    const waiting = await waitForPhase(client, ns, n, "WaitingPromotion", 60_000);
    expect(waiting.status?.conditions?.find((c) => c.type === "Promoted")?.message).toContain(
      "403 Forbidden: gate closed",
    );
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.0`);
    const json = await kanaria(["status", n, "-n", ns, "-o", "json"]);
    expect(json.code, json.stderr).toBe(0);
    const [summary] = JSON.parse(json.stdout);
    expect(summary).toMatchObject({
      namespace: ns,
      name: n,
      phase: "WaitingPromotion",
      gates: [{ name: `${n}-gate`, type: "confirm-promotion", result: "fail", code: 403 }],
    });
    expect(summary.events.map((e: { reason: string }) => e.reason)).toContain("WebhookFailed");
    // One line per Canary (not cut: stdout is a pipe), and the detail of one by name.
    const text = await kanaria(["status", "-n", ns]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `^${n} +WaitingPromotion +passed 1 iteration, waiting to promote .* confirm-promotion ${n}-gate: 403 Forbidden: gate closed$`,
        "m",
      ),
    );
    const detail = await kanaria(["status", n, "-n", ns]);
    expect(detail.stdout).toContain(`${ns}/${n}  WaitingPromotion  passed 1 iteration, waiting to promote\n`);
    expect(detail.stdout).toContain(`  held by  confirm-promotion ${n}-gate: 403 Forbidden: gate closed\n`);
    const result = await kanaria(["promote", n, "-n", ns]);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout).toContain(
      `promotion of ${ns}/${n} revision ${waiting.status?.lastAppliedSpec} requested`,
    );
    await waitForPhase(client, ns, n, "Succeeded", 60_000);
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.1`);
    expect((await messages(n)).some((m) => /^PromoteRequested: .* approved by \S+/.test(m))).toBe(true);
  }, 240_000);

  it("keeps the canary at zero while confirm-rollout times out; abort, retry, then a yes promotes", async () => {
    const n = "timeout";
    gates().set(`/${n}-gate`, "timeout");
    await app(n, [hook(`${n}-gate`, "confirm-rollout", { timeout: "1s" })]);
    await release(n);
    await waitForPhase(client, ns, n, "Waiting", 30_000);
    await waitFor(() => messages(n), {
      description: "the timed-out gate in an Event",
      until: (m) =>
        m.some((x) => x.includes(`confirm-rollout webhook ${n}-gate`) && x.includes("no answer within 1s")),
    });
    expect((await getDeployment(client, ns, n))?.spec?.replicas).toBe(0);
    const aborted = await kanaria(["abort", n, "-n", ns, "--reason", "not today"]);
    expect(aborted, aborted.stderr).toMatchObject({ code: 0 });
    const failed = await waitForPhase(client, ns, n, "Failed", 30_000);
    expect(failed.status?.conditions?.find((c) => c.type === "Stalled")?.message).toMatch(
      /aborted by \S+: not today/,
    );
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.0`);
    const again = await kanaria(["abort", n, "-n", ns]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `kanaria: Canary ${ns}/${n} is Failed: nothing to abort (abort works while it is Waiting, Progressing, WaitingPromotion)\n`,
    );
    const retried = await kanaria(["retry", n, "-n", ns]);
    expect(retried, retried.stderr).toMatchObject({ code: 0 });
    await waitForPhase(client, ns, n, "Waiting", 30_000);
    gates().set(`/${n}-gate`, "yes");
    await waitForPhase(client, ns, n, "Succeeded", 90_000);
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.1`);
  }, 240_000);

  it("resumes a suspended Canary; refuses a missing Canary and a settled release with exit code 1", async () => {
    const n = "suspended";
    await client.apply(deployment(ns, n, "6.0.0"));
    await client.apply(
      canary(ns, n, { provider: "kubernetes", suspend: true, analysis: { interval: "10s", iterations: 1 } }),
    );
    expect((await getCanary(client, ns, n)).status?.phase).toBeUndefined();
    const result = await kanaria(["resume", n, "-n", ns]);
    expect(result, result.stderr).toMatchObject({ code: 0, stdout: `${ns}/${n} resumed\n` });
    expect((await getCanary(client, ns, n)).spec.suspend).toBeUndefined();
    await waitForPhase(client, ns, n, "Initialized");
    const twice = await kanaria(["resume", n, "-n", ns]);
    expect(twice).toMatchObject({ code: 1, stderr: `kanaria: Canary ${ns}/${n} is not suspended\n` });
    // Settled now: nothing to promote; and a Canary that does not exist is a clear error.
    const missing = await kanaria(["promote", "no-such-canary", "-n", ns]);
    expect(missing).toMatchObject({
      code: 1,
      stderr: `kanaria: Canary ${ns}/no-such-canary not found (kubectl get canaries -n ${ns} lists them)\n`,
    });
    const finished = await kanaria(["promote", n, "-n", ns]);
    expect(finished.code).toBe(1);
    expect(finished.stderr).toBe(
      `kanaria: Canary ${ns}/${n} is Initialized: nothing to promote (promote works while it is Waiting, Progressing, WaitingPromotion)\n`,
    );
    const status = await kanaria(["status", "no-such-canary", "-n", ns]);
    expect(status.code).toBe(1);
    expect(status.stderr).not.toContain("    at ");
  }, 240_000);
});
