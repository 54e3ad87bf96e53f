import { describe, expect, it } from "vitest";
import { ALERTS, alertMessage } from "../../test/helpers/alerts.ts";
import { useAlertReceiver } from "../../test/support/alert-receiver.ts";
import { discordSlackAddress } from "./discord.ts";
import { createNotifier } from "./factory.ts";
import { GCHAT_TEXT_LIMIT, gchatPayload } from "./gchat.ts";
import type { ProviderSettings } from "./settings.ts";

const settings = (over: Partial<ProviderSettings>): ProviderSettings => ({
  ref: "test/chat",
  type: "rocket",
  address: undefined,
  token: undefined,
  channel: undefined,
  username: undefined,
  proxy: undefined,
  timeoutMs: 2_000,
  ...over,
});

describe("Flagger's other AlertProvider types", () => {
  const receiver = useAlertReceiver();

  it("discord posts Slack's payload to the webhook's /slack endpoint, as Flagger does", async () => {
    expect(discordSlackAddress("https://discord.com/api/webhooks/1/abc")).toBe(
      "https://discord.com/api/webhooks/1/abc/slack",
    );
    expect(discordSlackAddress("https://discord.com/api/webhooks/1/abc/slack")).toBe(
      "https://discord.com/api/webhooks/1/abc/slack",
    );
    const address = `${receiver().url}/generic/discord/1/abc`;
    await createNotifier(settings({ type: "discord", address, username: "flagger", channel: "ops" })).send(
      alertMessage(ALERTS.RolledBack),
    );
    const [got] = receiver().delivered("/generic/discord/");
    expect(got?.path).toBe("/generic/discord/1/abc/slack");
    expect(got?.body).toMatchObject({
      username: "flagger",
      channel: "ops",
      text: expect.stringContaining("podinfo"),
    });
  });

  it("rocket posts Slack's payload to the webhook as given", async () => {
    const address = `${receiver().url}/generic/rocket/hooks/xyz`;
    await createNotifier(settings({ type: "rocket", address })).send(alertMessage(ALERTS.Halted));
    const [got] = receiver().delivered("/generic/rocket/");
    expect(got?.path).toBe("/generic/rocket/hooks/xyz");
    expect(got?.body).toMatchObject({
      text: expect.stringContaining("podinfo"),
      attachments: [expect.any(Object)],
    });
  });

  it("gchat posts a text message within Google Chat's limit", async () => {
    const address = `${receiver().url}/generic/gchat/spaces/x/messages`;
    await createNotifier(settings({ type: "gchat", address })).send(alertMessage(ALERTS.Promoted));
    const [got] = receiver().delivered("/generic/gchat/");
    expect(got?.body).toEqual(gchatPayload(alertMessage(ALERTS.Promoted)));
    expect(JSON.stringify(got?.body)).toContain("podinfo");
    const long = gchatPayload(alertMessage({ ...ALERTS.Halted, message: "x".repeat(10_000) }));
    expect(long.text.length).toBe(GCHAT_TEXT_LIMIT);
  });

  it("fails on an error answer, naming the service but not the webhook's secret path", async () => {
    const address = `${receiver().url}/nowhere/secret-token`;
    await expect(
      createNotifier(settings({ type: "rocket", address })).send(alertMessage(ALERTS.Halted)),
    ).rejects.toThrow(/Rocket\.Chat webhook .* answered HTTP 404/);
    await expect(
      createNotifier(settings({ type: "rocket", address })).send(alertMessage(ALERTS.Halted)),
    ).rejects.not.toThrow(/secret-token/);
  });
});
