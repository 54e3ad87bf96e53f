import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ControllerMetrics } from "./metrics.ts";
import { type ObservabilityServer, parseBindAddress, startObservabilityServer } from "./server.ts";

const logger = pino({ level: "silent" });
let server: ObservabilityServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("parseBindAddress", () => {
  it("reads host:port, [ipv6]:port and :port", () => {
    expect(parseBindAddress("127.0.0.1:8080")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(parseBindAddress("[::1]:9090")).toEqual({ host: "::1", port: 9090 });
    expect(parseBindAddress(":8080")).toEqual({ host: "0.0.0.0", port: 8080 });
  });

  it("names the flag and the expected form on bad input", () => {
    for (const bad of ["8080", "localhost", "127.0.0.1:99999", "127.0.0.1:http"]) {
      expect(() => parseBindAddress(bad)).toThrow(/--metrics-bind-address must be HOST:PORT/);
    }
  });
});

describe("the observability server", () => {
  it("serves /healthz always, /readyz once ready, /metrics in Prometheus' text format", async () => {
    const metrics = new ControllerMetrics("9.9.9", { defaultMetrics: false });
    server = await startObservabilityServer("127.0.0.1:0", metrics.registry, logger);
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const get = (path: string) => fetch(`http://${server?.address}${path}`);

    expect((await get("/healthz")).status).toBe(200);
    const notReady = await get("/readyz");
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe("caches not synced");
    server.setReady(true);
    expect((await get("/readyz")).status).toBe(200);

    const scrape = await get("/metrics");
    expect(scrape.headers.get("content-type")).toContain("text/plain");
    expect(await scrape.text()).toContain('kanaria_info{version="9.9.9"} 1');
    expect((await get("/nope")).status).toBe(404);
    expect((await fetch(`http://${server.address}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("fails to start with the address in the message when the port is taken", async () => {
    const metrics = new ControllerMetrics("9.9.9", { defaultMetrics: false });
    server = await startObservabilityServer("127.0.0.1:0", metrics.registry, logger);
    await expect(startObservabilityServer(server.address, metrics.registry, logger)).rejects.toThrow(
      `cannot listen on ${server.address} (--metrics-bind-address)`,
    );
  });
});
