/** Discord: its Slack-compatible webhook endpoint, as Flagger's `discord` type posts (the webhook
 * address with `/slack` appended unless it ends so already). */
import type { Notifier } from "./notifier.ts";
import type { ProviderSettings } from "./settings.ts";
import { slackCompatibleNotifier } from "./slack.ts";

export function discordSlackAddress(address: string): string {
  if (address.endsWith("/slack")) return address;
  const url = new URL(address);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/slack`;
  return url.toString();
}

export function discordNotifier(settings: ProviderSettings): Notifier {
  return slackCompatibleNotifier(settings, "Discord", discordSlackAddress);
}
