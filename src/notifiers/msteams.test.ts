import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { ALERTS, alertMessage } from "../../test/helpers/alerts.ts";
import { useAlertReceiver } from "../../test/support/alert-receiver.ts";
import { ALERT_KINDS } from "../api/alert-outbox.ts";
import { buildView } from "./message.ts";
import { ADAPTIVE_CARD_CONTENT_TYPE, teamsNotifier, teamsPayload } from "./msteams.ts";
import { DeliveryError } from "./notifier.ts";

// Microsoft's Adaptive Cards library parses a card the way Teams does and reports every unknown
// element, property or value; its ES module build does not load in Node, the bundled one does.
const AC = createRequire(import.meta.url)(
  "adaptivecards/dist/adaptivecards.js",
) as typeof import("adaptivecards");

function cardProblems(card: unknown): string[] {
  const context = new AC.SerializationContext();
  const parsed = new AC.AdaptiveCard();
  parsed.parse(card, context);
  const problems = Array.from({ length: context.eventCount }, (_, i) => context.getEventAt(i).message);
  if (parsed.getItemCount() === 0) problems.push("empty body");
  return problems;
}

describe("Teams payloads", () => {
  it.each(ALERT_KINDS)("a %s alert is a Workflows message with a valid Adaptive Card", (kind) => {
    const payload = teamsPayload(buildView(alertMessage(ALERTS[kind])));
    expect(payload.type).toBe("message");
    expect(payload.attachments).toHaveLength(1);
    expect(payload.attachments[0]).toMatchObject({
      contentType: ADAPTIVE_CARD_CONTENT_TYPE,
      contentUrl: null,
    });
    expect(cardProblems(payload.attachments[0]?.content)).toEqual([]);
  });

  it("colours the title by severity and lists facts, failing checks and commands", () => {
    const card = teamsPayload(buildView(alertMessage(ALERTS.RolledBack))).attachments[0]?.content;
    expect(card?.body[0]).toMatchObject({ type: "TextBlock", color: "Attention", weight: "Bolder" });
    expect(card?.body[2]).toMatchObject({
      type: "FactSet",
      facts: expect.arrayContaining([
        { title: "Kept", value: "ghcr.io/stefanprodan/podinfo:6.0.1 (revision 1a2b3c4d5e)" },
      ]),
    });
    const texts = (card?.body ?? []).flatMap((b) =>
      "text" in b && typeof b.text === "string" ? [b.text] : [],
    );
    expect(texts).toContain("request-duration 812.40, allowed: at most 500 (prometheus)");
    expect(texts).toContain("kanaria retry podinfo -n test");
    const info = teamsPayload(buildView(alertMessage(ALERTS.Promoted))).attachments[0]?.content;
    expect(info?.body[0]).toMatchObject({ color: "Good" });
  });

  it("a broken card is caught by the same check", () => {
    expect(
      cardProblems({ type: "AdaptiveCard", version: "1.4", body: [{ type: "TextBlock", color: "purple" }] }),
    ).toEqual(['Invalid value "purple" for property "color".']);
  });
});

describe("Teams delivery", () => {
  const receiver = useAlertReceiver();

  const settings = (address: string) => ({
    ref: "test/teams",
    type: "msteams" as const,
    address,
    token: undefined,
    channel: undefined,
    username: undefined,
    proxy: undefined,
    timeoutMs: 2_000,
  });

  it("posts to a Workflows webhook, which answers 202", async () => {
    await teamsNotifier(settings(receiver().teamsWebhook("ok"))).send(alertMessage(ALERTS.Halted));
    const [got] = receiver().delivered("/teams/workflows/ok/");
    expect(got?.status).toBe(202);
    expect(got?.body).toMatchObject({
      type: "message",
      attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE }],
    });
  });

  it("reports a 500 as retryable, without the workflow URL", async () => {
    receiver().script("/teams/workflows/down/", [{ status: 500, body: "oops" }]);
    const err = await teamsNotifier(settings(receiver().teamsWebhook("down")))
      .send(alertMessage(ALERTS.Halted))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).retryable).toBe(true);
    expect((err as Error).message).toBe(`Teams workflow ${receiver().url}/*** answered HTTP 500: oops`);
  });
});
