/**
 * Pure HTTPRoute rule building for the gatewayapi router. Both modes share one transform: a "base"
 * list of rules, in which the rules kanaria manages send their traffic to the apex Service, becomes
 * the rules of a traffic split. The inverse (baseRules) recovers the base from whatever is live, so
 * the split can be rewritten any number of times and a user's own rules, matches, filters and
 * timeouts pass through untouched.
 *
 * kanaria recognises its own work by backendRefs alone, which needs no annotation or rule name:
 * - a weighted rule has exactly two backendRefs, <apex>-primary and <apex>-canary;
 * - a rule kanaria inserted (A/B match, session-affinity cookie) has exactly one backendRef,
 *   <apex>-primary or <apex>-canary. kanaria owns both Services, so no user rule sends traffic there.
 */
import type { Canary, HttpMatch } from "../../api/canary.ts";
import { parseDuration } from "../../api/common.ts";
import { canaryKey } from "../../workloads/meta.ts";
import { serviceNames } from "../../workloads/services.ts";
import { RouterConfigError } from "../errors.ts";
import type { Routes } from "../router.ts";
import { serviceFilters, serviceTimeouts } from "./filters.ts";
import type { BackendRef, Filter, RouteMatch, RouteRule, StringMatchRule } from "./types.ts";

export const COOKIE_HEADER = "Cookie";
const SET_COOKIE_HEADER = "Set-Cookie";
/** Flagger's default cookie lifetime: a day (also for maxAge 0, as in Flagger). */
const DEFAULT_COOKIE_MAX_AGE = 86_400;

type StringMatch = NonNullable<HttpMatch["headers"]>[string];

function configError(canary: Canary, field: string, problem: string): RouterConfigError {
  return new RouterConfigError(`Canary ${canaryKey(canary)}: ${field} ${problem}`);
}

/** exact -> Exact, regex -> RegularExpression; Gateway API has no prefix/suffix for headers or query params. */
function stringMatch(canary: Canary, field: string, name: string, m: StringMatch): StringMatchRule {
  if (m.exact !== undefined) return { type: "Exact", name, value: m.exact };
  if (m.regex !== undefined) return { type: "RegularExpression", name, value: m.regex };
  throw configError(
    canary,
    field,
    "uses prefix or suffix, which HTTPRoute header and query matches cannot express: write it as regex (e.g. ^value.*)",
  );
}

function pathMatch(canary: Canary, field: string, uri: StringMatch): RouteMatch["path"] {
  if (uri.exact !== undefined) return { type: "Exact", value: uri.exact };
  if (uri.prefix !== undefined) return { type: "PathPrefix", value: uri.prefix };
  if (uri.regex !== undefined) return { type: "RegularExpression", value: uri.regex };
  throw configError(canary, field, "uses suffix, which HTTPRoute path matches cannot express: use regex");
}

/**
 * Flagger's HTTPMatchRequest -> HTTPRouteMatch (uri, method, headers, queryParams). A `cookie` header
 * match becomes a regex on the Cookie header, as Flagger's A/B examples write it.
 */
export function routeMatches(canary: Canary, matches: HttpMatch[] | undefined, field: string): RouteMatch[] {
  return (matches ?? []).map((m, i) => {
    const at = `${field}[${i}]`;
    if (m.sourceLabels !== undefined) {
      throw configError(
        canary,
        `${at}.sourceLabels`,
        "is set, but HTTPRoute cannot match on the caller's labels",
      );
    }
    const out: RouteMatch = {};
    if (m.uri) out.path = pathMatch(canary, `${at}.uri`, m.uri);
    if (m.method) {
      if (m.method.exact === undefined) throw configError(canary, `${at}.method`, "needs exact (e.g. GET)");
      out.method = m.method.exact;
    }
    const headers = Object.entries(m.headers ?? {}).map(([name, v]) =>
      stringMatch(canary, `${at}.headers.${name}`, name.toLowerCase() === "cookie" ? COOKIE_HEADER : name, v),
    );
    if (headers.length > 0) out.headers = headers;
    const query = Object.entries(m.queryParams ?? {}).map(([name, v]) =>
      stringMatch(canary, `${at}.queryParams.${name}`, name, v),
    );
    if (query.length > 0) out.queryParams = query;
    return out;
  });
}

