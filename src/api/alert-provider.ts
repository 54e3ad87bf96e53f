import { z } from "zod";
import { API_VERSION, objectMeta, secretReference, withRules } from "./common.ts";

/** Flagger's types (discord and rocket take Slack's payload, gchat a text message) and kanaria's generic. */
export const ALERT_PROVIDER_TYPES = ["slack", "msteams", "discord", "rocket", "gchat", "generic"] as const;

export const alertProviderSpec = withRules(
  z.strictObject({
    type: z.enum(ALERT_PROVIDER_TYPES),
    channel: z
      .string()
      .optional()
      .meta({ description: "Slack channel to post to; required with a bot token (chat.postMessage)." }),
    username: z.string().optional().meta({
      description:
        "Name the message is posted as; unset, the webhook's or bot's own name (Flagger: flagger).",
    }),
    address: z.string().url().optional().meta({
      description: "Webhook URL. Prefer secretRef: a URL here is visible to anyone who can read the object.",
    }),
    proxy: z.string().url().optional(),
    secretRef: secretReference.optional().meta({
      description:
        "Secret whose `address` key holds the webhook URL (takes precedence over address) and, for a Slack bot, whose `token` key holds the bot token (chat.postMessage to channel).",
    }),
  }),
  [
    {
      cel: "has(self.address) || has(self.secretRef)",
      message: "an AlertProvider needs address or secretRef (a Secret with an `address` key)",
      path: ["secretRef"],
      holds: (s) => s.address !== undefined || s.secretRef !== undefined,
    },
  ],
);

export const alertProvider = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("AlertProvider"),
  metadata: objectMeta,
  spec: alertProviderSpec,
});

export type AlertProvider = z.infer<typeof alertProvider>;
