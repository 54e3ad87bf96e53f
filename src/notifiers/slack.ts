/**
 * Slack: Block Kit blocks inside an attachment (the only way to get a colour bar per severity) and a
 * plain `text` fallback for notifications. Without a token it posts to an incoming webhook; with a
 * bot token it calls chat.postMessage, which reports failures as HTTP 200 with `ok: false`.
 */
import type { KnownBlock, MessageAttachment, SectionBlock } from "@slack/types";
import { expectSuccess, postJson } from "./http.ts";
import { type AlertMessage, type AlertView, buildView, SEVERITY_COLORS } from "./message.ts";
import { DeliveryError, type Notifier } from "./notifier.ts";
import { redactUrl } from "./redact.ts";
import type { ProviderSettings } from "./settings.ts";

export const SLACK_POST_MESSAGE_URL = "https://slack.com/api/chat.postMessage";

export interface SlackPayload {
  text: string;
  attachments: MessageAttachment[];
  channel?: string;
  username?: string;
}

/** Block Kit limits (docs.slack.dev/reference/block-kit): longer text is rejected as invalid_blocks. */
export const SLACK_LIMITS = { header: 150, sectionText: 3000, fieldText: 2000, fields: 10, blocks: 50 };

/** chat.postMessage errors that another try may fix; any other `ok: false` is a configuration problem. */
const TRANSIENT_ERRORS = new Set([
  "ratelimited",
  "internal_error",
  "fatal_error",
  "service_unavailable",
  "request_timeout",
]);

export function slackPayload(view: AlertView): SlackPayload {
  return {
    text: truncate(view.text, SLACK_LIMITS.sectionText),
    attachments: [{ color: SEVERITY_COLORS[view.severity], fallback: view.title, blocks: blocks(view) }],
  };
}

function blocks(view: AlertView): KnownBlock[] {
  const out: KnownBlock[] = [
    {
      type: "header",
      text: { type: "plain_text", text: truncate(view.title, SLACK_LIMITS.header), emoji: true },
    },
    mrkdwn(escapeMrkdwn(view.summary)),
    {
      type: "section",
      fields: view.facts.slice(0, SLACK_LIMITS.fields).map((f) => ({
        type: "mrkdwn" as const,
        text: truncate(`*${escapeMrkdwn(f.label)}*\n${escapeMrkdwn(f.value)}`, SLACK_LIMITS.fieldText),
      })),
    },
  ];
  if (view.failing.length > 0) {
    out.push(mrkdwn(`*Failing checks*\n${view.failing.map((f) => `• ${escapeMrkdwn(f)}`).join("\n")}`));
  }
  if (view.nextActions.length > 0) {
    const lines = view.nextActions.map((a) => `• ${escapeMrkdwn(a.what)}: \`${escapeMrkdwn(a.command)}\``);
    out.push(mrkdwn(`*Next*\n${lines.join("\n")}`));
  }
  return out;
}

function mrkdwn(text: string): SectionBlock {
  return { type: "section", text: { type: "mrkdwn", text: truncate(text, SLACK_LIMITS.sectionText) } };
}

/** Slack's mrkdwn needs only &, < and > escaped. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function slackNotifier(settings: ProviderSettings): Notifier {
  return {
    async send(message: AlertMessage) {
      const payload = slackPayload(buildView(message));
      if (settings.username) payload.username = settings.username;
      if (settings.token) await postMessage(settings, payload);
      else await postWebhook(settings, payload, "Slack", (a) => a);
    },
  };
}

/** A service whose incoming webhooks take Slack's payload (Rocket.Chat, Discord's /slack endpoint),
 * as Flagger's `rocket` and `discord` types post: the `text` carries the whole message for a
 * receiver that ignores Block Kit. */
export function slackCompatibleNotifier(
  settings: ProviderSettings,
  service: string,
  address: (configured: string) => string,
): Notifier {
  return {
    async send(message: AlertMessage) {
      const payload = slackPayload(buildView(message));
      if (settings.username) payload.username = settings.username;
      await postWebhook(settings, payload, service, address);
    },
  };
}

async function postWebhook(
  settings: ProviderSettings,
  payload: SlackPayload,
  service: string,
  address: (configured: string) => string,
): Promise<void> {
  if (!settings.address) throw new DeliveryError(`AlertProvider ${settings.ref}: no webhook address`, false);
  if (settings.channel) payload.channel = settings.channel;
  const url = address(settings.address);
  const result = await postJson(url, payload, settings);
  expectSuccess(result, `${service} webhook ${redactUrl(url)}`);
}

async function postMessage(settings: ProviderSettings, payload: SlackPayload): Promise<void> {
  if (!settings.channel) {
    throw new DeliveryError(
      `AlertProvider ${settings.ref}: a Slack bot token posts with chat.postMessage, which needs spec.channel`,
      false,
    );
  }
  const address = settings.address ?? SLACK_POST_MESSAGE_URL;
  const result = await postJson(
    address,
    { ...payload, channel: settings.channel },
    { ...settings, headers: { authorization: `Bearer ${settings.token}` }, secrets: [settings.token] },
  );
  const what = `Slack chat.postMessage at ${redactUrl(address)}`;
  expectSuccess(result, what);
  let answer: { ok?: unknown; error?: unknown };
  try {
    answer = JSON.parse(result.body) as typeof answer;
  } catch {
    throw new DeliveryError(`${what} answered something other than JSON`);
  }
  if (answer.ok === true) return;
  const error = typeof answer.error === "string" ? answer.error : "no error given";
  throw new DeliveryError(`${what} answered ok:false (${error})`, TRANSIENT_ERRORS.has(error));
}
