// netns_bridge.py's HTTP forward proxy (Prometheus scrapes the data plane's pods through it): it
// forwards absolute http:// requests to allowed addresses, one request per connection, and refuses
// everything else with a message that says why. Run here with the test's own network namespace as the
// "inside" one (joining a namespace needs CAP_SYS_ADMIN, so root only) and 127.0.0.0/8 allowed.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect, createServer as createTcpServer } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/k8s.ts";

const isRoot = process.getuid?.() === 0;

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Sends RAW to 127.0.0.1:PORT and returns everything received until the proxy closes the connection. */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.on("error", reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error("the proxy did not close the connection")));
    socket.write(raw);
  });
}

describe.skipIf(!isRoot)("netns_bridge.py --http-proxy", () => {
  let upstream: Server;
  let upstreamPort: number;
  let proxyPort: number;
  let bridge: ChildProcess;
  const seen: { url?: string; connection?: string; proxyConnection?: string }[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push({
        url: req.url,
        connection: req.headers.connection,
        proxyConnection: req.headers["proxy-connection"] as string | undefined,
      });
      res.end(`metrics of ${req.headers.host}\n`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstreamPort = (upstream.address() as AddressInfo).port;
    proxyPort = await freePort();
    bridge = spawn(
      "python3",
      [
        path.join(import.meta.dirname, "netns_bridge.py"),
        "--netns",
        "/proc/self/ns/net",
        "--http-proxy",
        String(proxyPort),
        "--proxy-allow",
        "127.0.0.0/8",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    await waitFor(() => exchange(proxyPort, "GET / HTTP/1.1\r\n\r\n"), {
      description: `netns_bridge.py's proxy answering on 127.0.0.1:${proxyPort}`,
      timeoutMs: 10_000,
    });
  });

  afterAll(async () => {
    bridge?.kill("SIGTERM");
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it("forwards an absolute-URL request in origin form with Connection: close, and ends the exchange with the response", async () => {
    const reply = await exchange(
      proxyPort,
      `GET http://127.0.0.1:${upstreamPort}/metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${upstreamPort}\r\n` +
        "Proxy-Connection: Keep-Alive\r\nConnection: keep-alive\r\n\r\n",
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toMatch(/\r\nConnection: close\r\n/i);
    expect(reply.endsWith(`metrics of 127.0.0.1:${upstreamPort}\n`)).toBe(true);
    expect(seen.at(-1)).toEqual({ url: "/metrics?x=1", connection: "close", proxyConnection: undefined });
  });

  it("refuses addresses outside the allowed range, host names and origin-form requests, saying why", async () => {
    const outside = await exchange(proxyPort, "GET http://10.244.0.7:9898/metrics HTTP/1.1\r\n\r\n");
    expect(outside).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(outside).toContain("10.244.0.7 is outside 127.0.0.0/8, the only addresses this proxy dials");
    const named = await exchange(proxyPort, "GET http://example.com/ HTTP/1.1\r\n\r\n");
    expect(named).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(named).toContain("'example.com' is not an IP address and port");
    const origin = await exchange(proxyPort, "GET /metrics HTTP/1.1\r\n\r\n");
    expect(origin).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(origin).toContain("this proxy forwards absolute http:// URLs only");
  });

  it("answers 502 naming the address when nothing listens there", async () => {
    const closed = await freePort();
    const reply = await exchange(proxyPort, `GET http://127.0.0.1:${closed}/metrics HTTP/1.1\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(reply).toContain(`cannot connect to 127.0.0.1:${closed} in the namespace`);
  });
});
