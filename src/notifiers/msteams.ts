/**
 * Microsoft Teams through a Workflows (Power Automate) webhook: a message with one Adaptive Card
 * attachment (the Office 365 connectors and their MessageCards are retired). Workflows answers 202.
 */
import type { IAdaptiveCard, ITextBlock } from "@microsoft/teams.cards";
import { expectSuccess, postJson } from "./http.ts";
import { type AlertMessage, type AlertView, buildView } from "./message.ts";
import { DeliveryError, type Notifier } from "./notifier.ts";
import { redactUrl } from "./redact.ts";
import type { ProviderSettings } from "./settings.ts";

export const ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";

export interface TeamsPayload {
  type: "message";
  attachments: { contentType: typeof ADAPTIVE_CARD_CONTENT_TYPE; contentUrl: null; content: IAdaptiveCard }[];
}

const COLORS = { info: "Good", warn: "Warning", error: "Attention" } as const;

export function adaptiveCard(view: AlertView): IAdaptiveCard {
  const text = (value: string, extra: Partial<ITextBlock> = {}): ITextBlock => ({
    type: "TextBlock",
    text: value,
    wrap: true,
    ...extra,
  });
  const body: IAdaptiveCard["body"] = [
    text(view.title, { size: "Large", weight: "Bolder", color: COLORS[view.severity], style: "heading" }),
    text(view.summary),
    { type: "FactSet", facts: view.facts.map((f) => ({ title: f.label, value: f.value })) },
  ];
  if (view.failing.length > 0) {
    body.push(text("Failing checks", { weight: "Bolder", spacing: "Medium" }));
    for (const f of view.failing) body.push(text(f, { color: "Attention", spacing: "None" }));
  }
  if (view.nextActions.length > 0) {
    body.push(text("Next", { weight: "Bolder", spacing: "Medium" }));
    for (const a of view.nextActions) {
      body.push(text(`${a.what}:`, { spacing: "Small" }));
      body.push(text(a.command, { fontType: "Monospace", spacing: "None" }));
    }
  }
  return {
    type: "AdaptiveCard",
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    version: "1.4",
    fallbackText: view.text,
    msteams: { width: "full" },
    body,
  };
}

export function teamsPayload(view: AlertView): TeamsPayload {
  return {
    type: "message",
    attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, contentUrl: null, content: adaptiveCard(view) }],
  };
}

export function teamsNotifier(settings: ProviderSettings): Notifier {
  return {
    async send(message: AlertMessage) {
      if (!settings.address)
        throw new DeliveryError(`AlertProvider ${settings.ref}: no webhook address`, false);
      const result = await postJson(settings.address, teamsPayload(buildView(message)), settings);
      expectSuccess(result, `Teams workflow ${redactUrl(settings.address)}`);
    },
  };
}
