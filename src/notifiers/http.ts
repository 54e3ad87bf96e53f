/**
 * One HTTP POST of a JSON payload for every notifier: undici, with an optional proxy (ProxyAgent), a
 * timeout that covers connecting, the answer and its body, and errors that never name the address.
 */
import type { Dispatcher, ProxyAgent } from "undici";
import { lazy } from "../lazy.ts";
import { DeliveryError } from "./notifier.ts";
import { redactUrl, scrubber } from "./redact.ts";

export interface PostOptions {
  proxy?: string | undefined;
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Secrets that must not appear in an error (the token); the address is always redacted. */
  secrets?: (string | undefined)[];
}

export interface PostResult {
  status: number;
  /** The answer as received: parse it, never report it. */
  body: string;
  /** The start of the answer with every secret scrubbed: safe for errors and logs. */
  detail: string;
}

/**
 * undici, loaded with the first notification: a controller with no alerts never holds it (about
 * 10 MiB of code and heap).
 */
const loadUndici = lazy(() => import("undici"));

const proxies = new Map<string, ProxyAgent>();

function dispatcherFor(http: typeof import("undici"), proxy: string | undefined): Dispatcher | undefined {
  if (!proxy) return undefined;
  let agent = proxies.get(proxy);
  if (!agent) {
    agent = new http.ProxyAgent(proxy);
    proxies.set(proxy, agent);
  }
  return agent;
}

/** Posts JSON and returns the status and body; throws a DeliveryError when no answer came. */
export async function postJson(address: string, payload: unknown, options: PostOptions): Promise<PostResult> {
  const scrub = scrubber([address, options.proxy, ...(options.secrets ?? [])]);
  const where = redactUrl(address);
  try {
    const http = await loadUndici();
    const dispatcher = dispatcherFor(http, options.proxy);
    const response = await http.request(address, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", ...options.headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(options.timeoutMs),
      ...(dispatcher ? { dispatcher } : {}),
    });
    const body = await response.body.text();
    return { status: response.statusCode, body, detail: scrub(body).slice(0, 300).trim() };
  } catch (err) {
    const reason =
      err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")
        ? `no answer within ${options.timeoutMs / 1000}s`
        : describe(err);
    throw new DeliveryError(`POST ${where}${options.proxy ? " (through the proxy)" : ""}: ${scrub(reason)}`);
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = (err as { code?: string }).code ?? (cause as { code?: string } | undefined)?.code;
  return code ? `${err.message} (${code})` : err.message;
}

/** Throws a DeliveryError for anything but a 2xx answer (4xx other than 408/429 cannot succeed by retrying). */
export function expectSuccess(result: PostResult, what: string): void {
  if (result.status >= 200 && result.status < 300) return;
  const retryable = result.status >= 500 || result.status === 408 || result.status === 429;
  const detail = result.detail ? `: ${result.detail}` : "";
  throw new DeliveryError(`${what} answered HTTP ${result.status}${detail}`, retryable);
}
