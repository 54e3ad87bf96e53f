import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import type { KnownBlock } from "@slack/types";
import { describe, expect, it } from "vitest";
import { ALERTS, alertMessage, SEVERITY_OF } from "../../test/helpers/alerts.ts";
import { BOT_TOKEN, useAlertReceiver } from "../../test/support/alert-receiver.ts";
import { ALERT_KINDS } from "../api/alert-outbox.ts";
import { buildView, SEVERITY_COLORS } from "./message.ts";
import { DeliveryError } from "./notifier.ts";
import type { ProviderSettings } from "./settings.ts";
import { SLACK_LIMITS, type SlackPayload, slackNotifier, slackPayload } from "./slack.ts";

/** Block Kit's rules for the blocks kanaria sends (the types come from @slack/types; these are the limits). */
function blockKitProblems(payload: SlackPayload): string[] {
  const problems: string[] = [];
  if (typeof payload.text !== "string" || payload.text.length === 0) problems.push("no text fallback");
  for (const attachment of payload.attachments) {
    if (!/^#[0-9a-f]{6}$/i.test(attachment.color ?? "")) problems.push(`colour ${attachment.color}`);
    const blocks = (attachment.blocks ?? []) as KnownBlock[];
    if (blocks.length === 0 || blocks.length > SLACK_LIMITS.blocks) problems.push(`${blocks.length} blocks`);
    for (const block of blocks) {
      if (block.type === "header") {
        if (block.text.type !== "plain_text") problems.push("header text is not plain_text");
        if (block.text.text.length > SLACK_LIMITS.header) problems.push("header too long");
      } else if (block.type === "section") {
        if (!block.text && !block.fields) problems.push("section without text or fields");
        if (block.text && block.text.text.length > SLACK_LIMITS.sectionText)
          problems.push("section too long");
        if ((block.fields?.length ?? 0) > SLACK_LIMITS.fields) problems.push("too many fields");
        for (const f of block.fields ?? [])
          if (f.text.length > SLACK_LIMITS.fieldText) problems.push("field too long");
      } else problems.push(`unexpected block ${block.type}`);
    }
  }
  return problems;
}

const settings = (over: Partial<ProviderSettings>): ProviderSettings => ({
  ref: "test/slack",
  type: "slack",
  address: undefined,
  token: undefined,
  channel: undefined,
  username: undefined,
  proxy: undefined,
  timeoutMs: 2_000,
  ...over,
});

describe("Slack payloads", () => {
  it.each(ALERT_KINDS)(
    "a %s alert is valid Block Kit with its severity's colour and a text fallback",
    (kind) => {
      const payload = slackPayload(buildView(alertMessage(ALERTS[kind])));
      expect(blockKitProblems(payload)).toEqual([]);
      expect(payload.attachments[0]?.color).toBe(SEVERITY_COLORS[SEVERITY_OF[kind]]);
      expect(payload.text).toContain("podinfo.test");
      expect(payload.text).toContain("prod-eu-1");
    },
  );

  it("puts the failing metrics, the revisions and the next steps in the rollback's blocks", () => {
    const blocks = (slackPayload(buildView(alertMessage(ALERTS.RolledBack))).attachments[0]?.blocks ??
      []) as KnownBlock[];
    const text = JSON.stringify(blocks);
    expect(blocks[0]).toMatchObject({ type: "header", text: { type: "plain_text" } });
    for (const part of [
      "request-success-rate 90.12, allowed: at least 99 (prometheus)",
      "*Rolled back*\\nghcr.io/stefanprodan/podinfo:6.0.2",
      "*Kept*\\nghcr.io/stefanprodan/podinfo:6.0.1",
      "*Weight reached*\\n25%",
      "`kubectl -n test describe canary podinfo`",
    ]) {
      expect(text).toContain(part);
    }
  });

  it("escapes mrkdwn control characters and keeps to the limits with long input", () => {
    const long = { ...ALERTS.Halted, message: `<script> & ${"x".repeat(5000)}` };
    const payload = slackPayload(buildView(alertMessage(long)));
    expect(blockKitProblems(payload)).toEqual([]);
    expect(JSON.stringify(payload)).toContain("&lt;script&gt; &amp;");
  });
});

describe("Slack delivery", () => {
  const receiver = useAlertReceiver();

  it("posts to an incoming webhook", async () => {
    const address = receiver().slackWebhook("T1/B1/hook-one");
    await slackNotifier(settings({ address, username: "kanaria" })).send(alertMessage(ALERTS.RolledBack));
    const [got] = receiver().delivered("/slack/services/T1/");
    expect(got?.body).toMatchObject({ username: "kanaria", attachments: [{ color: SEVERITY_COLORS.error }] });
  });

  it("fails on a webhook error without naming the URL's secret path", async () => {
    const address = receiver().slackWebhook("T2/B2/very-secret-path");
    receiver().script("/slack/services/T2/", [{ status: 404, body: "channel_not_found" }]);
    const err = await slackNotifier(settings({ address }))
      .send(alertMessage(ALERTS.NewRevision))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).message).toBe(
      `Slack webhook ${receiver().url}/*** answered HTTP 404: channel_not_found`,
    );
    expect((err as DeliveryError).retryable).toBe(false);
  });

  it("posts with a bot token through chat.postMessage to the channel", async () => {
    await slackNotifier(
      settings({ address: receiver().postMessageUrl, token: BOT_TOKEN, channel: "#releases" }),
    ).send(alertMessage(ALERTS.Promoted));
    const [got] = receiver().delivered("/slack/api/chat.postMessage");
    expect(got?.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    expect(got?.body).toMatchObject({
      channel: "#releases",
      text: expect.stringContaining("Promoted podinfo.test"),
    });
  });

  it("treats chat.postMessage's HTTP 200 with ok:false as a failure, without the token", async () => {
    const bad = settings({
      address: receiver().postMessageUrl,
      token: "xoxb-wrong-token-1234",
      channel: "#releases",
    });
    const err = await slackNotifier(bad)
      .send(alertMessage(ALERTS.RolledBack))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as Error).message).toBe(
      `Slack chat.postMessage at ${receiver().url}/*** answered ok:false (invalid_auth)`,
    );
    expect((err as DeliveryError).retryable).toBe(false);
    receiver().script("/slack/api/", [{ status: 200, body: { ok: false, error: "ratelimited" } }]);
    const limited = await slackNotifier({ ...bad, token: BOT_TOKEN })
      .send(alertMessage(ALERTS.RolledBack))
      .catch((e: unknown) => e);
    expect((limited as DeliveryError).retryable, "rate limiting is worth another try").toBe(true);
  });

  it("needs a channel with a bot token", async () => {
    const err = await slackNotifier(settings({ token: BOT_TOKEN }))
      .send(alertMessage(ALERTS.RolledBack))
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      "AlertProvider test/slack: a Slack bot token posts with chat.postMessage, which needs spec.channel",
    );
  });

  it("gives up on an endpoint that does not answer within the timeout", async () => {
    receiver().script("/slack/services/T3/", ["hang"]);
    const started = Date.now();
    const err = await slackNotifier(settings({ address: receiver().slackWebhook("T3/B3/x"), timeoutMs: 300 }))
      .send(alertMessage(ALERTS.RolledBack))
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((err as Error).message).toBe(`POST ${receiver().url}/***: no answer within 0.3s`);
    expect((err as DeliveryError).retryable).toBe(true);
  });

  it("goes through the proxy when one is set", async () => {
    // A forward proxy on 127.0.0.1 that records each host it was asked for (plain http arrives as an
    // absolute-form request; https would come as a CONNECT tunnel, which needs a TLS endpoint here).
    const tunnels: string[] = [];
    const proxy = createServer((req, res) => {
      const target = new URL(req.url ?? "");
      tunnels.push(target.host);
      const upstream = request(target, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const address = receiver().slackWebhook("T4/B4/through-proxy");
      await slackNotifier(settings({ address, proxy: proxyUrl })).send(alertMessage(ALERTS.Promoted));
      expect(tunnels).toEqual([new URL(receiver().url).host]);
      expect(receiver().delivered("/slack/services/T4/")).toHaveLength(1);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
