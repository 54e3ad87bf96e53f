/**
 * The one redaction helper for every message kanaria writes (logs, Events, status, alerts, webhook
 * errors). Two layers:
 * - the secret values a request carried (tokens, passwords, header values, URL userinfo), in every
 *   encoding they can come back in (raw, base64 as in `Basic`, URL-encoded, JSON-escaped);
 * - credential shapes whatever their value: Authorization values, `Bearer`/`Basic` tokens, secret
 *   query parameters and key/value pairs, AWS access key IDs, SigV4 signatures and session tokens,
 *   JWTs, private keys,
 *   and the userinfo of any URL.
 * A backend that echoes the request (an error body quoting the Authorization header, say) is caught
 * by the first layer; a message built from anything else by the second.
 */

export const REDACTED = "[redacted]";

/** Shorter values would blank out ordinary words and protect little. */
const MIN_SECRET_LENGTH = 4;

/** Header and parameter names whose value is a credential. */
const SECRET_NAMES = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "apikey",
  "api_key",
  "x-auth-token",
  "auth-token",
  "auth_token",
  "private-token",
  "access_token",
  "access-token",
  "refresh_token",
  "id_token",
  "client_secret",
  "token",
  "password",
  "passwd",
  "pwd",
  "secret",
  "signature",
  "sig",
  "credential",
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
  "accesskeyid",
  "secretaccesskey",
  "sessiontoken",
];
const names = SECRET_NAMES.map((n) => n.replace(/[-_]/g, "[-_]?")).join("|");

/** Applied in order; each replaces a credential shape whatever its value. */
const SHAPES: [RegExp, string][] = [
  // PEM private keys, whole.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED],
  // Userinfo of any URL: scheme://user:pass@host -> scheme://host.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]*@/gi, "$1"],
  // `Authorization: <anything>` and the other credential headers, in text, JSON or YAML.
  [
    /\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|private-token|x-amz-security-token|x-amz-signature|x-amz-credential)(["']?\s*[:=]\s*["']?)[^"'\r\n]+/gi,
    `$1$2${REDACTED}`,
  ],
  // Tokens after an auth scheme (token68: at least 8 characters, so "Basic auth failed" stays).
  [/\b(Bearer|Basic|Digest|Negotiate|NTLM)(\s+)[A-Za-z0-9._~+/-]{8,}=*/g, `$1$2${REDACTED}`],
  // AWS SigV4: the credential scope and the signature, in headers and presigned URLs.
  [/\b(AWS4-HMAC-SHA256\s+)[^"'\r\n]+/g, `$1${REDACTED}`],
  // name=value (query strings, form bodies, logfmt) and "name": "value" (JSON).
  [new RegExp(`\\b(${names})=[^&\\s"'<>;,]+`, "gi"), `$1=${REDACTED}`],
  [new RegExp(`(["'](?:${names})["']\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, "gi"), `$1"${REDACTED}"`],
  // AWS session tokens on their own (STS, IRSA, Pod Identity): base64 that opens with the encoded
  // token header, "IQoJb3JpZ2lu" (AWS today) or "FwoGZXIvYXdz"/"FQoGZXIvYXdz" (older, and moto).
  [/\b(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9+/]{8,}=*/g, REDACTED],
  // AWS access key IDs (long-term AKIA, temporary ASIA, and the other IAM prefixes).
  [/\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b/g, REDACTED],
  // JSON Web Tokens.
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, REDACTED],
];

/** Every encoding in which a secret value can come back in a message. */
function forms(value: string): string[] {
  const base64 = Buffer.from(value, "utf8").toString("base64");
  return [
    value,
    base64,
    base64.replace(/=+$/, ""),
    Buffer.from(value, "utf8").toString("base64url"),
    encodeURIComponent(value),
    JSON.stringify(value).slice(1, -1),
  ];
}

/** A redaction function bound to the secret values one request carried (build it once per request). */
export function redactor(secrets: Iterable<string | undefined> = []): (text: string) => string {
  const known = new Set<string>();
  for (const secret of secrets) {
    if (secret === undefined || secret.length < MIN_SECRET_LENGTH) continue;
    for (const form of forms(secret)) if (form.length >= MIN_SECRET_LENGTH) known.add(form);
  }
  // Longest first, so a value is not half-replaced by a shorter one it contains.
  const values = [...known].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const value of values) out = out.split(value).join(REDACTED);
    for (const [shape, replacement] of SHAPES) out = out.replace(shape, replacement);
    return out;
  };
}

/** Redacts one message: the given secret values in every encoding, and every credential shape. */
export function redact(text: string, secrets: Iterable<string | undefined> = []): string {
  return redactor(secrets)(text);
}

/**
 * The secret values in a credential record (a Secret's decoded data), plus the `user:password`
 * pair HTTP basic auth sends base64-encoded, when the record has one.
 */
export function credentialSecrets(credentials: Readonly<Record<string, string>> = {}): string[] {
  const values = Object.values(credentials);
  const user = credentials.username ?? credentials.user;
  const password = credentials.password ?? credentials.pass;
  return user !== undefined && password !== undefined ? [...values, `${user}:${password}`] : values;
}

/** The secret parts of a URL: its userinfo (raw and decoded) and the user:password pair. */
export function urlSecrets(address: string | undefined): string[] {
  if (!address) return [];
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return [];
  }
  const { username, password } = url;
  const [user, pass] = [safeDecode(username), safeDecode(password)];
  const pair = user || pass ? [`${user}:${pass}`] : [];
  return [username, password, user, pass, ...pair].filter((s) => s.length > 0);
}

/** A URL as shown in a message: no userinfo, secret query parameters redacted. */
export function displayUrl(address: string): string {
  // "user:pass@host:9090" parses as a URL with scheme "user:": strip the userinfo by hand.
  if (!address.includes("://")) return redact(address.replace(/^[^\s/?#@]*@/, ""));
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return redact(address);
  }
  url.username = "";
  url.password = "";
  return redact(url.toString().replace(/\/$/, ""));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * A log destination that redacts every line before it is written: a net under the value-based
 * redaction at the message sources, for whatever else reaches a log (error stacks, fields).
 */
export function redactingStream(out: { write(line: string): unknown }): { write(line: string): void } {
  return {
    write(line: string) {
      out.write(redact(line));
    },
  };
}
