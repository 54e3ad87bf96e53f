/**
 * How requests travel to the API server. Over TLS one HTTP/2 connection carries every request and
 * every watch as a stream of its own, as client-go does: with 32 reconciles writing at once that is
 * one TLS session instead of 32 (each costs ~0.25 MiB resident; 128 concurrent requests: +27 MiB over
 * HTTP/1.1 sockets, +14 MiB over streams). A server whose TLS handshake does not choose h2 (ALPN) is
 * spoken to in HTTP/1.1 over a keep-alive agent, as is plain http.
 */
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { isIP } from "node:net";
import { PassThrough, pipeline, type Readable } from "node:stream";
import tls from "node:tls";

export interface HttpRequest {
  method: string;
  /** Path and query, e.g. "/api/v1/namespaces/x/pods?limit=500". */
  path: string;
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
}

export interface HttpResponse {
  readonly statusCode: number;
  /** The body as it arrives; destroying it cuts the response. */
  readonly body: Readable;
  /** Whether the body arrived whole: false while it streams, and after it was cut. */
  complete(): boolean;
  /** Cuts the body with `error()` once no data arrived for `ms`. */
  cutWhenIdle(ms: number, error: () => Error): void;
}

export interface TlsSettings {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  serverName?: string | undefined;
  insecure?: boolean | undefined;
}

export interface Transport {
  send(request: HttpRequest, headers: Record<string, string>): Promise<HttpResponse>;
}

/** HTTP/1.1 over `agent` (a keep-alive agent, or one client-node made for a proxy), or a socket per request. */
export function http1Transport(server: string, agent: http.Agent | undefined): Transport {
  return {
    send(request, headers) {
      const url = new URL(server + request.path);
      const lib = url.protocol === "https:" ? https : http;
      return new Promise((resolve, reject) => {
        const req = lib.request(
          url,
          {
            method: request.method,
            headers: withBodyHeaders(request, headers),
            ...(agent ? { agent } : {}),
            ...(request.signal ? { signal: request.signal } : {}),
          },
          (res) =>
            resolve({
              statusCode: res.statusCode ?? 0,
              body: res,
              complete: () => res.complete,
              cutWhenIdle: (ms, error) => res.setTimeout(ms, () => res.destroy(error())),
            }),
        );
        req.on("error", reject);
        req.end(request.body);
      });
    },
  };
}

/** How long a connection may take to open, and how its liveness is checked (client-go pings after 30 s and waits 15 s). */
export interface Liveness {
  connectTimeoutMs: number;
  pingEveryMs: number;
  pingTimeoutMs: number;
}

const CLIENT_GO_LIVENESS: Liveness = { connectTimeoutMs: 30_000, pingEveryMs: 30_000, pingTimeoutMs: 15_000 };

/** The transport for a server URL: HTTP/2 when it is https and the server agrees to it in the handshake. */
export function transportFor(
  server: string,
  settings: TlsSettings,
  liveness = CLIENT_GO_LIVENESS,
): Transport {
  if (!server.startsWith("https:")) return http1Transport(server, new http.Agent({ keepAlive: true }));
  return new NegotiatedTransport(server, settings, liveness);
}

function withBodyHeaders(request: HttpRequest, headers: Record<string, string>): Record<string, string> {
  const all: Record<string, string> = { Accept: "application/json", ...headers };
  if (request.body !== undefined) {
    all["Content-Type"] = request.contentType ?? "application/json";
    all["Content-Length"] = String(Buffer.byteLength(request.body));
  }
  return all;
}

/** Flow-control windows: a page of a list arrives in one go instead of 64 KiB per round trip (what is
 * received is read at once, so a wide window holds no more memory). Go's transport opens wider still. */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

