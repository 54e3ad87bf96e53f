/**
 * A webhook URL is its own credential (Slack's path holds the workspace, channel and secret), so a
 * notifier names an address by scheme and host only, and scrubs the address, the token and the
 * proxy from anything it reports with the project's redaction helper.
 */
import { redactor } from "../security/redact.ts";

/** "https://hooks.slack.com/services/T0/B0/xyz" -> "https://hooks.slack.com/***". */
export function redactUrl(address: string): string {
  try {
    const url = new URL(address);
    return `${url.protocol}//${url.host}/***`;
  } catch {
    return "(invalid URL)";
  }
}

/** A scrubber for messages about one provider: its secrets in every encoding, and every URL's path. */
export function scrubber(secrets: (string | undefined)[]): (text: string) => string {
  const redact = redactor(secrets);
  return (text) => redact(text).replace(/\b(https?:\/\/[^\s/'"<>]+)\/[^\s'"<>]*/g, "$1/***");
}
