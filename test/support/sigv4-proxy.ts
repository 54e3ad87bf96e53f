// The SigV4-checking proxy of the test cluster (test/cluster/sigv4_proxy.py, the stand-in for Amazon
// Managed Service for Prometheus): credentials it accepts, and what it saw.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";

export const sigv4Url = inject("sigv4PrometheusUrl");
export const sigv4Region = inject("sigv4Region");
/** moto answers STS for the IRSA scenarios (AWS_ENDPOINT_URL_STS). */
const stsEndpoint = inject("cloudwatchEndpoint");

export interface MintedCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export interface ProxyRecord {
  time: string;
  method: string;
  path: string;
  accessKeyId: string;
  /** "minted", "pod-identity:<name>" or "moto:<role ARN>". */
  source: string;
  status: number;
  reason: string;
}

async function control<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sigv4Url}/_proxy/${path}`, {
    method: body === undefined ? "GET" : "POST",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`sigv4 proxy ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Session credentials the proxy accepts until `ttlSeconds` from now (negative: already expired). */
export const mintCredentials = (ttlSeconds: number) =>
  control<MintedCredentials>("credentials", { ttlSeconds });

/** The keys of a template's secretRef, as kanaria reads them. */
export function secretData(c: MintedCredentials, overrides: Record<string, string> = {}) {
  return {
    aws_access_key_id: c.AccessKeyId,
    aws_secret_access_key: c.SecretAccessKey,
    aws_session_token: c.Token,
    ...overrides,
  };
}

/** Every request the proxy checked, with its verdict. */
export const proxyLog = () => control<ProxyRecord[]>("log");

const tokenDir = () => mkdtempSync(join(tmpdir(), "kanaria-aws-"));

/**
 * The environment EKS Pod Identity gives a pod: a container credentials endpoint (served by the proxy,
 * minting credentials that live `ttlSeconds`) and the file with the token to present to it.
 */
export async function podIdentityEnv(name: string, ttlSeconds: number): Promise<Record<string, string>> {
  const grant = await control<{ token: string; url: string }>("pod-identity", { name, ttlSeconds });
  const file = join(tokenDir(), "eks-pod-identity-token");
  writeFileSync(file, grant.token);
  return {
    ...noAwsEnv(),
    AWS_CONTAINER_CREDENTIALS_FULL_URI: grant.url,
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: file,
  };
}

/**
 * The environment IRSA gives a pod: a projected service account token and the role to exchange it
 * for (STS AssumeRoleWithWebIdentity, answered by moto).
 */
export function irsaEnv(roleArn: string): Record<string, string> {
  const file = join(tokenDir(), "token");
  // A token shaped like a projected service account token; moto does not verify its signature.
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const claims = { sub: "system:serviceaccount:kanaria:kanaria", aud: ["sts.amazonaws.com"] };
  writeFileSync(file, `${part({ alg: "RS256" })}.${part(claims)}.${randomBytes(32).toString("base64url")}`);
  return {
    ...noAwsEnv(),
    AWS_WEB_IDENTITY_TOKEN_FILE: file,
    AWS_ROLE_ARN: roleArn,
    AWS_REGION: sigv4Region,
    AWS_ENDPOINT_URL_STS: stsEndpoint,
  };
}

/** Whatever AWS settings the test process has (CloudWatch tests' keys, say) must not leak in. */
function noAwsEnv(): Record<string, string> {
  const cleared: Record<string, string> = {};
  for (const name of Object.keys(process.env)) if (name.startsWith("AWS_")) cleared[name] = "";
  return cleared;
}

/** A role ARN unique to one scenario, so its requests can be told apart in the proxy's log. */
export const scenarioRole = (name: string) =>
  `arn:aws:iam::123456789012:role/${name}-${randomBytes(3).toString("hex")}`;
