/** One Notifier per AlertProvider type. */
import { genericNotifier } from "./generic.ts";
import { teamsNotifier } from "./msteams.ts";
import type { Notifier } from "./notifier.ts";
import type { ProviderSettings } from "./settings.ts";
import { slackNotifier } from "./slack.ts";

const NOTIFIERS: Record<ProviderSettings["type"], (settings: ProviderSettings) => Notifier> = {
  slack: slackNotifier,
  msteams: teamsNotifier,
  generic: genericNotifier,
};

export function createNotifier(settings: ProviderSettings): Notifier {
  return NOTIFIERS[settings.type](settings);
}
