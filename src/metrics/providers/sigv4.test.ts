// What a SigV4-signing Prometheus provider puts on the wire, seen by a tiny local server. Whether
// the signatures are right is checked by an independent implementation (botocore) in
// test/metrics/sigv4.test.ts; here: which headers are signed, that the bytes sent are the bytes
// signed (query encoding, form body, payload hash), and that secrets stay out of errors.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetricTemplateSpec } from "../../api/metric-template.ts";
import { awsCredentials } from "../aws-credentials.ts";
import { createPrometheusProvider } from "./prometheus.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

const KEYS = {
  aws_access_key_id: "AKIDUNITTEST0000001",
  aws_secret_access_key: "unit-test-secret-0123456789",
  aws_session_token: "unit-session-token-abcdef",
};
const seen: Seen[] = [];
let server: Server;
let address: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (req.url?.includes("deny")) {
        // What AMP answers to a bad signature, quoting the request's security token back.
        res.writeHead(403, { "Content-Type": "application/json" }).end(
          JSON.stringify({
            message: `The request signature we calculated does not match the signature you provided with token ${req.headers["x-amz-security-token"]} and ${req.headers.authorization}.\n\nThe Canonical String for this request should have been ...`,
          }),
        );
        return;
      }
      const matrix = req.url?.includes("query_range");
      const result = matrix
        ? { resultType: "matrix", result: [{ metric: {}, values: [[1_700_000_000, "3"]] }] }
        : { resultType: "vector", result: [{ metric: {}, value: [1_700_000_000, "1"] }] };
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ status: "success", data: result }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}/workspaces/ws-unit`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const spec = (extra: Partial<MetricTemplateSpec["provider"]> = {}): MetricTemplateSpec["provider"] => ({
  type: "prometheus",
  address,
  secretRef: { name: "amp-keys" },
  sigv4: { region: "us-west-2" },
  ...extra,
});
const options = { intervalMs: 60_000, timeoutMs: 5_000, now: new Date(1_700_000_000_000) };
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The request the provider sent for a query with this marker in it. */
function sent(marker: string): Seen {
  const found = seen.find((s) => decodeURIComponent(s.url + s.body).includes(marker));
  if (!found) throw new Error(`no request with ${marker}`);
  return found;
}

describe("prometheus provider with sigv4", () => {
  it("signs an instant GET: credential scope, signed headers, payload hash and a %20-encoded query", async () => {
    const provider = createPrometheusProvider(spec(), KEYS);
    const result = await provider.query('sum(up{job="a b"}) + 0 * 111', options);
    expect(result).toEqual({ kind: "value", value: 1 });
    const req = sent("0 * 111");
    expect(req.method).toBe("GET");
    expect(req.url.startsWith("/workspaces/ws-unit/api/v1/query?")).toBe(true);
    // Signed in RFC 3986 encoding: a space is %20 (a "+" would be read as a literal plus by AWS).
    expect(req.url).toContain("query=sum%28up%7Bjob%3D%22a%20b%22%7D%29%20%2B%200%20%2A%20111");
    expect(req.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDUNITTEST0000001\/\d{8}\/us-west-2\/aps\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(req.headers["x-amz-security-token"]).toBe(KEYS.aws_session_token);
    expect(req.headers["x-amz-content-sha256"]).toBe(sha256(""));
    expect(req.headers["x-amz-date"]).toMatch(/^\d{8}T\d{6}Z$/);
  });

  it("signs a long query as a POST form body, hashing the exact bytes sent", async () => {
    const promql = `sum(up) + 0 * ${"1".repeat(2100)}`;
    const provider = createPrometheusProvider(
      spec({ sigv4: { region: "eu-central-1", service: "custom" } }),
      KEYS,
    );
    expect(await provider.query(promql, options)).toEqual({ kind: "value", value: 1 });
    const req = sent("1".repeat(2100));
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/workspaces/ws-unit/api/v1/query");
    expect(new URLSearchParams(req.body).get("query")).toBe(promql);
    expect(req.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(req.headers["x-amz-content-sha256"]).toBe(sha256(req.body));
    expect(req.headers.authorization).toMatch(
      /\/eu-central-1\/custom\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/,
    );
  });

  it("signs range queries", async () => {
    const provider = createPrometheusProvider(spec(), KEYS);
    const range = await provider.queryRange("sum(rate(x[1m])) + 0 * 222", {
      start: new Date(1_700_000_000_000),
      end: new Date(1_700_000_600_000),
      stepMs: 60_000,
      intervalMs: 60_000,
      timeoutMs: 5_000,
    });
    expect(range.samples).toHaveLength(1);
    const req = sent("0 * 222");
    expect(req.url).toMatch(/\/api\/v1\/query_range\?end=.*&query=.*&start=.*&step=60/);
    expect(req.headers.authorization).toContain("/us-west-2/aps/aws4_request");
  });

  it("keeps the secret, the session token and the signature out of a 403's message", async () => {
    const provider = createPrometheusProvider(spec(), KEYS);
    const error = await provider.query("deny", options).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(error).toContain("HTTP 403");
    expect(error).toContain(
      "does not match the signature you provided with token [redacted] and AWS4-HMAC-SHA256 [redacted]",
    );
    const req = sent("deny");
    for (const secret of [KEYS.aws_session_token, KEYS.aws_secret_access_key, KEYS.aws_access_key_id]) {
      expect(error).not.toContain(secret);
    }
    const signature = /Signature=([0-9a-f]{64})/.exec(req.headers.authorization ?? "")?.[1] ?? "missing";
    expect(error).not.toContain(signature);
  });

  it("names the missing keys when secretRef lacks them", () => {
    expect(() => createPrometheusProvider(spec(), { token: "abc" })).toThrow(
      "the secret amp-keys needs the keys aws_access_key_id and aws_secret_access_key",
    );
  });
});

describe("awsCredentials", () => {
  it("refuses credentials that are already expired instead of signing with them", async () => {
    // The SDK's environment source with AWS_CREDENTIAL_EXPIRATION: the chain cannot refresh them.
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: "AKIDEXPIREDUNIT00001",
      AWS_SECRET_ACCESS_KEY: "expired-secret-unit",
      AWS_SESSION_TOKEN: "expired-token-unit",
      AWS_CREDENTIAL_EXPIRATION: new Date(Date.now() - 60_000).toISOString(),
    });
    try {
      const error = await awsCredentials({ region: "ap-south-2" })().then(
        () => undefined,
        (err: Error) => err.message,
      );
      expect(error).toMatch(/^AWS credentials \(the default chain\) expired at .* and were not refreshed$/);
      expect(error).not.toContain("expired-secret-unit");
    } finally {
      process.env = saved;
    }
  });

  it("shares one cache per source: the same role and region give the same provider", () => {
    const a = awsCredentials({ roleArn: "arn:aws:iam::123456789012:role/a", region: "us-west-2" });
    expect(awsCredentials({ roleArn: "arn:aws:iam::123456789012:role/a", region: "us-west-2" })).toBe(a);
    expect(awsCredentials({ roleArn: "arn:aws:iam::123456789012:role/b", region: "us-west-2" })).not.toBe(a);
  });
});

describe("loading", () => {
  it("loads the AWS SDK's signer and credential providers only when a request is signed", () => {
    // A fresh process that records every module it resolves: the controller's RSS does not grow
    // for SigV4 until a template uses it.
    const script = `
      import { registerHooks } from "node:module";
      const seen = new Set();
      registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.add(r.url); return r; } });
      const aws = () => [...seen].filter((u) => /@smithy\\/(signature-v4|hash-node)|@aws-sdk\\/credential-provider/.test(u)).length;
      const { createPrometheusProvider } = await import(${JSON.stringify(join(import.meta.dirname, "prometheus.ts"))});
      const spec = { type: "prometheus", address: "http://127.0.0.1:9", sigv4: { region: "us-west-2" }, secretRef: { name: "k" } };
      const provider = createPrometheusProvider(spec, { aws_access_key_id: "AKIDLAZY", aws_secret_access_key: "x".repeat(20) });
      const created = aws();
      await provider.query("up", { intervalMs: 1000, timeoutMs: 2000, now: new Date() }).catch(() => {});
      console.log(JSON.stringify({ created, signed: aws() }));
    `;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const loaded = JSON.parse(run.stdout) as { created: number; signed: number };
    expect(loaded.created, "modules loaded by creating the provider").toBe(0);
    expect(loaded.signed, "modules loaded by the first signed request").toBeGreaterThanOrEqual(3);
  });
});
