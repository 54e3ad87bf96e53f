/**
 * One HTTP listener for the probes and the scrape: /healthz (the process serves requests),
 * /readyz (the watch caches are synced; a replica that is not the leader is ready too, so a
 * rollout of the Deployment can proceed while it waits for the Lease) and /metrics.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

export interface ObservabilityServer {
  /** Where it listens, e.g. "127.0.0.1:8080" (the real port when 0 was asked for). */
  readonly address: string;
  /** Readiness: false until the caches are synced, and again while shutting down. */
  setReady(ready: boolean): void;
  close(): Promise<void>;
}

/** Parses "host:port" ("[::1]:8080" for IPv6); port 0 picks a free one. */
export function parseBindAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535) {
    throw new Error(
      `--metrics-bind-address must be HOST:PORT (e.g. 127.0.0.1:8080 or 0.0.0.0:8080), got "${value}"`,
    );
  }
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

export async function startObservabilityServer(
  bindAddress: string,
  registry: Registry,
  logger: Logger,
): Promise<ObservabilityServer> {
  const { host, port } = parseBindAddress(bindAddress);
  let ready = false;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz" || path === "/livez") {
      res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
    } else if (path === "/readyz") {
      res
        .writeHead(ready ? 200 : 503, { "Content-Type": "text/plain" })
        .end(ready ? "ok" : "caches not synced");
    } else if (path === "/metrics") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "Content-Type": registry.contentType }).end(body),
        (err: unknown) => {
          logger.warn({ err }, "collecting metrics failed");
          res.writeHead(500, { "Content-Type": "text/plain" }).end("collecting metrics failed");
        },
      );
    } else {
      res
        .writeHead(404, { "Content-Type": "text/plain" })
        .end("not found: try /healthz, /readyz or /metrics");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(new Error(`cannot listen on ${bindAddress} (--metrics-bind-address): ${err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const address =
    bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  logger.info({ address }, "serving /healthz, /readyz and /metrics");
  return {
    address,
    setReady(value) {
      ready = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Local runs listen on loopback only; the chart passes 0.0.0.0:8080 inside the Pod. */
export const DEFAULT_BIND_ADDRESS = "127.0.0.1:8080";