/**
 * The body of an h2 stream, moved as it arrives into a stream of our own. Node destroys an HTTP/2
 * stream once the server has closed it, buffered data or not, and several frames are handled before
 * the awaiting caller runs: a whole small response can be in and its stream gone by the time a reader
 * attaches (a reader then sees "Premature close"; 1,000 applies at once in `make bench` hit it).
 * Errors and cuts pass through to the returned stream, and destroying that cancels the h2 stream.
 */
function drained(stream: http2.ClientHttp2Stream): Readable {
  const body = new PassThrough();
  pipeline(stream, body, () => {});
  // As with the h2 stream: an error after the last reader left has nobody to tell.
  body.on("error", () => {});
  return body;
}

/** How many times one request is sent again after the server refused its stream unprocessed. */
const MAX_REFUSED = 3;

class RefusedStream extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}

interface Live {
  h2: http2.ClientHttp2Session;
  /** Streams open on this session. */
  open: number;
}

/**
 * Asks for h2 in the first TLS handshake and keeps to what the server chose. The session is opened
 * again after the server sends GOAWAY or the connection drops; a session whose pings go unanswered is
 * taken for dead and closed, which fails its requests and ends its watches (they relist) instead of
 * leaving them to hang on a connection that no longer exists.
 */
class NegotiatedTransport implements Transport {
  private readonly server: string;
  private readonly url: URL;
  /** A path the server is behind (a proxy's, e.g. Rancher's /k8s/clusters/<id>), put before every request's. */
  private readonly basePath: string;
  private readonly settings: TlsSettings;
  private readonly liveness: Liveness;
  private http1: Transport | undefined;
  private session: Promise<Live | undefined> | undefined;
  private readonly waiting: (() => void)[] = [];

  constructor(server: string, settings: TlsSettings, liveness: Liveness) {
    this.server = server;
    this.url = new URL(server);
    this.basePath = this.url.pathname.replace(/\/+$/, "");
    this.settings = settings;
    this.liveness = liveness;
  }

  async send(request: HttpRequest, headers: Record<string, string>): Promise<HttpResponse> {
    for (let refused = 0; ; ) {
      const pending = this.current();
      const live = await pending;
      // Destroyed, or closing after GOAWAY, before its close event told us: it takes no new streams.
      if (live && (live.h2.closed || live.h2.destroyed)) {
        this.forget(pending);
        continue;
      }
      if (!live) {
        this.http1 ??= http1Transport(this.server, this.agent());
        return this.http1.send(request, headers);
      }
      // The server's limit on concurrent streams (250 in Go's default) counts watches and requests together.
      if (live.open >= (live.h2.remoteSettings.maxConcurrentStreams ?? 100)) {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
        continue;
      }
      try {
        return await this.stream(live, request, headers);
      } catch (err) {
        // A refused stream was not processed (a GOAWAY crossed it): sent again, as Go's transport does.
        if (!(err instanceof RefusedStream) || ++refused > MAX_REFUSED) throw err;
      }
    }
  }

  private current(): Promise<Live | undefined> {
    this.session ??= this.connect();
    return this.session;
  }

  private stream(live: Live, request: HttpRequest, headers: Record<string, string>): Promise<HttpResponse> {
    const h2headers: http2.OutgoingHttpHeaders = {
      ":method": request.method,
      ":path": this.basePath + request.path,
    };
    for (const [name, value] of Object.entries(withBodyHeaders(request, headers))) {
      h2headers[name.toLowerCase()] = value;
    }
    const stream = live.h2.request(h2headers, request.signal ? { signal: request.signal } : {});
    // An open stream keeps the process running; an idle session does not (the CLI exits when done).
    if (live.open++ === 0) live.h2.ref();
    let ended = false;
    stream.once("end", () => {
      ended = true;
    });
    stream.once("close", () => {
      if (--live.open === 0 && !live.h2.destroyed) live.h2.unref();
      this.waiting.shift()?.();
    });
    // A reset after the body was read (the session going away) has no reader left to tell; the
    // reader of an unfinished body gets the error through its own listener or iterator.
    stream.on("error", () => {});
    return new Promise((resolve, reject) => {
      const failed = (err: Error) =>
        reject(stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? new RefusedStream(err) : err);
      stream.once("error", failed);
      stream.once("response", (responseHeaders) => {
        stream.off("error", failed);
        resolve({
          statusCode: Number(responseHeaders[":status"] ?? 0),
          body: drained(stream),
          complete: () => ended,
          cutWhenIdle: (ms, error) => stream.setTimeout(ms, () => stream.destroy(error())),
        });
      });
      stream.end(request.body);
    });
  }

