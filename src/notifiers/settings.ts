import type { AlertProvider } from "../api/alert-provider.ts";

/** An AlertProvider with its Secret read: everything a Notifier needs to post. */
export interface ProviderSettings {
  /** namespace/name, for messages about it. */
  ref: string;
  type: AlertProvider["spec"]["type"];
  /** Webhook URL (or chat.postMessage URL with a token); secret. */
  address: string | undefined;
  /** Slack bot token; secret. */
  token: string | undefined;
  channel: string | undefined;
  username: string | undefined;
  proxy: string | undefined;
  /** One attempt's limit: connecting, the answer and its body. */
  timeoutMs: number;
}
