/**
 * The checks a web server on 127.0.0.1 needs, because every web page the user opens can send it
 * requests: the Host header must name this server (a DNS-rebinding page reaches 127.0.0.1 under its
 * own name), the Origin must be this server (a page of another origin may send, not read), and a
 * per-session secret must come with every request: as an HttpOnly SameSite=Strict cookie (set when
 * the URL the CLI printed is opened; other local users and other sites have neither) and, on every
 * action, also as a header the page's own script adds (cross-site request forgery cannot add it).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_HEADER = "x-kanaria-token";
export const SESSION_COOKIE = "kanaria_dashboard";

export interface Session {
  /** The secret of this server process, base64url. */
  token: string;
  /** "127.0.0.1:8484" and "localhost:8484": the Host values this server answers to. */
  hosts: string[];
  /** "http://127.0.0.1:8484" and "http://localhost:8484". */
  origins: string[];
}

export function newSession(port: number, token = randomBytes(32).toString("base64url")): Session {
  const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return { token, hosts, origins: hosts.map((h) => `http://${h}`) };
}

/** The parts of a request the checks read (header names in lower case, as node:http gives them). */
export interface RequestFacts {
  method: string;
  /** Path and query, e.g. "/?token=abc". */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

export type Verdict =
  | { ok: true }
  /** Opening the printed URL: set the cookie and send the browser to `location`. */
  | { ok: "login"; location: string }
  | { ok: false; status: 400 | 401 | 403; message: string };

const SAFE_METHODS = new Set(["GET", "HEAD"]);

export function authorize(request: RequestFacts, session: Session): Verdict {
  const host = header(request, "host");
  if (!host || !session.hosts.includes(host.toLowerCase())) {
    return deny(403, `Host ${host ?? "(none)"} is not this dashboard (open ${session.origins[0]}/)`);
  }
  const origin = header(request, "origin");
  if (origin !== undefined && !session.origins.includes(origin.toLowerCase())) {
    return deny(403, `requests from ${origin} are not accepted`);
  }
  if (header(request, "sec-fetch-site") === "cross-site") {
    return deny(403, "cross-site requests are not accepted");
  }
  const url = new URL(request.url, session.origins[0]);
  const given = url.searchParams.get("token");
  if (request.method === "GET" && url.pathname === "/" && given !== null) {
    if (!same(given, session.token)) return deny(401, "this link's token is not this dashboard's");
    return { ok: "login", location: "/" };
  }
  if (!same(cookie(request, SESSION_COOKIE), session.token)) {
    return deny(401, "no session: open the URL `kanaria dashboard` printed (it carries the token)");
  }
  if (SAFE_METHODS.has(request.method)) return { ok: true };
  if (origin === undefined) return deny(403, "an action needs an Origin header");
  if (!same(header(request, TOKEN_HEADER), session.token)) {
    return deny(403, `an action needs the page's ${TOKEN_HEADER} header`);
  }
  const type = header(request, "content-type") ?? "";
  // A form post (text/plain, urlencoded) is what a cross-site page can send without asking.
  if (!type.toLowerCase().startsWith("application/json")) {
    return deny(400, "an action's body must be application/json");
  }
  return { ok: true };
}

/** The Set-Cookie value that starts a session. */
export function sessionCookie(session: Session): string {
  return `${SESSION_COOKIE}=${session.token}; HttpOnly; SameSite=Strict; Path=/`;
}

function deny(status: 400 | 401 | 403, message: string): Verdict {
  return { ok: false, status, message };
}

function header(request: RequestFacts, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookie(request: RequestFacts, name: string): string | undefined {
  for (const part of (header(request, "cookie") ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from response times. */
function same(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
