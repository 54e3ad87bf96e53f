import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBody } from "./connection.ts";
import { transportFor } from "./transport.ts";

let dir: string;
let cert: Buffer;
let key: Buffer;
const closers: (() => void)[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kanaria-transport-"));
  execFileSync("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1"],
    ...["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
  ]);
  cert = readFileSync(join(dir, "cert.pem"));
  key = readFileSync(join(dir, "key.pem"));
});

afterAll(() => {
  for (const close of closers) close();
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  method: string;
  path: string;
  version: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

async function listen(server: https.Server | http2.Http2SecureServer | tls.Server | Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => server.close());
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An h2 server that answers each request with what it saw, after `delayMs`. */
async function h2Server(options: { maxConcurrentStreams?: number; delayMs?: number } = {}) {
  const seen: Seen[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const server = http2.createSecureServer({
    cert,
    key,
    ...(options.maxConcurrentStreams
      ? { settings: { maxConcurrentStreams: options.maxConcurrentStreams } }
      : {}),
  });
  server.on("session", (s) => sessions.push(s));
  server.on("request", async (req, res) => {
    // A client that aborts resets its stream; that is the client's business, not a server error.
    res.stream.on("error", () => {});
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    const body = await readBody(req);
    const one: Seen = {
      method: req.method,
      path: req.url,
      version: req.httpVersion,
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      body,
    };
    seen.push(one);
    setTimeout(() => {
      concurrent--;
      if (res.stream.destroyed) return;
      res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify(one));
    }, options.delayMs ?? 0);
  });
  const url = await listen(server);
  return { url, seen, sessions, server, maxConcurrent: () => maxConcurrent };
}

const send = (url: string, path: string, more: { body?: string; signal?: AbortSignal } = {}) =>
  transportFor(url, { ca: cert }).send({ method: "GET", path, ...more }, {});

describe("transportFor over TLS", () => {
  it("sends every request as a stream of one HTTP/2 session, with its headers and body", async () => {
    const { url, seen, sessions } = await h2Server({ delayMs: 20 });
    const transport = transportFor(url, { ca: cert });
    // The bodies are read once every response is in: by then the server has closed each stream.
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        transport.send(
          {
            method: "PATCH",
            path: `/p/${i}`,
            body: `{"n":${i}}`,
            contentType: "application/merge-patch+json",
          },
          { Authorization: "Bearer t0ken" },
        ),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    const bodies = await Promise.all(responses.map(async (r) => JSON.parse(await readBody(r.body)) as Seen));
    expect(bodies[7]).toEqual({
      method: "PATCH",
      path: "/p/7",
      version: "2.0",
      authorization: "Bearer t0ken",
      contentType: "application/merge-patch+json",
      body: '{"n":7}',
    });
    expect(responses.every((r) => r.complete())).toBe(true);
    expect(seen).toHaveLength(20);
    expect(sessions).toHaveLength(1);
  });

  it("keeps the path the server URL names before each request's, in both protocols", async () => {
    const { url } = await h2Server();
    const h2 = await send(`${url}/k8s/clusters/c-1/`, "/api/v1?limit=1");
    expect(JSON.parse(await readBody(h2.body))).toMatchObject({ path: "/k8s/clusters/c-1/api/v1?limit=1" });
    const paths: string[] = [];
    const h1url = await listen(
      https.createServer({ cert, key }, (req, res) => {
        paths.push(req.url ?? "");
        res.end("{}");
      }),
    );
    await readBody((await send(`${h1url}/k8s/clusters/c-1`, "/api/v1")).body);
    expect(paths).toEqual(["/k8s/clusters/c-1/api/v1"]);
  });

  it("passes error statuses on with their body", async () => {
    const { url } = await h2Server();
    const response = await send(url, "/missing");
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(await readBody(response.body))).toMatchObject({ path: "/missing" });
  });

  it("speaks HTTP/1.1 to a server that does not offer h2", async () => {
    const versions: string[] = [];
    const url = await listen(
      https.createServer({ cert, key }, (req, res) => {
        versions.push(req.httpVersion);
        res.end("{}");
      }),
    );
    const transport = transportFor(url, { ca: cert });
    for (let i = 0; i < 3; i++) {
      const response = await transport.send({ method: "GET", path: "/" }, {});
      expect(response.statusCode).toBe(200);
      expect(await readBody(response.body)).toBe("{}");
    }
    expect(versions).toEqual(["1.1", "1.1", "1.1"]);
  });

  it("opens a new session after the server sends GOAWAY", async () => {
    const { url, sessions } = await h2Server();
    const transport = transportFor(url, { ca: cert });
    await readBody((await transport.send({ method: "GET", path: "/a" }, {})).body);
    sessions[0]?.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const response = await transport.send({ method: "GET", path: "/b" }, {});
    expect(JSON.parse(await readBody(response.body))).toMatchObject({ path: "/b" });
    expect(sessions).toHaveLength(2);
  });

  it("sends a request again that the server refused while it went away", async () => {
    const { url, sessions } = await h2Server({ delayMs: 30 });
    const transport = transportFor(url, { ca: cert });
    const first = transport.send({ method: "GET", path: "/first" }, {}).then((r) => readBody(r.body));
    await new Promise((resolve) => setTimeout(resolve, 10));
    // GOAWAY for every stream after the first, and in the same tick three more requests: they are
    // on the wire before the client reads the GOAWAY, so the server (or the client on reading it)
    // refuses them.
    sessions[0]?.goaway(0, 1);
    const later = await Promise.all(
      ["/a", "/b", "/c"].map(async (path) =>
        readBody((await transport.send({ method: "GET", path }, {})).body),
      ),
    );
    // Each was sent again on a new session.
    expect(later.map((b) => (JSON.parse(b) as Seen).path)).toEqual(["/a", "/b", "/c"]);
    expect(JSON.parse(await first)).toMatchObject({ path: "/first" });
    expect(sessions.length).toBeGreaterThanOrEqual(2);
  });

  it("keeps to the server's limit on concurrent streams", async () => {
    const server = await h2Server({ maxConcurrentStreams: 2, delayMs: 30 });
    const transport = transportFor(server.url, { ca: cert });
    // The first request lets the server's SETTINGS arrive before the burst.
    await readBody((await transport.send({ method: "GET", path: "/first" }, {})).body);
    const bodies = await Promise.all(
      Array.from({ length: 6 }, async (_, i) =>
        readBody((await transport.send({ method: "GET", path: `/${i}` }, {})).body),
      ),
    );
    expect(bodies).toHaveLength(6);
    expect(server.maxConcurrent()).toBe(2);
  });

  it("rejects a request aborted before its response", async () => {
    const { url } = await h2Server({ delayMs: 5_000 });
    await expect(send(url, "/slow", { signal: AbortSignal.timeout(50) })).rejects.toThrow(/abort/i);
  });

  it("cuts a stream that stays idle, and says it did not arrive whole", async () => {
    const server = http2.createSecureServer({ cert, key });
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.respond({ ":status": 200 });
      stream.write('{"type":"ADDED"}\n');
    });
    const url = await listen(server);
    const response = await send(url, "/watch");
    response.cutWhenIdle(100, () => new Error("watch stream idle"));
    expect(response.complete()).toBe(false);
    await expect(readBody(response.body)).rejects.toThrow("watch stream idle");
    expect(response.complete()).toBe(false);
  });

  it("gives up on a server that accepts the connection but never completes the handshake", async () => {
    const mute = createServer((socket) => socket.on("data", () => {}));
    const url = await listen(mute);
    const transport = transportFor(
      url,
      { ca: cert },
      { connectTimeoutMs: 100, pingEveryMs: 50, pingTimeoutMs: 50 },
    );
    await expect(transport.send({ method: "GET", path: "/" }, {})).rejects.toThrow(
      "no TLS connection within 100 ms",
    );
    // The failed connect is not kept: the next request tries again (and fails the same way here).
    await expect(transport.send({ method: "GET", path: "/" }, {})).rejects.toThrow("no TLS connection");
  });

  it("closes a session whose pings go unanswered, failing what waits on it", async () => {
    // Completes the TLS handshake and chooses h2, then never sends a frame: a connection gone silent.
    const silent = tls.createServer({ cert, key, ALPNProtocols: ["h2"] }, (socket) => {
      socket.on("data", () => {});
    });
    const url = await listen(silent);
    const transport = transportFor(
      url,
      { ca: cert },
      {
        connectTimeoutMs: 1_000,
        pingEveryMs: 50,
        pingTimeoutMs: 100,
      },
    );
    const started = Date.now();
    await expect(transport.send({ method: "GET", path: "/" }, {})).rejects.toThrow(
      "no answer to an HTTP/2 ping in 100 ms",
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