/**
 * Every combination of an analysis match with a rule match, as Flagger merges them: the rule's path and
 * method stay, the analysis' headers and query params are added, so an A/B rule never widens the rule
 * it is placed in front of.
 */
export function mergeMatches(analysis: RouteMatch[], rule: RouteMatch[] | undefined): RouteMatch[] {
  const base = rule && rule.length > 0 ? rule : [{}];
  return analysis.flatMap((a) =>
    base.flatMap((r) => {
      const merged: RouteMatch = structuredClone(r);
      if (a.path && !merged.path) merged.path = a.path;
      if (a.method && !merged.method) merged.method = a.method;
      const headers = a.headers ? combined(r.headers, a.headers) : r.headers;
      const query = a.queryParams ? combined(r.queryParams, a.queryParams) : r.queryParams;
      if ((a.headers && !headers) || (a.queryParams && !query)) return [];
      if (headers) merged.headers = headers;
      if (query) merged.queryParams = query;
      return [merged];
    }),
  );
}

/**
 * The rule's header (or query) matches AND the analysis' ones; undefined when both match one name
 * differently. HTTPRoute keys these lists by name, so two matches on one name cannot be written, and
 * a request cannot satisfy both anyway: that combination matches nothing and is left out.
 */
function combined(
  rule: StringMatchRule[] | undefined,
  analysis: StringMatchRule[],
): StringMatchRule[] | undefined {
  const key = (m: StringMatchRule) => m.name.toLowerCase();
  const same = (a: StringMatchRule, b: StringMatchRule) =>
    (a.type ?? "Exact") === (b.type ?? "Exact") && a.value === b.value;
  const own = rule ?? [];
  if (analysis.some((a) => own.some((r) => key(r) === key(a) && !same(r, a)))) return undefined;
  const names = new Set(analysis.map(key));
  return [...own.filter((m) => !names.has(key(m))), ...analysis];
}

/** The one rule of a generated route, sending everything to the apex Service (the transform splits it). */
export function generatedBaseRule(canary: Canary): RouteRule {
  const { service } = canary.spec;
  const matches = routeMatches(canary, service.match, "spec.service.match");
  const rule: RouteRule = {
    matches: matches.length > 0 ? matches : [{ path: { type: "PathPrefix", value: "/" } }],
    backendRefs: [{ group: "", kind: "Service", name: serviceNames(canary).apex, port: service.port }],
  };
  const filters = serviceFilters(canary);
  if (filters.length > 0) rule.filters = filters;
  const timeouts = serviceTimeouts(canary);
  if (timeouts) rule.timeouts = timeouts;
  return rule;
}

/** mixed: the apex Service beside other backends, which kanaria cannot split without changing their share. */
type RuleKind = "weighted" | "inserted" | "apex" | "mixed" | "user";

function ruleKind(canary: Canary, rule: RouteRule): RuleKind {
  const { apex, primary, canary: canarySvc } = serviceNames(canary);
  const names = (rule.backendRefs ?? []).filter(isServiceRef).map((b) => b.name);
  const count = rule.backendRefs?.length ?? 0;
  if (count === 2 && names.includes(primary) && names.includes(canarySvc)) return "weighted";
  if (count === 1 && (names[0] === primary || names[0] === canarySvc)) return "inserted";
  if (count === 1 && names[0] === apex) return "apex";
  if (names.includes(apex)) return "mixed";
  return "user";
}

function isServiceRef(b: BackendRef): boolean {
  return (b.group ?? "") === "" && (b.kind ?? "Service") === "Service" && b.namespace === undefined;
}

