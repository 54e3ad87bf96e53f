/**
 * What the reconciler does with webhooks: calls the ones decide asked for (in parallel) and returns
 * their answers for the next decide call, and sends every event to the Canary's `event` hooks,
 * fire-and-forget. Logs name the hook, its type and the answer, never the metadata.
 */
import type { Logger } from "pino";
import type { Canary, CanaryStatus, CanaryWebhook } from "../api/canary.ts";
import type { CanaryEvent } from "../api/events.ts";
import { callWebhook, canaryChecksum, safeUrl, type WebhookPayload } from "./caller.ts";
import type { WebhookAnswer, WebhookCall } from "./calls.ts";

export type WebhookCaller = typeof callWebhook;

function hookFor(canary: Canary, call: { name: string; type: string }): CanaryWebhook | undefined {
  return (canary.spec.analysis.webhooks ?? []).find(
    (h) => h.name === call.name && (h.type ?? "rollout") === call.type,
  );
}

export async function callRequestedHooks(
  canary: Canary,
  status: CanaryStatus,
  calls: WebhookCall[],
  logger: Logger,
  call: WebhookCaller = callWebhook,
): Promise<WebhookAnswer[]> {
  return Promise.all(
    calls.map(async (c) => {
      const hook = hookFor(canary, c);
      if (!hook)
        return { name: c.name, type: c.type, result: "error" as const, message: "webhook not in the spec" };
      const payload: WebhookPayload = {
        name: canary.metadata.name,
        namespace: canary.metadata.namespace ?? "",
        phase: c.phase,
        checksum: canaryChecksum(status),
        type: c.type,
        ...(hook.metadata ? { metadata: hook.metadata } : {}),
      };
      const answer = await call(hook, payload);
      logger.info(
        {
          canary: `${payload.namespace}/${payload.name}`,
          webhook: hook.name,
          type: c.type,
          url: safeUrl(hook.url),
          result: answer.result,
          code: answer.code,
        },
        `webhook ${hook.name} (${c.type}): ${answer.message}`,
      );
      return { name: c.name, type: c.type, ...answer };
    }),
  );
}

/** Flagger's event hooks: every event, with eventMessage, eventType and timestamp in the metadata. */
export function sendEventHooks(
  canary: Canary,
  status: CanaryStatus,
  events: CanaryEvent[],
  logger: Logger,
  call: WebhookCaller = callWebhook,
): void {
  const hooks = (canary.spec.analysis.webhooks ?? []).filter((h) => h.type === "event");
  for (const hook of hooks) {
    for (const e of events) {
      const payload: WebhookPayload = {
        name: canary.metadata.name,
        namespace: canary.metadata.namespace ?? "",
        phase: status.phase ?? "",
        checksum: canaryChecksum(status),
        type: "event",
        metadata: {
          ...hook.metadata,
          eventMessage: e.message,
          eventType: e.type,
          timestamp: String(Date.now()),
        },
      };
      void call(hook, payload).then((answer) => {
        if (answer.result !== "pass") {
          logger.warn(
            { webhook: hook.name, url: safeUrl(hook.url) },
            `event webhook ${hook.name}: ${answer.message}`,
          );
        }
      });
    }
  }
}
