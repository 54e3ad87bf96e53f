import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import type { Sigv4Spec } from "../../api/metric-template.ts";
import { lazy } from "../../lazy.ts";

/** The signing name of Amazon Managed Service for Prometheus. */
export const DEFAULT_SIGV4_SERVICE = "aps";

/** One HTTP request as it will go on the wire: URL with its query, method, and the exact body bytes. */
export interface SignableRequest {
  method: string;
  url: URL;
  /** Headers to sign besides host (e.g. content-type of a POST); names in lower case. */
  headers: Record<string, string>;
  body?: string | undefined;
}

export interface SignedRequest {
  /** The URL to send: the query encoded exactly as it was signed (RFC 3986, %20 for spaces). */
  url: string;
  /** Host, x-amz-date, x-amz-content-sha256, x-amz-security-token and authorization. */
  headers: Record<string, string>;
}

export type Signer = (request: SignableRequest) => Promise<SignedRequest>;

/**
 * The AWS SDK's own SigV4 signer and query-string builder, loaded on the first signed request: a
 * controller without a SigV4 template does not hold them.
 */
const sdk = lazy(() =>
  Promise.all([
    import("@smithy/signature-v4"),
    import("@smithy/hash-node"),
    import("@smithy/core/protocols"),
  ] as const),
);

/**
 * Signs requests with the SDK's SignatureV4 (header signing, signed payload hash). `used` hears of
 * every credential that signed, so error messages can be scrubbed of them.
 */
export function sigv4Signer(
  spec: Sigv4Spec,
  credentials: AwsCredentialIdentityProvider,
  used: (credentials: AwsCredentialIdentity) => void = () => {},
): Signer {
  const signer = lazy(async () => {
    const [{ SignatureV4 }, { Hash }] = await sdk();
    return new SignatureV4({
      service: spec.service ?? DEFAULT_SIGV4_SERVICE,
      region: spec.region,
      sha256: Hash.bind(null, "sha256"),
      credentials: async () => {
        const c = await credentials();
        used(c);
        return c;
      },
    });
  });
  return async ({ method, url, headers, body }) => {
    const [, , { buildQueryString }] = await sdk();
    const query = queryRecord(url.searchParams);
    const signed = await (await signer()).sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { ...headers, host: url.host },
      ...(body !== undefined ? { body } : {}),
    });
    const search = buildQueryString(query);
    return {
      url: `${url.origin}${url.pathname}${search ? `?${search}` : ""}`,
      headers: signed.headers,
    };
  };
}

/** URLSearchParams as the signer's query record: repeated keys become arrays. */
function queryRecord(params: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of params) {
    const seen = query[key];
    query[key] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return query;
}
