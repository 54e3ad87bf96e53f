import { describe, expect, it } from "vitest";
import { credentialSecrets, displayUrl, REDACTED, redact, redactingStream, urlSecrets } from "./redact.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("redact: the secret values a request carried", () => {
  const token = "tok-3f9a1c77e2";
  it.each([
    ["raw", `backend said: bad token ${token}`],
    ["base64", `echo: ${b64(token)}`],
    ["base64 without padding", `echo: ${b64(token).replace(/=+$/, "")}`],
    ["URL-encoded", `url: /q?x=${encodeURIComponent(`${token}/+`)}`],
    ["JSON-escaped", JSON.stringify({ echo: `a "${token}"` })],
  ])("removes the value %s", (_form, text) => {
    const out = redact(text, [token, `${token}/+`]);
    expect(out).not.toContain(token);
    expect(out).not.toContain(b64(token).replace(/=+$/, ""));
    expect(out).toContain(REDACTED);
  });

  it("removes a basic auth pair however it is encoded, and each half alone", () => {
    const secrets = credentialSecrets({ username: "alice-user", password: "s3cr3t-pw" });
    const text = `got Authz=${b64("alice-user:s3cr3t-pw")} user alice-user pass s3cr3t-pw`;
    const out = redact(text, secrets);
    for (const s of ["alice-user", "s3cr3t-pw", b64("alice-user:s3cr3t-pw")]) expect(out).not.toContain(s);
  });

  it("replaces a longer value before a shorter one it contains", () => {
    expect(redact("x abcd1234 y", ["abcd", "abcd1234"])).toBe(`x ${REDACTED} y`);
  });

  it("leaves values under 4 characters alone (they would blank out ordinary words)", () => {
    expect(redact("the cat sat", ["cat"])).toBe("the cat sat");
  });
});

describe("redact: credential shapes whatever the value", () => {
  it.each([
    ["Bearer token", "HTTP 401: Bearer eyAbCdEf0123456789 rejected", "eyAbCdEf0123456789"],
    ["Basic", "HTTP 401: got Basic YWxpY2U6czNjcjN0 from you", "YWxpY2U6czNjcjN0"],
    ["Authorization header", "Authorization: ApiKey k-123456", "k-123456"],
    ["Authorization in JSON", '{"Authorization":"Token abc.def","x":1}', "abc.def"],
    ["X-Api-Key header", "x-api-key: 0123456789abcdef", "0123456789abcdef"],
    ["api_key in a query string", "GET /api/v1/query?api_key=K3Y-value&query=up", "K3Y-value"],
    ["access_token in a query string", "https://h/x?a=1&access_token=at-0099&b=2", "at-0099"],
    ["password=", "dsn host=db password=hunter22 user=x", "hunter22"],
    ['"password": "..."', '{"password": "p\\"w0rd-x", "user": "u"}', 'p\\"w0rd-x'],
    ["AWS access key ID", "The security token AKIAIOSFODNN7EXAMPLE is invalid", "AKIAIOSFODNN7EXAMPLE"],
    ["temporary AWS key", "key ASIAZZZZZZZZZZZZZZZZ expired", "ASIAZZZZZZZZZZZZZZZZ"],
    [
      "SigV4 Authorization",
      "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, Signature=ab12",
      "Signature=ab12",
    ],
    ["X-Amz-Signature in a presigned URL", "https://s3/x?X-Amz-Signature=0f0f0f0f&X-Amz-Date=1", "0f0f0f0f"],
    ["X-Amz-Security-Token", "X-Amz-Security-Token: FwoGZXIvYXdzEJr", "FwoGZXIvYXdzEJr"],
    ["X-Amz-Signature header", "x-amz-signature: 9e1c5b0d7a", "9e1c5b0d7a"],
    ["X-Amz-Credential header", '"X-Amz-Credential": "AKID/20260101/us-west-2/aps"', "AKID/20260101"],
    [
      "an AWS session token on its own",
      "STS returned IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLXdlc3QtMiJHMEUCIQ== for the role",
      "IQoJb3JpZ2luX2VjEJr",
    ],
    ["a moto session token", "token FQoGZXIvYXdzEBYaDkDNxC9N3xXOmk4Hyw expired", "FQoGZXIvYXdzEBYaD"],
    [
      "a SigV4 canonical request quoted by AWS",
      "The Canonical String for this request should have been 'GET\n/api/v1/query\nhost:aps\nx-amz-security-token:T0k3nValue\n'",
      "T0k3nValue",
    ],
    ["aws_secret_access_key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"],
    ["a JWT", "token eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl in body", "eyJzdWIiOiIx"],
    ["a private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"],
  ])("%s", (_name, text, secret) => {
    const out = redact(text);
    expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it("strips the userinfo of every URL in a message", () => {
    const out = redact("tried http://u:p%40ss@prom:9090/x and https://tok@h.example/ then ftp://a@b");
    expect(out).toBe("tried http://prom:9090/x and https://h.example/ then ftp://b");
  });

  it("keeps ordinary messages as they are", () => {
    for (const text of [
      "Prometheus at http://127.0.0.1:9090: HTTP 503: Service Unavailable",
      'the secret creds has neither a "token" key nor both "username" and "password" keys',
      "Basic auth failed; Bearer token missing",
      "request-success-rate 96.72 is below the minimum 99 (prometheus)",
    ]) {
      expect(redact(text)).toBe(text);
    }
  });
});

describe("urlSecrets and displayUrl", () => {
  it("collects the userinfo, raw and decoded, and the pair", () => {
    expect(urlSecrets("http://us%3Aer:p%40ss@h/")).toEqual([
      "us%3Aer",
      "p%40ss",
      "us:er",
      "p@ss",
      "us:er:p@ss",
    ]);
    expect(urlSecrets("http://h:9090/")).toEqual([]);
    expect(urlSecrets("not a url")).toEqual([]);
  });

  it("shows a URL without userinfo and with secret parameters redacted", () => {
    expect(displayUrl("http://user:pass@prom:9090/")).toBe("http://prom:9090");
    expect(displayUrl("https://prom/?api_key=abc123")).toBe(`https://prom/?api_key=${REDACTED}`);
    expect(displayUrl("user:pass@prom:9090")).toBe("prom:9090");
  });
});

describe("redactingStream", () => {
  it("redacts each log line before it reaches the destination", () => {
    const lines: string[] = [];
    const stream = redactingStream({ write: (line: string) => lines.push(line) });
    stream.write(
      `${JSON.stringify({ msg: "GET http://u:pw@h/ failed", err: { stack: "Bearer abcdefgh1234" } })}\n`,
    );
    expect(JSON.parse(lines[0] ?? "")).toEqual({
      msg: "GET http://h/ failed",
      err: { stack: `Bearer ${REDACTED}` },
    });
  });
});
