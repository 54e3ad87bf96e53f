// The prometheus provider with sigv4 against the test cluster's real Prometheus behind the
// SigV4-checking proxy (test/cluster/sigv4_proxy.py), which recomputes every signature with botocore
// from the same secret: instant and range queries, GET and POST, static keys and IRSA (a projected
// token exchanged with moto's STS), and the failures AMP answers with 403.
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { beforeAll, describe, expect, it } from "vitest";
import type { MetricTemplateSpec } from "../../src/api/metric-template.ts";
import type { QueryResult } from "../../src/metrics/provider.ts";
import { createPrometheusProvider } from "../../src/metrics/providers/prometheus.ts";
import {
  irsaEnv,
  mintCredentials,
  proxyLog,
  scenarioRole,
  secretData,
  sigv4Region,
  sigv4Url,
} from "../support/sigv4-proxy.ts";

const options = () => ({ intervalMs: 60_000, timeoutMs: 10_000, now: new Date() });
const spec = (
  sigv4: MetricTemplateSpec["provider"]["sigv4"],
  secret = true,
): MetricTemplateSpec["provider"] => ({
  type: "prometheus",
  address: sigv4Url,
  ...(secret ? { secretRef: { name: "amp-keys" } } : {}),
  sigv4,
});
const failure = (p: Promise<unknown>) =>
  p.then(
    () => "no error",
    (err: Error) => err.message,
  );
const records = async (key: string) => (await proxyLog()).filter((r) => r.accessKeyId === key);

describe.skipIf(!sigv4Url)("prometheus with sigv4 behind a SigV4-checking proxy", () => {
  describe.concurrent("accepted by botocore's signer", () => {
    it("instant GET, instant POST (a long query) and range queries", async () => {
      const keys = await mintCredentials(3600);
      const provider = createPrometheusProvider(spec({ region: sigv4Region }), secretData(keys));
      // Characters SigV4 encodings disagree on: spaces, +, *, quotes, braces, parentheses.
      expect(
        await provider.query('sum(vector(2) * 21) + count(up{job!="a b+c"} or vector(0)) * 0', options()),
      ).toEqual<QueryResult>({
        kind: "value",
        value: 42,
      });
      const long = `vector(7) + 0 * (${Array.from({ length: 300 }, (_, i) => `vector(${i})`).join(" + ")})`;
      expect(long.length).toBeGreaterThan(2048);
      expect(await provider.query(long, options())).toEqual({ kind: "value", value: 7 });
      const end = new Date();
      const range = await provider.queryRange("vector(3)", {
        start: new Date(end.getTime() - 10 * 60_000),
        end,
        stepMs: 60_000,
        intervalMs: 60_000,
        timeoutMs: 10_000,
      });
      expect(range.samples.map((s) => s.value)).toEqual(Array(11).fill(3));
      const seen = await records(keys.AccessKeyId);
      expect(seen.map((r) => [r.method, r.path.split("?")[0], r.status])).toEqual([
        ["GET", "/api/v1/query", 200],
        ["POST", "/api/v1/query", 200],
        ["GET", "/api/v1/query_range", 200],
      ]);
    });

    it("IRSA: the projected token is exchanged with STS once, and the temporary credentials sign", async () => {
      const role = scenarioRole("irsa");
      Object.assign(process.env, irsaEnv(role));
      const provider = createPrometheusProvider(spec({ region: sigv4Region }, false), {});
      for (let i = 0; i < 3; i++)
        expect(await provider.query("vector(1)", options())).toEqual({ kind: "value", value: 1 });
      await provider.isOnline(10_000);
      const seen = (await proxyLog()).filter((r) => r.source === `moto:${role}`);
      expect(seen.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(seen[0]?.accessKeyId).toMatch(/^ASIA/);
      expect(new Set(seen.map((r) => r.accessKeyId)).size, "one STS exchange, cached").toBe(1);
    });
  });

  describe.concurrent("refused with 403, and the message names the cause without a secret", () => {
    it("a wrong secret", async () => {
      const keys = await mintCredentials(3600);
      const wrong = `${keys.SecretAccessKey.slice(0, -4)}XXXX`;
      const provider = createPrometheusProvider(
        spec({ region: sigv4Region }),
        secretData(keys, { aws_secret_access_key: wrong }),
      );
      const message = await failure(provider.query("vector(1)", options()));
      expect(message).toMatch(
        /^Prometheus at http:\/\/127\.0\.0\.1:\d+: HTTP 403: .*The request signature we calculated does not match/,
      );
      for (const secret of [wrong, keys.SecretAccessKey, keys.Token, keys.AccessKeyId]) {
        expect(message).not.toContain(secret);
      }
      expect(message).not.toMatch(/Signature=[0-9a-f]{64}/);
      expect((await records(keys.AccessKeyId)).map((r) => r.status)).toEqual([403]);
    });

    it("an expired session token", async () => {
      const keys = await mintCredentials(-60);
      const provider = createPrometheusProvider(spec({ region: sigv4Region }), secretData(keys));
      const message = await failure(provider.query("vector(1)", options()));
      expect(message).toContain("HTTP 403");
      expect(message).toContain("The security token included in the request is expired");
      expect(message).not.toContain(keys.Token);
    });

    it("the wrong region in the signing scope", async () => {
      const keys = await mintCredentials(3600);
      const provider = createPrometheusProvider(spec({ region: "eu-north-1" }), secretData(keys));
      expect(await failure(provider.query("vector(1)", options()))).toContain(
        "Credential should be scoped to a valid region",
      );
    });

    it("no signature at all", async () => {
      const provider = createPrometheusProvider({ type: "prometheus", address: sigv4Url }, {});
      expect(await failure(provider.query("vector(1)", options()))).toContain("Missing Authentication Token");
    });
  });

  // The oracle itself must be able to say no: a request signed correctly but sent late, or altered
  // after signing, is refused.
  describe("the proxy's own checks", () => {
    let keys: Awaited<ReturnType<typeof mintCredentials>>;
    const url = () => new URL(`${sigv4Url}/api/v1/query`);
    const sign = (query: string, signingDate = new Date()) =>
      new SignatureV4({
        service: "aps",
        region: sigv4Region,
        sha256: Hash.bind(null, "sha256"),
        credentials: {
          accessKeyId: keys.AccessKeyId,
          secretAccessKey: keys.SecretAccessKey,
          sessionToken: keys.Token,
        },
      }).sign(
        {
          method: "GET",
          protocol: "http:",
          hostname: url().hostname,
          port: Number(url().port),
          path: url().pathname,
          query: { query },
          headers: { host: url().host },
        },
        { signingDate },
      );
    const send = async (query: string, headers: Record<string, string>) => {
      const res = await fetch(`${url()}?query=${encodeURIComponent(query)}`, { headers });
      return `${res.status} ${await res.text()}`;
    };
    beforeAll(async () => {
      keys = await mintCredentials(3600);
    });

    it("accepts a request signed by hand with the SDK's signer (the control case)", async () => {
      expect(await send("vector(5)", (await sign("vector(5)")).headers)).toMatch(/^200 /);
    });

    it("refuses a signature more than 5 minutes old", async () => {
      const stale = await sign("vector(5)", new Date(Date.now() - 6 * 60_000));
      expect(await send("vector(5)", stale.headers)).toMatch(/^403 .*Signature expired/);
    });

    it("refuses a query changed after signing", async () => {
      const signed = await sign("vector(5)");
      expect(await send("vector(6)", signed.headers)).toMatch(/^403 .*does not match the signature/);
    });
  });
});
