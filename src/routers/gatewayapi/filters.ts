/**
 * The filters and timeouts spec.service puts on every rule of the generated HTTPRoute, in Flagger's
 * order (request headers, response headers, URLRewrite, one RequestMirror per service.mirror, CORS),
 * and the checks that each can be written into a Gateway API v1 HTTPRoute. Pure: no cluster access.
 */
import type { Canary } from "../../api/canary.ts";
import { parseDuration } from "../../api/common.ts";
import { canaryKey, canaryNamespace } from "../../workloads/meta.ts";
import { serviceNames } from "../../workloads/services.ts";
import { RouterConfigError } from "../errors.ts";
import type { Filter, HeaderModifier, RouteMatch, RouteRule } from "./types.ts";

type Service = Canary["spec"]["service"];
type CorsPolicy = NonNullable<Service["corsPolicy"]>;

/** HTTPRoute's CORS filter, as its CRD (Gateway API v1.6) restricts each list. */
const ORIGIN = /^(\*|https?:\/\/(((\*\.)?([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(:[0-9]{1,5})?))$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*"];
/** The CORS filter's maxAge when none is written (the CRD default). */
export const CORS_DEFAULT_MAX_AGE = 5;

/** A RouterConfigError that also says which field (from spec.service) and what, for `kanaria validate`. */
export class ServiceFilterError extends RouterConfigError {
  readonly path: (string | number)[];
  readonly problem: string;

  constructor(canary: Canary, field: string, problem: string) {
    super(`Canary ${canaryKey(canary)}: spec.service.${field} ${problem}`);
    this.path = [
      "spec",
      "service",
      ...field
        .split(/[.[\]]+/)
        .filter((p) => p !== "")
        .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
    ];
    this.problem = `provider gatewayapi: ${field} ${problem}`;
  }
}

function configError(canary: Canary, field: string, problem: string): ServiceFilterError {
  return new ServiceFilterError(canary, field, problem);
}

/** Header name order makes the output stable (record key order is the manifest's, which may change). */
function headerList(values: Record<string, string> | undefined) {
  const list = Object.entries(values ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ name, value }));
  return list.length > 0 ? list : undefined;
}

function headerModifier(ops: {
  add?: Record<string, string>;
  set?: Record<string, string>;
  remove?: string[];
}) {
  const modifier: HeaderModifier = {};
  const add = headerList(ops.add);
  const set = headerList(ops.set);
  if (add) modifier.add = add;
  if (set) modifier.set = set;
  if (ops.remove && ops.remove.length > 0) modifier.remove = [...ops.remove];
  return modifier;
}

/** Flagger: uri replaces the full path unless type is ReplacePrefixMatch; authority becomes the hostname. */
function rewriteFilter(rewrite: NonNullable<Service["rewrite"]>): Filter {
  const urlRewrite: Record<string, unknown> = {};
  if (rewrite.authority) urlRewrite.hostname = rewrite.authority;
  if (rewrite.uri) {
    urlRewrite.path =
      rewrite.type === "ReplacePrefixMatch"
        ? { type: "ReplacePrefixMatch", replacePrefixMatch: rewrite.uri }
        : { type: "ReplaceFullPath", replaceFullPath: rewrite.uri };
  }
  return { type: "URLRewrite", urlRewrite };
}

/** The CRD's defaults are written out, so the route read back equals the route written. */
function mirrorFilter(mirror: NonNullable<Service["mirror"]>[number]): Filter {
  const { backendRef, percent } = mirror;
  return {
    type: "RequestMirror",
    requestMirror: {
      backendRef: { ...backendRef, group: backendRef.group ?? "", kind: backendRef.kind ?? "Service" },
      ...(percent !== undefined && { percent }),
    },
  };
}

/** Flagger's mapping: allowOrigin -> allowOrigins, maxAge in whole seconds, allowCredentials only when true. */
function corsFilter(cors: CorsPolicy): Filter {
  const out: Record<string, unknown> = {};
  if (cors.allowOrigin?.length) out.allowOrigins = [...cors.allowOrigin];
  if (cors.allowMethods?.length) out.allowMethods = [...cors.allowMethods];
  if (cors.allowHeaders?.length) out.allowHeaders = [...cors.allowHeaders];
  if (cors.exposeHeaders?.length) out.exposeHeaders = [...cors.exposeHeaders];
  if (cors.allowCredentials) out.allowCredentials = true;
  if (cors.maxAge) out.maxAge = Math.floor(parseDuration(cors.maxAge) / 1000);
  return { type: "CORS", cors: out };
}

/** spec.service -> the filters of every rule of the generated route. */
export function serviceFilters(canary: Canary): Filter[] {
  const { headers, rewrite, mirror, corsPolicy } = canary.spec.service;
  const filters: Filter[] = [];
  if (headers?.request) {
    filters.push({ type: "RequestHeaderModifier", requestHeaderModifier: headerModifier(headers.request) });
  }
  if (headers?.response) {
    filters.push({
      type: "ResponseHeaderModifier",
      responseHeaderModifier: headerModifier(headers.response),
    });
  }
  if (rewrite) filters.push(rewriteFilter(rewrite));
  for (const m of mirror ?? []) filters.push(mirrorFilter(m));
  if (corsPolicy) filters.push(corsFilter(corsPolicy));
  return filters;
}

/** service.timeout -> timeouts.request, service.backendTimeout -> timeouts.backendRequest. */
export function serviceTimeouts(canary: Canary): RouteRule["timeouts"] | undefined {
  const { timeout, backendTimeout } = canary.spec.service;
  if (!timeout && !backendTimeout) return undefined;
  return {
    ...(timeout && { request: timeout }),
    ...(backendTimeout && { backendRequest: backendTimeout }),
  };
}

function checkCors(canary: Canary, cors: CorsPolicy): void {
  const lists = [
    [
      "allowOrigin",
      cors.allowOrigin,
      (v: string) => ORIGIN.test(v),
      'an origin such as "https://example.com" or "*"',
    ],
    [
      "allowMethods",
      cors.allowMethods,
      (v: string) => CORS_METHODS.includes(v),
      `one of ${CORS_METHODS.join(", ")}`,
    ],
    ["allowHeaders", cors.allowHeaders, (v: string) => HEADER_NAME.test(v), "a header name"],
    ["exposeHeaders", cors.exposeHeaders, (v: string) => HEADER_NAME.test(v), "a header name"],
  ] as const;
  for (const [field, values, valid, what] of lists) {
    (values ?? []).forEach((v, i) => {
      if (!valid(v)) {
        throw configError(canary, `corsPolicy.${field}[${i}]`, `is ${JSON.stringify(v)}, not ${what}`);
      }
      if (values?.indexOf(v) !== i) {
        throw configError(canary, `corsPolicy.${field}[${i}]`, `repeats ${JSON.stringify(v)}: list it once`);
      }
    });
    if (field !== "exposeHeaders" && values?.includes("*") && values.length > 1) {
      throw configError(
        canary,
        `corsPolicy.${field}`,
        'lists "*" beside other values: keep "*" alone or remove it',
      );
    }
  }
  if (cors.maxAge !== undefined && parseDuration(cors.maxAge) < 1000) {
    throw configError(
      canary,
      "corsPolicy.maxAge",
      `is ${cors.maxAge}; the CORS filter counts whole seconds: use 1s or more`,
    );
  }
}

function checkMirror(canary: Canary, mirror: NonNullable<Service["mirror"]>): void {
  const { primary, canary: canarySvc } = serviceNames(canary);
  mirror.forEach(({ backendRef: ref }, i) => {
    const core = (ref.group ?? "") === "" && (ref.kind ?? "Service") === "Service";
    const own = core && (ref.namespace ?? canaryNamespace(canary)) === canaryNamespace(canary);
    if (own && (ref.name === primary || ref.name === canarySvc)) {
      throw configError(
        canary,
        `mirror[${i}].backendRef`,
        `names ${ref.name}, a Service kanaria routes itself; to mirror to the canary use spec.analysis.mirror (blue/green)`,
      );
    }
    if (core && ref.port === undefined) {
      throw configError(canary, `mirror[${i}].backendRef.port`, "is missing: a Service backend needs a port");
    }
  });
}

/**
 * ReplacePrefixMatch rewrites the prefix a rule matched, so Gateway API wants exactly one PathPrefix
 * match on every rule that carries it: the generated rule, and each A/B or cookie rule put before it.
 */
function checkRewrite(canary: Canary, baseMatches: RouteMatch[] | undefined): void {
  const rewrite = canary.spec.service.rewrite;
  if (rewrite?.type !== "ReplacePrefixMatch" || !rewrite.uri) return;
  const only = baseMatches?.length === 1 ? baseMatches[0] : undefined;
  if (only?.path?.type !== "PathPrefix") {
    throw configError(
      canary,
      "rewrite.type",
      "is ReplacePrefixMatch, which needs exactly one path prefix match on the route: give spec.service.match one entry with uri.prefix, or use ReplaceFullPath",
    );
  }
  if ((canary.spec.analysis.match?.length ?? 0) > 1) {
    throw configError(
      canary,
      "rewrite.type",
      "is ReplacePrefixMatch, which allows one match per rule, but spec.analysis.match has several: merge them into one, or use ReplaceFullPath",
    );
  }
}

/** HTTPRoute's Duration: up to four whole numbers of h, m, s or ms (GEP-2257). */
const ROUTE_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

/** Everything spec.service adds to the generated route, checked before anything is written. */
export function checkServiceFilters(canary: Canary, baseMatches: RouteMatch[] | undefined): void {
  const { corsPolicy, mirror, timeout, backendTimeout } = canary.spec.service;
  for (const [field, value] of [
    ["timeout", timeout],
    ["backendTimeout", backendTimeout],
  ] as const) {
    if (value !== undefined && !ROUTE_DURATION.test(value)) {
      throw configError(
        canary,
        field,
        `is ${JSON.stringify(value)}; an HTTPRoute timeout is whole hours, minutes, seconds or milliseconds: write it as e.g. 1m30s or 500ms`,
      );
    }
  }
  if (corsPolicy) checkCors(canary, corsPolicy);
  if (mirror) checkMirror(canary, mirror);
  checkRewrite(canary, baseMatches);
  if (
    timeout &&
    backendTimeout &&
    parseDuration(timeout) > 0 &&
    parseDuration(backendTimeout) > parseDuration(timeout)
  ) {
    throw configError(
      canary,
      "backendTimeout",
      `(${backendTimeout}) is longer than spec.service.timeout (${timeout}); the whole request cannot outlast one try: shorten it`,
    );
  }
}