/** The rules that send traffic to the apex Service: what spec.routeRef must contain. */
export function hasApexRule(canary: Canary, rules: RouteRule[]): boolean {
  return rules.some((r) => ruleKind(canary, r) === "apex" || ruleKind(canary, r) === "weighted");
}

/** Index of a rule that sends traffic to the apex Service and to other backends; -1 when none does. */
export function mixedApexRule(canary: Canary, rules: RouteRule[]): number {
  return rules.findIndex((r) => ruleKind(canary, r) === "mixed");
}

/** True when some rule still names the apex Service: the route came (back) from its author unsplit. */
export function hasUnsplitRule(canary: Canary, rules: RouteRule[]): boolean {
  return rules.some((r) => ruleKind(canary, r) === "apex");
}

function isKanariaSetCookie(canary: Canary, f: Filter): boolean {
  const affinity = canary.spec.analysis.sessionAffinity;
  if (!affinity || f.type !== "ResponseHeaderModifier") return false;
  const names = [affinity.cookieName, affinity.primaryCookieName].filter((n) => n);
  return (f.responseHeaderModifier?.add ?? []).some(
    (h) => h.name === SET_COOKIE_HEADER && names.some((n) => h.value.startsWith(`${n}=`)),
  );
}

function isCanaryMirror(canary: Canary, f: Filter): boolean {
  return f.type === "RequestMirror" && f.requestMirror?.backendRef.name === serviceNames(canary).canary;
}

/** A weighted rule as its author wrote it: one apex backendRef, without kanaria's mirror and cookies. */
function unsplit(canary: Canary, rule: RouteRule): RouteRule {
  const { apex, primary } = serviceNames(canary);
  const base = structuredClone(rule);
  const primaryRef = (rule.backendRefs ?? []).find((b) => b.name === primary) as BackendRef;
  const { weight: _, filters, ...ref } = structuredClone(primaryRef);
  const own = (filters ?? []).filter((f) => !isKanariaSetCookie(canary, f));
  base.backendRefs = [{ ...ref, name: apex, ...(own.length > 0 && { filters: own }) }];
  const ruleFilters = (rule.filters ?? []).filter((f) => !isCanaryMirror(canary, f));
  if (ruleFilters.length > 0) base.filters = ruleFilters;
  else delete base.filters;
  return base;
}

/** The inverse of splitRules: the live rules with kanaria's rules dropped and weighted ones unsplit. */
export function baseRules(canary: Canary, rules: RouteRule[]): RouteRule[] {
  return rules.flatMap((rule) => {
    const kind = ruleKind(canary, rule);
    if (kind === "inserted") return [];
    if (kind === "weighted") return [unsplit(canary, rule)];
    return [structuredClone(rule)];
  });
}

/** What the split needs to know beyond the routes: derived from the Canary, so every tick agrees. */
export interface SplitContext {
  canary: Canary;
  routes: Routes;
  /** Set-Cookie value kanaria hands out from the canary: "<cookieName>=<revision under analysis>". */
  canaryCookie: string | undefined;
  primaryCookie: string | undefined;
  /**
   * The canary cookie of the release that just ended (promoted or rolled back), which its holders are
   * told to drop: sent to the primary with an expired Set-Cookie, as Flagger does once the weight is 0.
   */
  expiredCookie: string | undefined;
  intervalSeconds: number;
}

/** Phases in which the last release is over and its canary cookie, if handed out, is stale. */
const RELEASE_ENDED: ReadonlySet<string> = new Set(["Finalising", "Succeeded", "Failed"]);

