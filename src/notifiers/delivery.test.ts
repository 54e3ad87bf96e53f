import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ALERTS } from "../../test/helpers/alerts.ts";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { BOT_TOKEN, useAlertReceiver } from "../../test/support/alert-receiver.ts";
import type { AlertRecord } from "../api/alert-outbox.ts";
import type { CanaryStatus } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import type { KubeObject } from "../kube/types.ts";
import { createDeliveryQueue, type DeliveryOptions } from "./delivery.ts";

const receiver = useAlertReceiver();

let seq = 0;

/** A Canary with one pending alert for `provider`, its AlertProvider and the Secret holding the address. */
function setUp(provider: {
  type: "slack" | "msteams" | "generic";
  address: string;
  token?: string;
  channel?: string;
}) {
  const name = `app${++seq}`;
  const logs: string[] = [];
  const logger = pino(
    { level: "debug" },
    new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  );
  const alert: AlertRecord = {
    ...ALERTS.RolledBack,
    time: new Date().toISOString(),
    deliveries: [{ provider: `test/${name}-provider`, state: "pending" }],
  };
  const data: Record<string, string> = { address: Buffer.from(provider.address).toString("base64") };
  if (provider.token) data.token = Buffer.from(provider.token).toString("base64");
  const client = new FakeKubeClient([
    {
      apiVersion: API_VERSION,
      kind: "Canary",
      metadata: { name, namespace: "test" },
      spec: { targetRef: { name } },
      status: { phase: "Failed", alerts: [alert] },
    } as KubeObject,
    {
      apiVersion: API_VERSION,
      kind: "AlertProvider",
      metadata: { name: `${name}-provider`, namespace: "test" },
      spec: {
        type: provider.type,
        secretRef: { name: `${name}-secret` },
        ...(provider.channel ? { channel: provider.channel } : {}),
      },
    } as KubeObject,
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${name}-secret`, namespace: "test" },
      data,
    } as KubeObject,
  ]);
  const canary = async () =>
    (await client.get<KubeObject & { status: CanaryStatus }>({
      apiVersion: API_VERSION,
      kind: "Canary",
      namespace: "test",
      name,
    })) as KubeObject & { status: CanaryStatus };
  const queue = (over: Partial<DeliveryOptions> = {}) =>
    createDeliveryQueue({
      client,
      logger,
      clusterName: "prod",
      initialBackoffMs: 20,
      attemptTimeoutMs: 500,
      ...over,
    });
  const delivery = async () => (await canary()).status.alerts?.[0]?.deliveries[0];
  return { name, client, logs, canary, queue, delivery };
}

describe("the delivery queue", () => {
  it("retries a 500 and delivers once, recording it in the status", async () => {
    const address = receiver().slackWebhook("T1/B1/retry-secret");
    receiver().script("/slack/services/T1/", [{ status: 500, body: "boom" }]);
    const t = setUp({ type: "slack", address });
    const q = t.queue();
    q.submit(await t.canary());
    await q.idle();
    expect(receiver().received("/slack/services/T1/")).toHaveLength(2);
    expect(receiver().delivered("/slack/services/T1/")).toHaveLength(1);
    expect(await t.delivery()).toMatchObject({ state: "delivered", attempts: 2 });
    expect(t.client.events).toEqual([]);
    expect(t.logs.join("")).toContain("alert delivery failed; retrying");
    expect(t.logs.join("")).not.toContain("retry-secret");
  });

  it("never sends twice: not for a second submit while sending, nor for a stale copy afterwards", async () => {
    const t = setUp({ type: "generic", address: receiver().genericWebhook("once") });
    const stale = await t.canary();
    const q = t.queue();
    q.submit(stale);
    q.submit(stale);
    await q.idle();
    q.submit(stale); // a reconcile that read the Canary before the outcome was recorded
    await q.idle();
    const restarted = t.queue(); // a new process reads the recorded outcome
    restarted.submit(await t.canary());
    await restarted.idle();
    expect(receiver().received("/generic/once")).toHaveLength(1);
    expect(await t.delivery()).toMatchObject({ state: "delivered", attempts: 1 });
  });

  it("reports chat.postMessage's ok:false as a failed delivery in an Event, without the token", async () => {
    const t = setUp({
      type: "slack",
      address: receiver().postMessageUrl,
      token: "xoxb-wrong-but-secret-1",
      channel: "#x",
    });
    const q = t.queue();
    q.submit(await t.canary());
    await q.idle();
    const failed = await t.delivery();
    expect(failed).toMatchObject({
      state: "failed",
      attempts: 1,
      error: `Slack chat.postMessage at ${receiver().url}/*** answered ok:false (invalid_auth)`,
    });
    expect(t.client.events).toEqual([
      expect.objectContaining({
        type: "Warning",
        reason: "AlertFailed",
        message: `Alert RolledBack (${ALERTS.RolledBack.id}) to AlertProvider test/${t.name}-provider failed after 1 attempt: ${failed?.error}`,
      }),
    ]);
    const everything = JSON.stringify([t.client.events, await t.canary(), t.logs]);
    expect(everything).not.toContain("xoxb-wrong-but-secret-1");
    expect(everything).not.toContain("/slack/api/");
  });

  it("delivers with a good bot token", async () => {
    const t = setUp({
      type: "slack",
      address: receiver().postMessageUrl,
      token: BOT_TOKEN,
      channel: "#releases",
    });
    const q = t.queue();
    q.submit(await t.canary());
    await q.idle();
    expect(await t.delivery()).toMatchObject({ state: "delivered" });
  });

  it("gives up on a receiver that hangs after the retry time, and submit never waits for it", async () => {
    receiver().script("/teams/workflows/hang/", ["hang", "hang", "hang", "hang", "hang", "hang"]);
    const t = setUp({ type: "msteams", address: receiver().teamsWebhook("hang") });
    const q = t.queue({ attemptTimeoutMs: 200, retryForMs: 700 });
    const stored = await t.canary();
    const started = performance.now();
    q.submit(stored);
    // Well under one attempt's timeout: the caller (a reconcile) never waits for the receiver.
    expect(performance.now() - started, "submit returns at once").toBeLessThan(100);
    await q.idle();
    const failed = await t.delivery();
    expect(failed?.state).toBe("failed");
    expect(failed?.attempts).toBeGreaterThanOrEqual(2);
    expect(failed?.error).toBe(`POST ${receiver().url}/***: no answer within 0.2s`);
    expect(t.client.events.map((e) => e.reason)).toEqual(["AlertFailed"]);
    expect(t.logs.join("")).toContain('"msg":"alert not delivered"');
  });

  it("retries while the AlertProvider is missing, then names it", async () => {
    const t = setUp({ type: "generic", address: receiver().genericWebhook("missing") });
    await t.client.delete({
      apiVersion: API_VERSION,
      kind: "AlertProvider",
      namespace: "test",
      name: `${t.name}-provider`,
    });
    const q = t.queue({ retryForMs: 100 });
    q.submit(await t.canary());
    await q.idle();
    const failed = await t.delivery();
    expect(failed?.attempts).toBeGreaterThan(1);
    expect(failed?.error).toBe(
      `AlertProvider test/${t.name}-provider not found: create it, or fix the Canary's analysis.alerts[].providerRef (or --alert-provider)`,
    );
  });

  it("leaves a pending alert for the next process when stopped, and sends nothing when not the leader", async () => {
    receiver().script("/generic/later", [{ status: 503 }]);
    const t = setUp({ type: "generic", address: receiver().genericWebhook("later") });
    const first = t.queue({ initialBackoffMs: 10_000 });
    first.submit(await t.canary());
    await new Promise((r) => setTimeout(r, 200));
    await first.stop(1_000);
    expect(await t.delivery()).toMatchObject({ state: "pending" });
    const follower = t.queue({ isLeader: () => false });
    follower.submit(await t.canary());
    await follower.idle();
    expect(receiver().received("/generic/later")).toHaveLength(1);
    const next = t.queue();
    next.submit(await t.canary());
    await next.idle();
    expect(await t.delivery()).toMatchObject({ state: "delivered", attempts: 1 });
    expect(receiver().delivered("/generic/later")).toHaveLength(1);
  });
});
