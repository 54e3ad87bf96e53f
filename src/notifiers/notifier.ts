/**
 * The extension point for alert channels: one Notifier per AlertProvider type (slack.ts, msteams.ts,
 * generic.ts), picked by factory.ts. A Notifier turns one alert into its channel's payload and posts
 * it once; the delivery queue (delivery.ts) owns retries, backoff and recording the outcome.
 */
import type { AlertMessage } from "./message.ts";

export interface Notifier {
  /** Posts the alert once; throws a DeliveryError (never naming the address or token) on failure. */
  send(message: AlertMessage): Promise<void>;
}

/** A failed delivery, described without the webhook address or token. */
export class DeliveryError extends Error {
  override readonly name = "DeliveryError";
  /** false: sending the same payload again cannot succeed (e.g. Slack's invalid_payload). */
  readonly retryable: boolean;

  constructor(message: string, retryable = true) {
    super(message);
    this.retryable = retryable;
  }
}
