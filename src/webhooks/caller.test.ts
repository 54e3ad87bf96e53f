// The webhook caller against real local HTTP gate services on 127.0.0.1.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GateServer, startGateServer } from "../../test/support/gate-server.ts";
import type { CanaryWebhook } from "../api/canary.ts";
import { callWebhook, canaryChecksum, safeUrl, type WebhookPayload } from "./caller.ts";

let gates: GateServer;
beforeAll(async () => {
  gates = await startGateServer();
});
afterAll(() => gates.close());

const payload: WebhookPayload = {
  name: "podinfo",
  namespace: "test",
  phase: "Progressing",
  checksum: "abc",
  type: "confirm-promotion",
  metadata: { token: "s3cr3t" },
};
const hook = (path: string, extra: Partial<CanaryWebhook> = {}): CanaryWebhook => ({
  name: path,
  type: "confirm-promotion",
  url: gates.url(path),
  timeout: "300ms",
  ...extra,
});
const fast = { backoffMs: () => 10 };

describe("callWebhook", () => {
  it("sends Flagger's payload and takes 200 as a yes", async () => {
    gates.set("/yes", "yes");
    const answer = await callWebhook(hook("/yes"), payload, fast);
    expect(answer).toEqual({ result: "pass", code: 200, message: "200 OK: approved" });
    expect(gates.requests("/yes").map((r) => r.body)).toEqual([payload]);
  });

  it("takes 403 as a no, without retrying", async () => {
    gates.set("/no", "no");
    const answer = await callWebhook(hook("/no", { retries: 3 }), payload, fast);
    expect(answer).toMatchObject({ result: "fail", code: 403, message: "403 Forbidden: gate closed" });
    expect(gates.requests("/no")).toHaveLength(1);
  });

  it("retries a 500 and reports the last answer", async () => {
    gates.set("/broken", "500");
    const answer = await callWebhook(hook("/broken", { retries: 2 }), payload, fast);
    expect(answer).toMatchObject({ result: "fail", code: 500 });
    expect(gates.requests("/broken")).toHaveLength(3);
  });

  it("reports a timeout as an error, never a yes, and never shows the metadata", async () => {
    gates.set("/slow", "timeout");
    const started = Date.now();
    const answer = await callWebhook(hook("/slow", { retries: 1 }), payload, fast);
    expect(answer).toEqual({ result: "error", message: "no answer within 0.3s" });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(gates.requests("/slow")).toHaveLength(2);
    expect(JSON.stringify(answer)).not.toContain("s3cr3t");
  });

  it("reports a refused connection as an error", async () => {
    const closed = await startGateServer();
    const url = closed.url("/gone");
    await closed.close();
    const answer = await callWebhook({ ...hook("/gone"), url }, payload, fast);
    expect(answer).toEqual({ result: "error", message: "request failed: ECONNREFUSED" });
  });

  it("passes a retry that succeeds", async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls += 1;
      if (calls === 1) throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } });
      return fetch(input, init);
    };
    gates.set("/flaky", "yes");
    const answer = await callWebhook(hook("/flaky", { retries: 1 }), payload, { ...fast, fetch: flaky });
    expect(answer.result).toBe("pass");
    expect(calls).toBe(2);
  });
});

describe("secrets", () => {
  it("redacts metadata values and URL credentials a gate echoes in its answer", async () => {
    const echo: typeof fetch = async (_input, init) =>
      new Response(`denied: ${String(init?.body)} via https://bot:hunter22@gate.example/?token=q1w2e3`, {
        status: 403,
      });
    const answer = await callWebhook(
      { ...hook("/echo"), url: "https://bot:hunter22@gate.example/approve?token=q1w2e3" },
      payload,
      { ...fast, fetch: echo },
    );
    expect(answer.result).toBe("fail");
    expect(answer.message).toContain("denied:");
    for (const secret of ["s3cr3t", "hunter22", "q1w2e3"]) expect(answer.message).not.toContain(secret);
  });
});

describe("helpers", () => {
  it("strips credentials and the query from URLs shown to people", () => {
    expect(safeUrl("https://user:pw@gate.example:8443/approve?token=abc")).toBe(
      "https://gate.example:8443/approve",
    );
    expect(safeUrl("not a url")).toBe("(invalid URL)");
  });

  it("changes the checksum with the revision and the tracked configs", () => {
    const a = canaryChecksum({ lastAppliedSpec: "r1" });
    expect(canaryChecksum({ lastAppliedSpec: "r1" })).toBe(a);
    expect(canaryChecksum({ lastAppliedSpec: "r2" })).not.toBe(a);
    expect(canaryChecksum({ lastAppliedSpec: "r1", trackedConfigs: { "configmap/x": "1" } })).not.toBe(a);
  });
});

describe("callWebhook with disableTLS", () => {
  let server: https.Server;
  let url: string;
  beforeAll(async () => {
    // A self-signed certificate no trust store knows, as on an in-cluster gate with its own CA.
    const dir = mkdtempSync(join(tmpdir(), "kanaria-hook-tls-"));
    execFileSync("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1"],
      ...["-subj", "/CN=gate.test"],
    ]);
    const [cert, key] = [readFileSync(join(dir, "cert.pem")), readFileSync(join(dir, "key.pem"))];
    rmSync(dir, { recursive: true });
    server = https.createServer({ cert, key }, (_req, res) => res.writeHead(200).end("approved"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/gate`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("refuses a certificate it cannot verify by default", async () => {
    const answer = await callWebhook({ name: "gate", url, timeout: "2s" }, payload, fast);
    expect(answer.result).toBe("error");
    expect(answer.message).toMatch(/^request failed: /);
  });

  it("skips verifying the certificate when disableTLS is set, as Flagger does", async () => {
    const answer = await callWebhook({ name: "gate", url, timeout: "2s", disableTLS: true }, payload, fast);
    expect(answer).toEqual({ result: "pass", code: 200, message: "200 OK: approved" });
  });
});
