/**
 * Calls one Flagger-style webhook: an HTTP POST of Flagger's payload (name, namespace, phase,
 * checksum, type, metadata), so flagger-loadtester and existing gate services work unchanged.
 * 200-202 is a yes (as in Flagger); any other status is a no; a timeout or a connection error is an
 * error, which callers never treat as a yes. Messages never contain the metadata (it may hold
 * tokens) nor the URL's credentials or query.
 */
import { createHash } from "node:crypto";
import type { CanaryStatus, CanaryWebhook, WebhookType } from "../api/canary.ts";
import { parseDuration } from "../api/common.ts";
import { DEFAULTS } from "../api/defaults.ts";
import { lazy } from "../lazy.ts";
import { redactor, urlSecrets } from "../security/redact.ts";
import type { CallResult } from "./calls.ts";

export interface WebhookPayload {
  name: string;
  namespace: string;
  phase: string;
  checksum: string;
  type: WebhookType;
  metadata?: Record<string, string>;
}

export interface CallOptions {
  fetch?: typeof fetch;
  /** Pause before retry n (1-based); tests shorten it. */
  backoffMs?: (attempt: number) => number;
}

const BODY_IN_MESSAGE = 200;

/**
 * Flagger's disableTLS: the call skips verifying the server's certificate. undici's own fetch with an
 * agent that does not verify, loaded only when a hook asks for it.
 */
const unverifiedFetch = lazy(async (): Promise<typeof fetch> => {
  const undici = await import("undici");
  const dispatcher = new undici.Agent({ connect: { rejectUnauthorized: false } });
  return ((input: string, init: RequestInit) =>
    undici.fetch(input, { ...(init as object), dispatcher })) as unknown as typeof fetch;
});

/** Flagger's checksum: changes whenever the revision under analysis or its tracked configs change. */
export function canaryChecksum(status: CanaryStatus): string {
  const fields = JSON.stringify({
    trackedConfigs: status.trackedConfigs ?? {},
    lastAppliedSpec: status.lastAppliedSpec ?? "",
  });
  return createHash("sha256").update(fields).digest("hex").slice(0, 16);
}

/** The URL as it may appear in logs and events: scheme, host, port and path only. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

/** POSTs the payload, retrying `hook.retries` times after a connection error, a timeout or a 5xx. */
export async function callWebhook(
  hook: CanaryWebhook,
  payload: WebhookPayload,
  options: CallOptions = {},
): Promise<CallResult> {
  const retries = hook.retries ?? 0;
  const scrub = redactor(hookSecrets(hook));
  const backoff = options.backoffMs ?? ((n: number) => Math.min(5_000, 250 * 2 ** (n - 1)));
  const doFetch = options.fetch ?? (hook.disableTLS ? await unverifiedFetch() : fetch);
  let answer = await attempt(hook, payload, doFetch);
  for (let n = 1; n <= retries && retryable(answer); n++) {
    await new Promise((resolve) => setTimeout(resolve, backoff(n)));
    answer = await attempt(hook, payload, doFetch);
  }
  // A gate service may echo the request (the metadata, a token in the URL) in its answer.
  return { ...answer, message: scrub(answer.message) };
}

function hookSecrets(hook: CanaryWebhook): string[] {
  let query: string[] = [];
  try {
    query = [...new URL(hook.url).searchParams.values()];
  } catch {
    // An invalid URL fails the call itself.
  }
  return [...Object.values(hook.metadata ?? {}), ...urlSecrets(hook.url), ...query];
}

function retryable(answer: CallResult): boolean {
  return answer.result === "error" || (answer.code !== undefined && answer.code >= 500);
}

async function attempt(
  hook: CanaryWebhook,
  payload: WebhookPayload,
  doFetch: typeof fetch,
): Promise<CallResult> {
  const timeoutMs = hook.timeout ? parseDuration(hook.timeout) : DEFAULTS.webhookTimeoutMs;
  try {
    const response = await doFetch(hook.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "error",
    });
    const body = oneLine(await response.text());
    const code = response.status;
    const said = `${code}${response.statusText ? ` ${response.statusText}` : ""}${body ? `: ${body}` : ""}`;
    return { result: code >= 200 && code <= 202 ? "pass" : "fail", code, message: said };
  } catch (err) {
    return { result: "error", message: failure(err, timeoutMs) };
  }
}

function failure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${timeoutMs / 1000}s`;
  const cause = e.cause?.code ?? e.cause?.message;
  return `request failed: ${cause ?? e.message ?? String(err)}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > BODY_IN_MESSAGE ? `${flat.slice(0, BODY_IN_MESSAGE)}…` : flat;
}
