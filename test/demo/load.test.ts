// The demo's load and its count of who answered, against a real HTTP server standing in for Traefik.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { failureText, percent, startLoad, stepText, type Tally, TrafficMeter } from "./load.ts";

describe("TrafficMeter", () => {
  it("counts requests by when they were sent, whatever order they ended in", () => {
    const m = new TrafficMeter();
    m.record(1_000, { release: "6.0.0" });
    m.record(3_000, { release: "6.0.1" });
    m.record(2_000, { failure: "HTTP 500" }); // sent before the one above, ended after it
    m.record(2_500, { release: "6.0.0" });
    m.record(4_000, { failure: "HTTP 500" });
    m.record(4_100, { failure: "timeout" });
    expect(m.between(2_000, 4_000)).toEqual({
      byRelease: [
        ["6.0.0", 1],
        ["6.0.1", 1],
      ],
      byFailure: [["HTTP 500", 1]],
      failed: 1,
      total: 3,
    });
    expect(m.between(0, 10_000).total).toBe(6);
    expect(m.between(0, 10_000).byFailure).toEqual([
      ["HTTP 500", 2],
      ["timeout", 1],
    ]);
    expect(m.between(5_000, 6_000)).toEqual({ byRelease: [], byFailure: [], failed: 0, total: 0 });
  });

  it("forgets what is older than it keeps", () => {
    const m = new TrafficMeter(1_000);
    m.record(0, { release: "a" });
    m.record(500, { release: "a" });
    m.record(1_200, { release: "b" });
    expect(m.between(0, 2_000).byRelease).toEqual([
      ["a", 1],
      ["b", 1],
    ]);
  });

  it("words a step and its failures", () => {
    const t: Tally = {
      byRelease: [
        ["6.0.1", 401],
        ["6.0.2", 66],
      ],
      byFailure: [
        ["HTTP 400", 14],
        ["HTTP 500", 12],
      ],
      failed: 26,
      total: 493,
    };
    expect(stepText(t, "6.0.2")).toBe(
      "6.0.2 answered 66 of 493 (13.4%, up to 18.7% if the failed were its own), 6.0.1 401, failed 26 (HTTP 400 ×14, HTTP 500 ×12)",
    );
    expect(failureText(t)).toBe("HTTP 400 ×14, HTTP 500 ×12");
    expect(stepText({ byRelease: [["6.0.0", 10]], byFailure: [], failed: 0, total: 10 }, "6.0.1")).toBe(
      "6.0.1 answered 0 of 10 (0%), 6.0.0 10, failed 0",
    );
    expect(percent(1, 3)).toBe("33.3%");
    expect(percent(0, 0)).toBe("-");
  });
});

describe("startLoad", () => {
  let server: Server | undefined;
  const close = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  };
  afterEach(close);

  it("sends steady requests with the route's Host and tells podinfo's answers from failures", async () => {
    const hosts = new Set<string | undefined>();
    let n = 0;
    server = createServer((req, res) => {
      hosts.add(req.headers.host);
      n++;
      // Like Traefik in front of a good and a bad podinfo: JSON with a message, an empty 500, a 404 page.
      if (n % 4 === 0) {
        res.writeHead(500).end();
      } else if (n % 4 === 1) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ message: "6.0.1" }));
      } else if (n % 4 === 2) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ message: "6.0.2" }));
      } else {
        res.writeHead(404).end("404 page not found\n");
      }
    });
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const meter = new TrafficMeter();
    const started = Date.now();
    const load = startLoad({
      url: `http://127.0.0.1:${port}`,
      host: "podinfo.example.test",
      rps: 100,
      onOutcome: (at, o) => meter.record(at, o),
    });
    await new Promise((r) => setTimeout(r, 600));
    await load.stop();
    const t = meter.between(started, Date.now() + 1);
    expect(hosts).toEqual(new Set(["podinfo.example.test"]));
    // About 60 in 0.6 s at 100/s (timers on a busy machine fire late, never early).
    expect(t.total).toBe(n);
    expect(t.total).toBeGreaterThanOrEqual(20);
    expect(t.total).toBeLessThanOrEqual(61);
    expect(new Map(t.byRelease).get("6.0.1")).toBe(Math.ceil(n / 4));
    expect(new Map(t.byFailure)).toEqual(
      new Map([
        ["HTTP 500", Math.floor(n / 4)],
        ["HTTP 404", Math.floor((n + 1) / 4)],
      ]),
    );
    expect(load.skipped).toBe(0);
  });

  it("counts a refused connection and a request that times out as failed", async () => {
    server = createServer(() => {
      // never answers
    });
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const outcomes: unknown[] = [];
    const load = startLoad({
      url: `http://127.0.0.1:${port}`,
      host: "h",
      rps: 10,
      timeoutMs: 200,
      onOutcome: (_at, o) => outcomes.push(o),
    });
    await new Promise((r) => setTimeout(r, 150));
    await load.stop();
    expect(outcomes.length).toBeGreaterThan(0);
    expect(new Set(outcomes.map((o) => JSON.stringify(o)))).toEqual(new Set(['{"failure":"timeout"}']));

    // A port nobody listens on (the server above, closed).
    await close();
    const refused: unknown[] = [];
    const again = startLoad({
      url: `http://127.0.0.1:${port}`,
      host: "h",
      rps: 20,
      onOutcome: (_a, o) => refused.push(o),
    });
    await new Promise((r) => setTimeout(r, 120));
    await again.stop();
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((o) => JSON.stringify(o)))).toEqual(new Set(['{"failure":"ECONNREFUSED"}']));
  });
});
