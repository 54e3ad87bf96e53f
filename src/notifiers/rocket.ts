/** Rocket.Chat: an incoming webhook that takes Slack's payload, as Flagger's `rocket` type posts it. */
import type { Notifier } from "./notifier.ts";
import type { ProviderSettings } from "./settings.ts";
import { slackCompatibleNotifier } from "./slack.ts";

export function rocketNotifier(settings: ProviderSettings): Notifier {
  return slackCompatibleNotifier(settings, "Rocket.Chat", (address) => address);
}
