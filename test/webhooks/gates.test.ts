// Webhooks and windows end to end: the real API server, the controller process and local gate
// services on 127.0.0.1.
import { describe, expect, it } from "vitest";
import { getCanary, waitForPhase } from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";
import { useGateApps } from "./gate-apps.ts";

const { ns, client, gates, hook, app, release, primaryImage, messages } = useGateApps("gates");

describe.concurrent("webhooks and windows", () => {
  it("calls every hook type with Flagger's payload, each gate once, and promotes", async () => {
    const n = "allyes";
    for (const p of ["confirm-rollout", "pre-rollout", "load", "confirm-promotion", "post", "events"])
      gates().set(`/${n}-${p}`, "yes");
    gates().set(`/${n}-rollback`, "no");
    await app(
      n,
      [
        hook(`${n}-confirm-rollout`, "confirm-rollout"),
        hook(`${n}-pre-rollout`, "pre-rollout"),
        hook(`${n}-load`, "rollout", {
          metadata: { cmd: "hey -z 1m http://podinfo-canary", token: "s3cr3t" },
        }),
        hook(`${n}-confirm-promotion`, "confirm-promotion"),
        hook(`${n}-post`, "post-rollout"),
        hook(`${n}-rollback`, "rollback"),
        hook(`${n}-events`, "event"),
      ],
      { iterations: 2 },
    );
    await release(n);
    const done = await waitForPhase(client, ns, n, "Succeeded", 110_000);
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.1`);
    const count = (p: string) => gates().requests(`/${n}-${p}`).length;
    expect(count("confirm-rollout")).toBe(1);
    expect(count("pre-rollout")).toBe(1);
    expect(count("load")).toBe(2);
    expect(count("confirm-promotion")).toBe(1);
    await waitFor(() => count("post"), { description: "the post-rollout hook", until: (c) => c === 1 });
    expect(count("rollback")).toBeGreaterThanOrEqual(2);
    expect(gates().requests(`/${n}-load`)[0]?.body).toEqual({
      name: n,
      namespace: ns,
      phase: "Progressing",
      checksum: expect.stringMatching(/^[0-9a-f]{16}$/),
      type: "rollout",
      metadata: { cmd: "hey -z 1m http://podinfo-canary", token: "s3cr3t" },
    });
    expect(gates().requests(`/${n}-confirm-rollout`)[0]?.body).toMatchObject({
      phase: "Waiting",
      type: "confirm-rollout",
    });
    const completed = `Promotion completed! ${n}.${ns} revision ${done.status?.lastAppliedSpec} is live`;
    const eventMessages = () =>
      gates()
        .requests(`/${n}-events`)
        .map((r) => (r.body.metadata as Record<string, string>).eventMessage);
    // Event hooks are fire-and-forget: the last one may land just after the status write.
    await waitFor(eventMessages, {
      description: "the final event at the event hook",
      until: (m) => m.includes(completed),
    });
    const events = gates()
      .requests(`/${n}-events`)
      .map((r) => r.body.metadata as Record<string, string>);
    expect(events.map((m) => m.eventMessage)).toContain(
      `Promotion completed! ${n}.${ns} revision ${done.status?.lastAppliedSpec} is live`,
    );
    expect(events[0]).toMatchObject({ eventType: "Normal", timestamp: expect.stringMatching(/^\d+$/) });
    expect(done.status?.webhooks?.find((w) => w.name === `${n}-confirm-promotion`)).toMatchObject({
      result: "pass",
      code: 200,
      revision: done.status?.lastAppliedSpec,
    });
    const all = await messages(n);
    expect(all.filter((m) => m.startsWith("WebhookPassed: rollout webhook"))).toHaveLength(2);
    expect(all.join("\n")).not.toContain("s3cr3t");
  }, 180_000);

  it("counts a pre-rollout 500 as a failed check and rolls back at the threshold", async () => {
    const n = "prefail";
    gates().set(`/${n}-smoke`, "500");
    await app(n, [hook(`${n}-smoke`, "pre-rollout")]);
    await release(n);
    const failed = await waitForPhase(client, ns, n, "Failed", 60_000);
    expect(failed.status?.conditions?.find((c) => c.type === "Stalled")?.message).toContain(
      `pre-rollout webhook ${n}-smoke: 500 Internal Server Error: gate service broken`,
    );
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.0`);
  });

  it("counts a rollout hook's no as a failed check", async () => {
    const n = "loadfail";
    gates().set(`/${n}-load`, "no");
    await app(n, [hook(`${n}-load`, "rollout")]);
    await release(n);
    const failed = await waitForPhase(client, ns, n, "Failed", 60_000);
    expect(failed.status?.failedChecks).toBe(1);
    expect(failed.status?.conditions?.find((c) => c.type === "Stalled")?.message).toContain(
      `rollout webhook ${n}-load: 403`,
    );
  });

  it("rolls back when a rollback hook says yes", async () => {
    const n = "rollback";
    gates().set(`/${n}-stop`, "yes");
    await app(n, [hook(`${n}-stop`, "rollback")]);
    await release(n);
    const failed = await waitForPhase(client, ns, n, "Failed", 60_000);
    expect(failed.status?.conditions?.find((c) => c.type === "Stalled")?.message).toContain(
      `rollback webhook ${n}-stop asked for a rollback`,
    );
  });

  it("holds the first weight for confirm-traffic-increase (nginx)", async () => {
    const n = "traffic";
    gates().set(`/${n}-more`, "no");
    for (const o of nginxApp(ns, n, {
      interval: "10s",
      threshold: 1,
      stepWeight: 50,
      maxWeight: 50,
      webhooks: [hook(`${n}-more`, "confirm-traffic-increase")],
    }))
      await client.apply(o);
    await waitForPhase(client, ns, n, "Initialized");
    await release(n);
    await waitFor(() => messages(n), {
      description: "the held weight increase",
      until: (m) => m.some((x) => x.includes("weight 50 waits for approval")),
      timeoutMs: 60_000,
    });
    expect((await getCanary(client, ns, n)).status?.canaryWeight).toBe(0);
    gates().set(`/${n}-more`, "yes");
    await waitForPhase(client, ns, n, "Succeeded", 90_000);
  });

  it("waits for a promotion window that opens during the test", async () => {
    const n = "window";
    // Opens about 70 s from now (cron with seconds, UTC), for ten minutes.
    const opens = new Date(Date.now() + 70_000);
    const schedule = `${opens.getUTCSeconds()} ${opens.getUTCMinutes()} ${opens.getUTCHours()} * * *`;
    await app(n, [], { promotionWindows: [{ schedule, duration: "10m", timeZone: "UTC" }] });
    await release(n);
    const waiting = await waitForPhase(client, ns, n, "WaitingPromotion", 60_000);
    expect(Date.now()).toBeLessThan(opens.getTime());
    const expected = new Date(Math.floor(opens.getTime() / 1000) * 1000).toISOString();
    expect(waiting.status?.conditions?.find((c) => c.type === "Promoted")?.message).toContain(
      `not promoting outside the promotion windows: next opening ${expected}`,
    );
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.0`);
    await waitFor(() => getCanary(client, ns, n), {
      description: "the release to leave WaitingPromotion",
      until: (c) => c.status?.phase !== "WaitingPromotion",
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    // The schedule has whole seconds: the window opens at the start of the second `opens` falls in.
    expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(opens.getTime() / 1000) * 1000);
    await waitForPhase(client, ns, n, "Succeeded", 60_000);
    expect(await primaryImage(n)).toBe(`${IMAGE}:6.0.1`);
  });
});
