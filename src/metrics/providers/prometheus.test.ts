// prometheus-query against a tiny local server that speaks the Prometheus HTTP API, for answers
// (and failures) a real Prometheus cannot be made to give on demand. test/metrics/prometheus.test.ts
// runs against the real one.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { MetricTemplateSpec } from "../../api/metric-template.ts";
import type { QueryOptions } from "../provider.ts";
import { createPrometheusProvider } from "./prometheus.ts";

type Handler = (res: ServerResponse, req: IncomingMessage) => void;

const json =
  (body: unknown, status = 200) =>
  (res: ServerResponse) => {
    res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  };
const success = (resultType: string, result: unknown) =>
  json({ status: "success", data: { resultType, result } });
const sample = (v: string) => ({ metric: { job: "x" }, value: [1_700_000_000, v] });

const answers: Record<string, Handler> = {
  one: success("vector", [sample("42.5")]),
  empty: success("vector", []),
  two: success("vector", [sample("1"), sample("2")]),
  nan: success("vector", [sample("NaN")]),
  inf: success("vector", [sample("+Inf")]),
  matrix: success("matrix", [{ metric: {}, values: [[1_700_000_000, "1"]] }]),
  scalar: success("scalar", [1_700_000_000, "7"]),
  string: success("string", [1_700_000_000, "hello"]),
  "vector(1)": success("vector", [{ metric: {}, value: [1_700_000_000, "1"] }]),
  bad: json({ status: "error", errorType: "bad_data", error: 'parse error: unexpected "}"' }, 400),
  unavailable: (res) =>
    res.writeHead(503, { "Content-Type": "text/html" }).end("<html>Service Unavailable</html>"),
  html: (res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<html><body>login</body></html>"),
  weird: json({ status: "success", data: { resultType: "histogram", result: [] } }),
  nodata: json({ status: "success" }),
  hang: (res) => hanging.push(res),
  // A backend that quotes the request in its error, as some proxies and gateways do.
  echo: (res, req) =>
    json(
      {
        status: "error",
        errorType: "unauthorized",
        error: `denied ${req.headers.authorization} key ${req.headers["x-api-key"]} at ${req.headers.host}`,
      },
      401,
    )(res),
  echohtml: (res, req) =>
    res.writeHead(403, { "Content-Type": "text/html" }).end(`<p>no: ${JSON.stringify(req.headers)}</p>`),
};
const hanging: ServerResponse[] = [];

let server: Server;
let address: string;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    const url = new URL(req.url ?? "/", "http://x");
    const handler = url.pathname.endsWith("/api/v1/query")
      ? answers[url.searchParams.get("query") ?? ""]
      : undefined;
    if (handler) handler(res, req);
    else json({ status: "error", errorType: "not_found", error: `no answer for ${req.url}` }, 404)(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

const NOW = new Date("2026-03-01T12:00:00Z");
const options: QueryOptions = { intervalMs: 60_000, timeoutMs: 2_000, now: NOW };

function provider(
  spec: Partial<MetricTemplateSpec["provider"]> = {},
  credentials: Record<string, string> = {},
) {
  return createPrometheusProvider({ type: "prometheus", address, ...spec }, credentials);
}

describe("prometheus provider", () => {
  it("returns the value of a single-series vector, evaluated at the given time", async () => {
    expect(await provider().query("one", options)).toEqual({ kind: "value", value: 42.5 });
    const url = new URL(seen[0]?.url ?? "", "http://x");
    expect(url.pathname).toBe("/api/v1/query");
    expect(url.searchParams.get("time")).toBe(String(NOW.getTime() / 1000));
    expect(url.searchParams.get("timeout")).toBe("2s");
  });

  it("keeps a path prefix of the address", async () => {
    const prefixed = createPrometheusProvider({ type: "prometheus", address: `${address}/prom/` }, {});
    expect(await prefixed.query("one", options)).toEqual({ kind: "value", value: 42.5 });
    expect(seen[0]?.url).toMatch(/^\/prom\/api\/v1\/query\?/);
  });

  it("returns a scalar's value", async () => {
    expect(await provider().query("scalar", options)).toEqual({ kind: "value", value: 7 });
  });

  it.each([
    ["empty", "empty vector"],
    ["nan", "NaN or ±Inf"],
    ["inf", "NaN or ±Inf"],
    ["matrix", "range vector"],
  ])("treats %s as no data", async (query, reason) => {
    const result = await provider().query(query, options);
    expect(result.kind).toBe("nodata");
    expect(result.kind === "nodata" && result.reason).toContain(reason);
  });

  it("rejects several series, naming how many and suggesting sum", async () => {
    await expect(provider().query("two", options)).rejects.toThrow(
      `Prometheus at ${address}: the query returned 2 series, but a check needs exactly one value: aggregate it, e.g. sum(...) or max(...)`,
    );
  });

  it.each([
    ["string", "the query returned a string result, not a number"],
    ["bad", 'HTTP 400 (bad_data): parse error: unexpected "}"'],
    [
      "unavailable",
      "HTTP 503: the answer is not a Prometheus API response: <html>Service Unavailable</html>",
    ],
    ["html", "HTTP 200: the answer is not a Prometheus API response: <html><body>login</body></html>"],
    ["weird", "malformed answer: Unexpected resultType: histogram"],
    ["nodata", "malformed answer"],
  ])("rejects %s with a message that says what happened", async (query, message) => {
    await expect(provider().query(query, options)).rejects.toThrow(message);
  });

  it("gives up after the timeout", async () => {
    const started = Date.now();
    await expect(provider().query("hang", { ...options, timeoutMs: 200 })).rejects.toThrow(
      `Prometheus at ${address}: no answer in time`,
    );
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("cancels the request when the caller's signal aborts, before its own timeout", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("caller gave up")), 50);
    const started = Date.now();
    const query = provider().query("hang", { ...options, timeoutMs: 10_000, signal: controller.signal });
    await expect(query).rejects.toThrow(`Prometheus at ${address}: request failed`);
    expect(Date.now() - started).toBeLessThan(1_500);
    // The server sees the connection go: the request itself stopped, not just our wait for it.
    const res = hanging.at(-1);
    await new Promise((resolve) =>
      res?.writableEnded || res?.destroyed ? resolve(0) : res?.once("close", resolve),
    );
    expect(res?.writableEnded).toBe(false);
  });

  it.each([
    ["echo", "HTTP 401 (unauthorized): denied"],
    ["echohtml", "HTTP 403: the answer is not a Prometheus API response"],
  ])("never repeats what the request carried when the answer (%s) echoes it", async (query, start) => {
    const basic = Buffer.from("alice:s3cret-pw").toString("base64");
    const user = provider(
      { address: address.replace("http://", "http://url-user:url-pw@"), secretRef: { name: "s" } },
      { username: "alice", password: "s3cret-pw" },
    );
    const bearer = provider(
      { headers: { "X-Api-Key": ["key-0042"] }, secretRef: { name: "s" } },
      { token: "tok-0042" },
    );
    for (const p of [user, bearer]) {
      const err = String(await p.query(query, options).catch((e: Error) => e));
      expect(err).toContain(start);
      for (const secret of ["alice", "s3cret-pw", basic, "url-user", "url-pw", "key-0042", "tok-0042"]) {
        expect(err).not.toContain(secret);
      }
    }
    // The server did get them: the redaction, not a missing header, keeps them out.
    const sent = seen.map((r) => r.headers.authorization);
    expect(sent).toEqual([`Basic ${basic}`, "Bearer tok-0042"]);
  });

  it("reports an unreachable server", async () => {
    const gone = createPrometheusProvider({ type: "prometheus", address: "http://127.0.0.1:1" }, {});
    await expect(gone.query("one", options)).rejects.toThrow(
      "Prometheus at http://127.0.0.1:1: request failed",
    );
  });

  it("sends custom headers and a bearer token from the secret", async () => {
    await provider(
      { headers: { "X-Scope-OrgID": ["tenant-1"] }, secretRef: { name: "s" } },
      { token: "t0ken" },
    ).query("one", options);
    expect(seen[0]?.headers["x-scope-orgid"]).toBe("tenant-1");
    expect(seen[0]?.headers.authorization).toBe("Bearer t0ken");
  });

  it("sends a header with several values (Flagger's form) as one comma-separated header", async () => {
    await provider({ headers: { "X-Scope-OrgID": ["tenant-1", "tenant-2"] } }, {}).query("one", options);
    expect(seen[0]?.headers["x-scope-orgid"]).toBe("tenant-1, tenant-2");
  });

  it("sends basic auth from username and password", async () => {
    await provider({ secretRef: { name: "s" } }, { username: "u", password: "p" }).query("one", options);
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from("u:p").toString("base64")}`);
  });

  it("rejects a secret without usable credentials, naming it but not its values", () => {
    expect(() => provider({ secretRef: { name: "prom-auth" } }, { username: "u" })).toThrow(
      'the secret prom-auth has neither a "token" key nor both "username" and "password" keys',
    );
  });

  it("needs an address", () => {
    expect(() => createPrometheusProvider({ type: "prometheus" }, {})).toThrow("prometheus needs an address");
  });

  it("never shows userinfo of the address", async () => {
    const withUser = address.replace("http://", "http://admin:hunter2@");
    const err = await createPrometheusProvider({ type: "prometheus", address: withUser }, {})
      .query("two", options)
      .catch((e: Error) => e);
    expect(String(err)).not.toContain("hunter2");
  });

  it("isOnline queries vector(1)", async () => {
    await expect(provider().isOnline(1_000)).resolves.toBeUndefined();
    expect(new URL(seen[0]?.url ?? "", "http://x").searchParams.get("query")).toBe("vector(1)");
    const gone = createPrometheusProvider({ type: "prometheus", address: "http://127.0.0.1:1" }, {});
    await expect(gone.isOnline(1_000)).rejects.toThrow("request failed");
  });
});
