/** One Notifier per AlertProvider type. */
import { discordNotifier } from "./discord.ts";
import { gchatNotifier } from "./gchat.ts";
import { genericNotifier } from "./generic.ts";
import { teamsNotifier } from "./msteams.ts";
import type { Notifier } from "./notifier.ts";
import { rocketNotifier } from "./rocket.ts";
import type { ProviderSettings } from "./settings.ts";
import { slackNotifier } from "./slack.ts";

const NOTIFIERS: Record<ProviderSettings["type"], (settings: ProviderSettings) => Notifier> = {
  slack: slackNotifier,
  msteams: teamsNotifier,
  generic: genericNotifier,
  discord: discordNotifier,
  rocket: rocketNotifier,
  gchat: gchatNotifier,
};

export function createNotifier(settings: ProviderSettings): Notifier {
  return NOTIFIERS[settings.type](settings);
}
