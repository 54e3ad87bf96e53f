// A local HTTP receiver on 127.0.0.1 that plays the alert endpoints: a Slack incoming webhook
// (/slack/services/...: 200 "ok"), Slack's chat.postMessage (/slack/api/chat.postMessage: always
// HTTP 200, `ok: false` with an error when the token or channel is wrong), a Teams Workflows webhook
// (/teams/...: 202) and a generic webhook (/generic/...: 200). Tests script answers per path (a
// status, a body, or a hang) and read what arrived.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll } from "vitest";
import { SEVERITY_COLORS } from "../../src/notifiers/message.ts";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** The HTTP status it was answered with; undefined while it hangs. */
  status: number | undefined;
  /** chat.postMessage: whether the answer said ok. */
  ok: boolean | undefined;
  at: number;
}

export type Reply = { status: number; body?: unknown } | "hang";

export interface AlertReceiver {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** An incoming-webhook URL whose path holds a secret, as Slack's do. */
  slackWebhook(secret?: string): string;
  readonly postMessageUrl: string;
  teamsWebhook(id?: string): string;
  genericWebhook(id?: string): string;
  /** The next answers for requests whose path starts with prefix, in order; afterwards the defaults. */
  script(prefix: string, replies: Reply[]): void;
  /** Everything received so far whose path starts with prefix. */
  received(prefix?: string): Received[];
  /** Received and answered as a success (2xx, and ok:true for chat.postMessage). */
  delivered(prefix?: string): Received[];
  close(): Promise<void>;
}

/** The bot token chat.postMessage accepts. */
export const BOT_TOKEN = "xoxb-test-0000-secret-token";

export async function startAlertReceiver(
  options: { onMessage?: (m: Received) => void } = {},
): Promise<AlertReceiver> {
  const log: Received[] = [];
  const scripts: { prefix: string; replies: Reply[] }[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: kept as text, and the endpoints below answer it as a bad payload.
      }
      const entry: Received = {
        path,
        headers: req.headers,
        body,
        status: undefined,
        ok: undefined,
        at: Date.now(),
      };
      log.push(entry);
      const scripted = scripts
        .find((s) => path.startsWith(s.prefix) && s.replies.length > 0)
        ?.replies.shift();
      if (scripted === "hang") {
        hanging.add(res);
        options.onMessage?.(entry);
        return;
      }
      const reply = scripted ?? defaultReply(path, req.headers, body);
      entry.status = reply.status;
      if (path.startsWith("/slack/api/"))
        entry.ok = (reply.body as { ok?: boolean } | undefined)?.ok === true;
      options.onMessage?.(entry);
      const payload = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? "");
      res.writeHead(reply.status, {
        "content-type": typeof reply.body === "string" ? "text/plain" : "application/json",
      });
      res.end(payload);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const isSuccess = (m: Received) =>
    m.status !== undefined && m.status >= 200 && m.status < 300 && m.ok !== false;

  return {
    url,
    slackWebhook: (secret = "T0KANARIA/B0KANARIA/s3cr3tW3bh00kPath") => `${url}/slack/services/${secret}`,
    postMessageUrl: `${url}/slack/api/chat.postMessage`,
    teamsWebhook: (id = "workflow-1") => `${url}/teams/workflows/${id}/triggers/manual/paths/invoke`,
    genericWebhook: (id = "hook") => `${url}/generic/${id}`,
    script(prefix, replies) {
      scripts.unshift({ prefix, replies: [...replies] });
    },
    received: (prefix = "/") => log.filter((m) => m.path.startsWith(prefix)),
    delivered: (prefix = "/") => log.filter((m) => m.path.startsWith(prefix) && isSuccess(m)),
    async close() {
      for (const res of hanging) res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function defaultReply(
  path: string,
  headers: IncomingHttpHeaders,
  body: unknown,
): { status: number; body: unknown } {
  const payload = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : undefined;
  if (path.startsWith("/slack/api/chat.postMessage")) {
    // Slack's Web API answers 200 whatever went wrong, and says so in `ok` and `error`.
    if (headers.authorization !== `Bearer ${BOT_TOKEN}`)
      return { status: 200, body: { ok: false, error: "invalid_auth" } };
    if (!payload) return { status: 200, body: { ok: false, error: "invalid_json" } };
    if (typeof payload.channel !== "string" || payload.channel === "")
      return { status: 200, body: { ok: false, error: "channel_not_found" } };
    if (
      typeof payload.text !== "string" &&
      !Array.isArray(payload.blocks) &&
      !Array.isArray(payload.attachments)
    )
      return { status: 200, body: { ok: false, error: "no_text" } };
    return { status: 200, body: { ok: true, channel: payload.channel, ts: `${Date.now() / 1000}` } };
  }
  if (path.startsWith("/slack/services/")) {
    if (!payload || (typeof payload.text !== "string" && !Array.isArray(payload.blocks)))
      return { status: 400, body: "invalid_payload" };
    return { status: 200, body: "ok" };
  }
  if (path.startsWith("/teams/")) {
    const attachments = payload?.attachments;
    if (payload?.type !== "message" || !Array.isArray(attachments) || attachments.length === 0)
      return { status: 400, body: { error: { code: "InvalidRequestContent" } } };
    return { status: 202, body: "" };
  }
  if (path.startsWith("/generic/"))
    return payload ? { status: 200, body: {} } : { status: 400, body: "not JSON" };
  return { status: 404, body: "no such endpoint" };
}

/** A receiver for a test file: started in beforeAll, closed in afterAll. */
export function useAlertReceiver(): () => AlertReceiver {
  let receiver: AlertReceiver | undefined;
  beforeAll(async () => {
    receiver = await startAlertReceiver();
  });
  afterAll(() => receiver?.close());
  return () => {
    if (!receiver) throw new Error("useAlertReceiver: the receiver starts in beforeAll");
    return receiver;
  };
}

/** A Slack payload (Block Kit in an attachment) as a person would read it, for the demo's output. */
export function readableSlackMessage(payload: unknown): string {
  const p = payload as {
    text?: string;
    attachments?: {
      color?: string;
      blocks?: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
    }[];
  };
  const lines: string[] = [];
  for (const attachment of p.attachments ?? []) {
    for (const block of attachment.blocks ?? []) {
      if (block.type === "header") lines.push(`[${severityOf(attachment.color)}] ${block.text?.text ?? ""}`);
      else if (block.text) lines.push(...plain(block.text.text).split("\n"));
      for (const field of block.fields ?? []) lines.push(plain(field.text).replace("\n", ": "));
    }
  }
  if (lines.length === 0 && p.text) lines.push(...p.text.split("\n"));
  return lines.join("\n");
}

function severityOf(color: string | undefined): string {
  const found = Object.entries(SEVERITY_COLORS).find(([, c]) => c === color);
  return found ? found[0] : (color ?? "no colour");
}

function plain(mrkdwn: string): string {
  return mrkdwn
    .replace(/\*([^*\n]+)\*/g, "$1")
    .replace(/`([^`\n]+)`/g, "$1")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}