export function splitContext(canary: Canary, routes: Routes): SplitContext {
  const affinity = canary.spec.analysis.sessionAffinity;
  const status = canary.status ?? {};
  // The cookie values come from the revisions in the status: stable across ticks and restarts, new
  // for each release, so a user pinned to a previous canary is not pinned to the next one.
  const cookie = (name: string | undefined, revision: string | undefined) =>
    name ? `${name}=${revision ?? "none"}` : undefined;
  const canaryCookie = cookie(affinity?.cookieName, status.lastAppliedSpec);
  const ended = status.lastAppliedSpec !== undefined && RELEASE_ENDED.has(status.phase ?? "");
  return {
    canary,
    routes,
    canaryCookie,
    primaryCookie: cookie(affinity?.primaryCookieName || undefined, status.lastPromotedSpec),
    expiredCookie: ended ? canaryCookie : undefined,
    intervalSeconds: Math.round(parseDuration(canary.spec.analysis.interval ?? "60s") / 1000),
  };
}

type SessionAffinity = NonNullable<Canary["spec"]["analysis"]["sessionAffinity"]>;

/** Flagger's Set-Cookie value: the cookie, Max-Age, then the attributes set, in Flagger's order. */
export function cookieHeaderValue(cookie: string, maxAge: number, a: SessionAffinity): string {
  const attributes = [
    `Max-Age=${maxAge}`,
    a.domain && `Domain=${a.domain}`,
    a.httpOnly && "HttpOnly",
    a.partitioned && "Partitioned",
    a.path && `Path=${a.path}`,
    a.sameSite && `SameSite=${a.sameSite}`,
    a.secure && "Secure",
  ].filter((x): x is string => Boolean(x));
  return [cookie, ...attributes].join("; ");
}

function setCookie(value: string, maxAge: number, affinity: SessionAffinity): Filter {
  return {
    type: "ResponseHeaderModifier",
    responseHeaderModifier: {
      add: [{ name: SET_COOKIE_HEADER, value: cookieHeaderValue(value, maxAge, affinity) }],
    },
  };
}

/** Flagger's sticky match: the Cookie header carries the cookie's name and value. */
function cookieMatch(cookie: string): RouteMatch {
  const [name, value] = cookie.split("=");
  return { headers: [{ type: "RegularExpression", name: COOKIE_HEADER, value: `.*${name}.*${value}.*` }] };
}

function withBackends(rule: RouteRule, backendRefs: BackendRef[], matches?: RouteMatch[]): RouteRule {
  const out: RouteRule = { ...structuredClone(rule), backendRefs };
  if (matches) out.matches = matches;
  return out;
}

/** One base rule that names the apex Service -> the rules of the split, in the order they must match. */
function splitRule(ctx: SplitContext, base: RouteRule): RouteRule[] {
  const { canary, routes } = ctx;
  const { apex, primary, canary: canarySvc } = serviceNames(canary);
  const apexRef = (base.backendRefs ?? []).find((b) => b.name === apex) as BackendRef;
  const { weight: _, ...ref } = apexRef;
  const to = (name: string, weight?: number, extra: Filter[] = []): BackendRef => {
    const filters = [...(ref.filters ?? []), ...extra];
    const { filters: __, ...plain } = ref;
    return {
      ...plain,
      name,
      ...(weight !== undefined && { weight }),
      ...(filters.length > 0 && { filters }),
    };
  };
  const affinity = canary.spec.analysis.sessionAffinity;
  const sticky = affinity !== undefined && routes.canaryWeight > 0 && !routes.matched;
  const canaryCookies =
    sticky && ctx.canaryCookie
      ? [setCookie(ctx.canaryCookie, affinity.maxAge || DEFAULT_COOKIE_MAX_AGE, affinity)]
      : [];
  const primaryCookies =
    sticky && ctx.primaryCookie ? [setCookie(ctx.primaryCookie, ctx.intervalSeconds, affinity)] : [];
  const weighted = withBackends(base, [
    to(primary, routes.primaryWeight, primaryCookies),
    to(canarySvc, routes.canaryWeight, canaryCookies),
  ]);
  if (routes.mirrored) weighted.filters = [...(base.filters ?? []), mirrorFilter(ctx, ref)];

  const before: RouteRule[] = [];
  // An inserted rule whose merged matches are all impossible is left out: without matches it would
  // match every request.
  const insert = (backend: BackendRef, matches: RouteMatch[]) => {
    if (matches.length > 0) before.push(withBackends(base, [backend], matches));
  };
  if (routes.matched) {
    const analysis = routeMatches(canary, canary.spec.analysis.match, "spec.analysis.match");
    insert(to(canarySvc), mergeMatches(analysis, base.matches));
  }
  if (sticky && ctx.canaryCookie)
    insert(to(canarySvc), mergeMatches([cookieMatch(ctx.canaryCookie)], base.matches));
  if (sticky && ctx.primaryCookie)
    insert(to(primary), mergeMatches([cookieMatch(ctx.primaryCookie)], base.matches));
  // Flagger's expiry sends Max-Age=-1 alone; a browser drops a cookie only when Domain and Path match
  // the ones it was set with, so the expired cookie carries the same attributes.
  if (affinity && !sticky && ctx.expiredCookie)
    insert(
      to(primary, undefined, [setCookie(ctx.expiredCookie, -1, affinity)]),
      mergeMatches([cookieMatch(ctx.expiredCookie)], base.matches),
    );
  // Rule names must stay unique: only the weighted rule keeps the name its author gave.
  for (const r of before) delete r.name;
  return [...before, weighted];
}