  private agent(): https.Agent {
    return new https.Agent({ keepAlive: true, ...this.tlsOptions() });
  }

  private tlsOptions(): tls.ConnectionOptions {
    const { ca, cert, key, serverName, insecure } = this.settings;
    const host = this.host();
    // SNI carries host names only: an IP address there is refused by the RFC (and Node warns).
    const servername = serverName ?? (isIP(host) ? undefined : host);
    return {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(servername ? { servername } : {}),
      rejectUnauthorized: !insecure,
    };
  }

  private host(): string {
    return this.url.hostname.replace(/^\[|\]$/g, "");
  }

  /** Resolves with an h2 session, or undefined when the server chose HTTP/1.1; a failed connect is not kept. */
  private connect(): Promise<Live | undefined> {
    const pending: Promise<Live | undefined> = new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: this.host(),
        port: Number(this.url.port || 443),
        ALPNProtocols: ["h2", "http/1.1"],
        ...this.tlsOptions(),
      });
      // A server that does not answer (a black-holed address) fails the requests waiting for it
      // within their own timeout, as a request over HTTP/1.1 did, not after the kernel gives up.
      const { connectTimeoutMs } = this.liveness;
      socket.setTimeout(connectTimeoutMs, () =>
        socket.destroy(
          new Error(`API server ${this.url.host}: no TLS connection within ${connectTimeoutMs} ms`),
        ),
      );
      socket.once("error", reject);
      socket.once("secureConnect", () => {
        socket.setTimeout(0);
        socket.off("error", reject);
        if (socket.alpnProtocol !== "h2") {
          socket.destroy();
          resolve(undefined);
          return;
        }
        resolve(this.sessionOver(socket, () => this.forget(pending)));
      });
    });
    pending.catch(() => this.forget(pending));
    return pending;
  }

  /** The next request opens a new session, unless one already replaced this one. */
  private forget(session: Promise<Live | undefined>): void {
    if (this.session === session) this.session = undefined;
  }

  private sessionOver(socket: tls.TLSSocket, forget: () => void): Live {
    const h2 = http2.connect(this.url.origin, {
      createConnection: () => socket,
      settings: { initialWindowSize: STREAM_WINDOW },
    });
    const live: Live = { h2, open: 0 };
    h2.setLocalWindowSize(SESSION_WINDOW);
    // Streams already open finish on the old session; new requests open a new one.
    h2.once("goaway", forget);
    h2.on("error", forget);
    const pinger = setInterval(() => this.ping(live), this.liveness.pingEveryMs);
    pinger.unref();
    h2.once("close", () => {
      forget();
      clearInterval(pinger);
      // Requests waiting for a free stream try the next session.
      for (const wake of this.waiting.splice(0)) wake();
    });
    h2.unref();
    return live;
  }

  private ping(live: Live): void {
    const { h2 } = live;
    if (live.open === 0 || h2.destroyed) return;
    const { pingTimeoutMs: timeoutMs } = this.liveness;
    const unanswered = setTimeout(
      () =>
        h2.destroy(new Error(`API server ${this.url.host}: no answer to an HTTP/2 ping in ${timeoutMs} ms`)),
      timeoutMs,
    );
    unanswered.unref();
    const sent = h2.ping((err) => {
      clearTimeout(unanswered);
      if (err && !h2.destroyed) h2.destroy(err);
    });
    if (!sent) clearTimeout(unanswered);
  }
}
