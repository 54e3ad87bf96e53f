// Local HTTP gate services for webhook tests: one server on 127.0.0.1, one behaviour per path
// (yes, no, 500, timeout), switchable while a test runs, and every payload recorded.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";

export type GateBehaviour = "yes" | "no" | "500" | "timeout";

export interface GateRequest {
  path: string;
  body: Record<string, unknown>;
  at: number;
}

export interface GateServer {
  /** http://127.0.0.1:PORT/path */
  url(path: string): string;
  /** How `path` answers from now on (default: yes). */
  set(path: string, behaviour: GateBehaviour): void;
  /** Payloads received on `path`, oldest first. */
  requests(path: string): GateRequest[];
  close(): Promise<void>;
}

const ANSWERS: Record<Exclude<GateBehaviour, "timeout">, [number, string]> = {
  yes: [200, "approved"],
  no: [403, "gate closed"],
  "500": [500, "gate service broken"],
};

export async function startGateServer(): Promise<GateServer> {
  const behaviours = new Map<string, GateBehaviour>();
  const received: GateRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      } catch {
        body = { unparsable: Buffer.concat(chunks).toString("utf8") };
      }
      received.push({ path, body, at: Date.now() });
      const behaviour = behaviours.get(path) ?? "yes";
      // A gate that never answers: the request stays open until the caller gives up or we close.
      if (behaviour === "timeout") return;
      const [status, text] = ANSWERS[behaviour];
      res.writeHead(status, { "content-type": "text/plain" }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path.startsWith("/") ? path : `/${path}`}`,
    set: (path, behaviour) => behaviours.set(path.startsWith("/") ? path : `/${path}`, behaviour),
    requests: (path) => received.filter((r) => r.path === (path.startsWith("/") ? path : `/${path}`)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A gate server for the file: started before its tests, closed after them. The object returned may be
 * used from the tests (and the hooks after this call's); calling it before the server is up throws.
 */
export function useGateServer(): GateServer {
  let server: GateServer | undefined;
  beforeAll(async () => {
    server = await startGateServer();
  });
  afterAll(async () => {
    await server?.close();
  });
  const live = (): GateServer => {
    if (!server) throw new Error("the gate server is used before its beforeAll started it");
    return server;
  };
  return {
    url: (path) => live().url(path),
    set: (path, behaviour) => live().set(path, behaviour),
    requests: (path) => live().requests(path),
    close: async () => server?.close(),
  };
}
