/** Google Chat: an incoming webhook taking a text message (Flagger's `gchat` type). */
import { expectSuccess, postJson } from "./http.ts";
import { type AlertMessage, buildView } from "./message.ts";
import { DeliveryError, type Notifier } from "./notifier.ts";
import { redactUrl } from "./redact.ts";
import type { ProviderSettings } from "./settings.ts";

/** Google Chat's limit for a message's text. */
export const GCHAT_TEXT_LIMIT = 4096;

export function gchatPayload(message: AlertMessage): { text: string } {
  const view = buildView(message);
  const text = `*${view.title}*\n${view.text}`;
  return { text: text.length <= GCHAT_TEXT_LIMIT ? text : `${text.slice(0, GCHAT_TEXT_LIMIT - 1)}…` };
}

export function gchatNotifier(settings: ProviderSettings): Notifier {
  return {
    async send(message: AlertMessage) {
      if (!settings.address)
        throw new DeliveryError(`AlertProvider ${settings.ref}: no webhook address`, false);
      const result = await postJson(settings.address, gchatPayload(message), settings);
      expectSuccess(result, `Google Chat webhook ${redactUrl(settings.address)}`);
    },
  };
}
