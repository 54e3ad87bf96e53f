import { describe, expect, it } from "vitest";
import { authorize, newSession, type RequestFacts, SESSION_COOKIE, TOKEN_HEADER } from "./security.ts";

const session = newSession(8484, "s3cret-token");
const cookie = `${SESSION_COOKIE}=s3cret-token`;
const page = { host: "127.0.0.1:8484", cookie };
const action = {
  ...page,
  origin: "http://127.0.0.1:8484",
  [TOKEN_HEADER]: "s3cret-token",
  "content-type": "application/json",
};

function check(method: string, url: string, headers: RequestFacts["headers"]) {
  return authorize({ method, url, headers }, session);
}

describe("authorize", () => {
  it.each([
    ["the page", "GET", "/", page],
    ["the page under localhost", "GET", "/", { ...page, host: "localhost:8484" }],
    ["the live feed from the page", "GET", "/api/live", { ...page, origin: "http://127.0.0.1:8484" }],
    ["an action of the page", "POST", "/api/canaries/a/b/promote", action],
  ])("lets %s through", (_what, method, url, headers) => {
    expect(check(method, url, headers)).toEqual({ ok: true });
  });

  it("starts a session from the printed URL and sends the browser to /", () => {
    expect(check("GET", "/?token=s3cret-token", { host: "127.0.0.1:8484" })).toEqual({
      ok: "login",
      location: "/",
    });
  });

  it.each([
    ["another Host (DNS rebinding)", "GET", "/", { ...page, host: "evil.example:8484" }, 403, /Host/],
    ["another port in Host", "GET", "/", { ...page, host: "127.0.0.1:9999" }, 403, /Host/],
    ["no Host", "GET", "/", { cookie }, 403, /Host/],
    ["another Origin", "GET", "/api/live", { ...page, origin: "http://evil.example" }, 403, /evil/],
    ["a cross-site fetch", "GET", "/api/live", { ...page, "sec-fetch-site": "cross-site" }, 403, /cross/],
    ["a wrong link token", "GET", "/?token=guess", { host: "127.0.0.1:8484" }, 401, /token/],
    ["no session cookie", "GET", "/", { host: "127.0.0.1:8484" }, 401, /session/],
    [
      "a wrong session cookie",
      "GET",
      "/",
      { ...page, cookie: `${SESSION_COOKIE}=s3cret-tokeX` },
      401,
      /session/,
    ],
    ["an action without Origin", "POST", "/api/x", { ...action, origin: undefined }, 403, /Origin/],
    [
      "an action without the token header",
      "POST",
      "/api/x",
      { ...action, [TOKEN_HEADER]: undefined },
      403,
      /header/,
    ],
    [
      "an action with a wrong token header",
      "POST",
      "/api/x",
      { ...action, [TOKEN_HEADER]: "nope" },
      403,
      /header/,
    ],
    ["a form post", "POST", "/api/x", { ...action, "content-type": "text/plain" }, 400, /json/],
    [
      "an action from another site",
      "POST",
      "/api/x",
      { ...action, origin: "http://evil.example" },
      403,
      /evil/,
    ],
  ])("refuses %s", (_what, method, url, headers, status, message) => {
    const verdict = check(method, url, headers);
    expect(verdict.ok).toBe(false);
    if (verdict.ok !== false) return;
    expect(verdict.status).toBe(status);
    expect(verdict.message).toMatch(message);
  });

  it("makes a new random token per session", () => {
    const a = newSession(1).token;
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newSession(1).token).not.toBe(a);
  });
});
