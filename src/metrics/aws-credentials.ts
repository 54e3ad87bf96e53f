import { createHash } from "node:crypto";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { lazy } from "../lazy.ts";
import { redact } from "../security/redact.ts";
import type { Credentials } from "./provider.ts";

/** Where the AWS credentials for one provider come from. */
export interface AwsCredentialSource {
  /** A role to assume (STS AssumeRole) with the base credentials. */
  roleArn?: string | undefined;
  /** Region for STS (regional endpoint); the SDK's own default when absent. */
  region?: string | undefined;
  /** Keys from the template's secretRef; the SDK's default chain when absent. */
  keys?: AwsCredentialIdentity | undefined;
}

/**
 * The SDK refreshes credentials this long before they expire (its own 5 minutes, as every AWS SDK
 * client does), so a request is never signed with credentials about to lapse in flight.
 */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
const SESSION_NAME = "kanaria";

/**
 * The AWS credential providers, loaded on the first AWS request: a controller that never talks to
 * AWS does not hold them.
 */
const sdk = lazy(() =>
  Promise.all([import("@aws-sdk/credential-providers"), import("@smithy/core/config")] as const),
);

/**
 * One provider per source for the whole process: every check of every Canary that uses the same
 * role shares one cache, so STS is asked once per credential lifetime, not once per query.
 */
const shared = new Map<string, AwsCredentialIdentityProvider>();

/**
 * Credentials the EKS way: the SDK's default chain (environment, IRSA web identity token, EKS Pod
 * Identity and other container endpoints, shared config, instance metadata), or static keys, and
 * optionally a role assumed with them. Cached and refreshed before expiry by the SDK's memoize;
 * credentials already past their expiry are refused rather than used to sign.
 */
export function awsCredentials(source: AwsCredentialSource): AwsCredentialIdentityProvider {
  const key = cacheKey(source);
  let provider = shared.get(key);
  if (!provider) {
    provider = build(source);
    shared.set(key, provider);
  }
  return provider;
}

/** The cache key names the keys by a hash: the map must not be a second copy of a secret. */
function cacheKey({ roleArn, region, keys }: AwsCredentialSource): string {
  const secret = keys
    ? createHash("sha256")
        .update(`${keys.accessKeyId}\0${keys.secretAccessKey}\0${keys.sessionToken ?? ""}`)
        .digest("hex")
    : "";
  return JSON.stringify([roleArn ?? "", region ?? "", secret]);
}

function build(source: AwsCredentialSource): AwsCredentialIdentityProvider {
  const load = lazy(async () => {
    const [{ fromNodeProviderChain, fromTemporaryCredentials }, { memoize }] = await sdk();
    const clientConfig = source.region ? { region: source.region } : {};
    const keys = source.keys;
    // A role is assumed with the shared base credentials, so the base is fetched once for all roles.
    const assumed = source.roleArn
      ? fromTemporaryCredentials({
          params: { RoleArn: source.roleArn, RoleSessionName: SESSION_NAME },
          masterCredentials: awsCredentials({ region: source.region, keys }),
          clientConfig,
        })
      : keys
        ? async () => keys
        : fromNodeProviderChain({ clientConfig });
    return memoize(assumed, refreshDue, (c) => c.expiration !== undefined);
  });
  const what = describeSource(source);
  const known = [source.keys?.secretAccessKey, source.keys?.sessionToken];
  return async () => {
    let credentials: AwsCredentialIdentity;
    try {
      credentials = await (await load())();
    } catch (err) {
      const e = err as Error;
      throw new Error(redact(`AWS credentials (${what}) unavailable: ${e.name}: ${e.message}`, known));
    }
    const expiry = credentials.expiration?.getTime();
    if (expiry !== undefined && expiry <= Date.now()) {
      throw new Error(
        `AWS credentials (${what}) expired at ${credentials.expiration?.toISOString()} and were not refreshed`,
      );
    }
    return credentials;
  };
}

function refreshDue(credentials: AwsCredentialIdentity): boolean {
  const expiry = credentials.expiration?.getTime();
  return expiry !== undefined && expiry - Date.now() < REFRESH_BEFORE_EXPIRY_MS;
}

function describeSource({ roleArn, keys }: AwsCredentialSource): string {
  const base = keys ? "the keys in secretRef" : "the default chain";
  return roleArn ? `role ${roleArn} assumed with ${base}` : base;
}

/** The AWS keys of a template's secretRef: aws_access_key_id, aws_secret_access_key, aws_session_token. */
export function staticCredentials(secret: string, credentials: Credentials): AwsCredentialIdentity {
  const accessKeyId = credentials.aws_access_key_id;
  const secretAccessKey = credentials.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(`the secret ${secret} needs the keys aws_access_key_id and aws_secret_access_key`);
  }
  const sessionToken = credentials.aws_session_token;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}