function mirrorFilter(ctx: SplitContext, ref: BackendRef): Filter {
  const percent = ctx.canary.spec.analysis.mirrorWeight;
  return {
    type: "RequestMirror",
    requestMirror: {
      backendRef: { group: "", kind: "Service", name: serviceNames(ctx.canary).canary, port: ref.port },
      ...(percent !== undefined && { percent }),
    },
  };
}

/** Base rules -> the rules of a split; rules that do not name the apex Service are copied as they are. */
export function splitRules(ctx: SplitContext, base: RouteRule[]): RouteRule[] {
  return base.flatMap((rule) =>
    ruleKind(ctx.canary, rule) === "apex" ? splitRule(ctx, rule) : [structuredClone(rule)],
  );
}

/**
 * Reads the split back. undefined when nothing is split yet (no weighted rule, or a rule still names the
 * apex Service) or the weighted rules disagree: either way the split must be written again.
 */
export function parseSplit(canary: Canary, rules: RouteRule[]): Routes | undefined {
  if (hasUnsplitRule(canary, rules)) return undefined;
  const { primary, canary: canarySvc } = serviceNames(canary);
  const weighted = rules.filter((r) => ruleKind(canary, r) === "weighted");
  const weightsOf = (r: RouteRule) => {
    const w = (name: string) => r.backendRefs?.find((b) => b.name === name)?.weight ?? 1;
    return { primaryWeight: w(primary), canaryWeight: w(canarySvc) };
  };
  const first = weighted[0];
  if (!first) return undefined;
  const weights = weightsOf(first);
  if (weighted.some((r) => JSON.stringify(weightsOf(r)) !== JSON.stringify(weights))) return undefined;
  const stickyPrefixes = stickyCookieNames(canary).map((n) => `.*${n}.*`);
  const matched = rules.some(
    (r) =>
      ruleKind(canary, r) === "inserted" &&
      !(r.matches ?? []).every((m) =>
        (m.headers ?? []).some(
          (h) => h.name === COOKIE_HEADER && stickyPrefixes.some((p) => h.value.startsWith(p)),
        ),
      ),
  );
  const mirrored = weighted.some((r) => (r.filters ?? []).some((f) => isCanaryMirror(canary, f)));
  return { ...weights, matched, mirrored };
}

function stickyCookieNames(canary: Canary): string[] {
  const a = canary.spec.analysis.sessionAffinity;
  return a ? [a.cookieName, a.primaryCookieName].filter((n): n is string => Boolean(n)) : [];
}
