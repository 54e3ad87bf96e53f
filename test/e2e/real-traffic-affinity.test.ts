// Session affinity on real traffic (KANARIA_DATAPLANE=traefik): the controller writes Flagger's sticky
// route (a Set-Cookie filter on each backendRef of the weighted rule, and a rule in front per cookie
// that sends its holders to their version), Traefik's Gateway API provider serves it to real podinfo
// processes, and every answer is read by the release that gave it.
//
// Traefik v3.6 does not apply filters on a backendRef (its provider hands only the rule's filters to
// loadMiddlewares; backendRef filters are read from v3.7.0 on), so through the pinned v3.6.12 no answer
// carries the cookie and a browser is never pinned; what can be shown is that the cookie rules route
// every holder of a cookie to its version whatever else its Cookie header carries. Under a Traefik
// that applies backendRef filters the same file asserts the cookies on the answers and that a client
// with a cookie jar stays on the version it first reached.
//
// Skipped without a data plane, as test/e2e/real-traffic.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import type { HTTPRoute, RouteRule } from "../../src/routers/gatewayapi/types.ts";
import { getDeployment, waitForPhase } from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { canary } from "../support/manifests.ts";
import {
  count,
  countUntilGone,
  gatewayRef,
  get,
  podinfoApp,
  traefikVersion,
  useRealTraffic,
} from "../support/real-traffic.ts";

const { dataplane, ns, client, gates } = useRealTraffic("e2e-real-affinity");

const [major, minor] = traefikVersion();
/** Traefik's Gateway API provider applies filters on a backendRef from v3.7.0 (loadService, httproute.go). */
const backendRefFilters = major > 3 || (major === 3 && minor >= 7);

const name = "sticky";
const host = `${name}.${ns}.test`;
const CANARY_WEIGHT = 30;

async function route(): Promise<HTTPRoute | undefined> {
  return client.get<HTTPRoute>({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    namespace: ns,
    name,
  });
}

/** The weighted rule: the one with both backendRefs (the cookie rules in front have one each). */
function weightedRule(r: HTTPRoute | undefined): RouteRule | undefined {
  return r?.spec?.rules?.find((rule) => rule.backendRefs?.length === 2);
}

/** The Set-Cookie values the weighted rule adds on the named backendRef. */
function setCookieOn(rule: RouteRule | undefined, backend: string): string[] {
  const ref = rule?.backendRefs?.find((b) => b.name === backend);
  return (ref?.filters ?? []).flatMap((f) =>
    (f.responseHeaderModifier?.add ?? []).filter((h) => h.name === "Set-Cookie").map((h) => h.value),
  );
}

/** The canary's and the primary's cookie (name=value) and full Set-Cookie values, once the step is written. */
let cookies: { canary: string; primary: string; canarySetCookie: string; primarySetCookie: string };

describe.skipIf(!dataplane)("session affinity on real traffic through Traefik (Gateway API)", () => {
  beforeAll(async () => {
    const gatewayRefs = [gatewayRef()];
    gates.set("/hold-sticky", "no");
    await client.apply(podinfoApp(ns, name, "v1"));
    await client.apply(
      canary(ns, name, {
        provider: "gatewayapi",
        service: { port: 80, targetPort: 9898, gatewayRefs, hosts: [host] },
        analysis: {
          interval: "10s",
          threshold: 2,
          stepWeights: [CANARY_WEIGHT],
          sessionAffinity: {
            cookieName: "canary-session",
            primaryCookieName: "primary-session",
            maxAge: 3600,
          },
          webhooks: [{ name: "hold", type: "confirm-promotion", url: gates.url("/hold-sticky") }],
        },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    await client.apply(podinfoApp(ns, name, "v2"));
    const written = await waitFor(route, {
      description: `the HTTPRoute ${ns}/${name} at canary weight ${CANARY_WEIGHT}`,
      until: (r) =>
        weightedRule(r)?.backendRefs?.find((b) => b.name === `${name}-canary`)?.weight === CANARY_WEIGHT,
      timeoutMs: 60_000,
    });
    // What kanaria wrote, as Flagger's gatewayapi router: the canary's cookie for maxAge, the
    // primary's for one interval (10 s).
    const rule = weightedRule(written);
    const [canarySetCookie = "", ...moreCanary] = setCookieOn(rule, `${name}-canary`);
    const [primarySetCookie = "", ...morePrimary] = setCookieOn(rule, `${name}-primary`);
    expect([moreCanary, morePrimary]).toEqual([[], []]);
    expect(canarySetCookie).toMatch(/^canary-session=[^;\s]+; Max-Age=3600$/);
    expect(primarySetCookie).toMatch(/^primary-session=[^;\s]+; Max-Age=10$/);
    cookies = {
      canary: canarySetCookie.split(";")[0] ?? "",
      primary: primarySetCookie.split(";")[0] ?? "",
      canarySetCookie,
      primarySetCookie,
    };
    // Traefik loads a route whole: once the canary cookie's rule is served, so is the split.
    await waitFor(() => count(host, 20, { cookie: cookies.canary }), {
      description: "Traefik serving the canary cookie's rule (20 of 20 answers from v2)",
      until: (r) => r.byMessage.get("v2") === 20,
      timeoutMs: 20_000,
    });
    const status = (written?.status as { parents?: { conditions?: { type: string; status: string }[] }[] })
      ?.parents?.[0]?.conditions;
    console.info(
      `[real-traffic-affinity] cookies ${JSON.stringify(cookies)}; Traefik v${traefikVersion().join(".")} route conditions ${JSON.stringify(status?.map((c) => `${c.type}=${c.status}`))}`,
    );
  }, 180_000);

  it(`splits clients without a cookie by the weight (${CANARY_WEIGHT} %) and sets cookies only where Traefik applies backendRef filters`, async () => {
    const split = await count(host, 1_000);
    expect(split.failed).toBe(0);
    const v1 = split.byMessage.get("v1") ?? 0;
    const v2 = split.byMessage.get("v2") ?? 0;
    expect(v1 + v2).toBe(1_000);
    console.info(
      `[real-traffic-affinity] no cookie: ${v2}/1000 from the canary; Set-Cookie seen ${JSON.stringify(Object.fromEntries([...split.setCookieByMessage].map(([m, s]) => [m, [...s]])))}`,
    );
    expect(Math.abs(v2 / 1_000 - CANARY_WEIGHT / 100)).toBeLessThanOrEqual(0.03);
    const seen = (message: string) => [...(split.setCookieByMessage.get(message) ?? [])];
    if (backendRefFilters) {
      // Each release's answers carry its own cookie and no other.
      expect(seen("v2")).toEqual([cookies.canarySetCookie]);
      expect(seen("v1")).toEqual([cookies.primarySetCookie]);
    } else {
      // Traefik v3.6 drops the backendRef filters: no answer hands out either cookie.
      expect([seen("v1"), seen("v2")]).toEqual([[], []]);
    }
  });

  it("sends every holder of the canary cookie to the canary, wherever the cookie sits in the Cookie header", async () => {
    // As browsers send cookies: alone, after another one ("; " with the blank), between two.
    const headers = [
      cookies.canary,
      `a=b; ${cookies.canary}`,
      `session=abc; ${cookies.canary}; theme=dark`,
      `a=b;${cookies.canary}`,
    ];
    const results = await Promise.all(headers.map((cookie) => count(host, 100, { cookie })));
    console.info(
      `[real-traffic-affinity] canary cookie holders: ${JSON.stringify(results.map((r) => [...r.byMessage]))}`,
    );
    expect(results.map((r) => r.failed)).toEqual([0, 0, 0, 0]);
    expect(results.map((r) => [...r.byMessage])).toEqual(headers.map(() => [["v2", 100]]));
  });

  it("sends every holder of the primary cookie to the primary", async () => {
    const results = await Promise.all(
      [cookies.primary, `a=b; ${cookies.primary}; theme=dark`].map((cookie) => count(host, 150, { cookie })),
    );
    expect(results.map((r) => r.failed)).toEqual([0, 0]);
    expect(results.map((r) => [...r.byMessage])).toEqual([[["v1", 150]], [["v1", 150]]]);
  });

  it("does not pin a client whose cookie is of another release (its value differs)", async () => {
    const other = await count(host, 200, {
      cookie: "canary-session=an-earlier-release; primary-session=too",
    });
    expect(other.failed).toBe(0);
    // Split by the weight like a client without a cookie: both releases answer.
    expect(other.byMessage.get("v1") ?? 0).toBeGreaterThan(0);
    expect(other.byMessage.get("v2") ?? 0).toBeGreaterThan(0);
  });

  it.skipIf(!backendRefFilters)(
    "keeps a browser (a cookie jar) on the release it first reached, for 15 requests each",
    async () => {
      const firsts: string[] = [];
      const switched: string[] = [];
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const jar = new Map<string, string>();
          const answers: string[] = [];
          for (let n = 0; n < 15; n++) {
            const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
            const r = await get(host, cookie ? { cookie } : {});
            expect(r.status).toBe(200);
            for (const c of r.setCookie) {
              const [pair = ""] = c.split(";");
              const eq = pair.indexOf("=");
              jar.set(pair.slice(0, eq), pair.slice(eq + 1));
            }
            answers.push(r.message);
          }
          firsts.push(answers[0] ?? "");
          if (answers.some((m) => m !== answers[0])) switched.push(`client ${i}: ${answers.join(",")}`);
        }),
      );
      console.info(
        `[real-traffic-affinity] cookie jars: ${firsts.filter((m) => m === "v2").length}/40 first reached the canary`,
      );
      // With primaryCookieName set, a client's first answer pins it either way.
      expect(switched).toEqual([]);
      expect(firsts.filter((m) => m === "v2").length).toBeGreaterThan(0);
      expect(firsts.filter((m) => m === "v1").length).toBeGreaterThan(0);
    },
  );

  it("once promoted, sends holders of the old canary cookie to the new primary and tells them to drop it", async () => {
    gates.set("/hold-sticky", "yes");
    await waitForPhase(client, ns, name, "Succeeded", 90_000);
    const primary = await getDeployment(client, ns, `${name}-primary`);
    expect(primary?.spec?.template?.spec?.containers?.[0]?.env).toEqual([
      { name: "PODINFO_UI_MESSAGE", value: "v2" },
    ]);
    // As Flagger at weight 0: the release's sticky rules are gone, and one rule sends holders of its
    // canary cookie to the primary with that cookie expired (Max-Age=-1).
    const expired = `${cookies.canary}; Max-Age=-1`;
    const after = await waitFor(route, {
      description: "the HTTPRoute with the weighted rule and the expired canary cookie's rule alone",
      until: (r) =>
        weightedRule(r)?.backendRefs?.find((b) => b.name === `${name}-canary`)?.weight === 0 &&
        (r?.spec?.rules ?? []).length === 2,
      timeoutMs: 20_000,
    });
    const [expiry, weighted] = after?.spec?.rules ?? [];
    expect(expiry?.matches?.[0]?.headers?.[0]?.value).toBe(`.*${cookies.canary.replace("=", ".*")}.*`);
    expect(expiry?.backendRefs?.map((b) => b.name)).toEqual([`${name}-primary`]);
    expect(setCookieOn(expiry, `${name}-primary`)).toEqual([expired]);
    expect(setCookieOn(weighted, `${name}-canary`)).toEqual([]);
    expect(setCookieOn(weighted, `${name}-primary`)).toEqual([]);
    // The canary is scaled to zero: a cookie still pinning its holders there would get 5xx. The old
    // primary pod drains for a few seconds, so wait until only v2 answers, counting every failure.
    const holders = await countUntilGone(
      host,
      100,
      "v1",
      "only the new primary (v2) answering holders of the old canary cookie",
      { cookie: cookies.canary },
    );
    expect(holders.failed).toBe(0);
    expect([...holders.last.byMessage]).toEqual([["v2", 100]]);
    const cookie = { cookie: cookies.canary };
    if (backendRefFilters) {
      // Where Traefik applies backendRef filters the holders are told to drop it, once its provider has
      // loaded the route (until then they are split by the weight, to v2 as well): every answer after.
      let failed = 0;
      await waitFor(() => get(host, cookie), {
        description: "Traefik serving the expired canary cookie's rule",
        until: (r) => {
          if (r.status !== 200) failed++;
          return r.setCookie.includes(expired);
        },
        timeoutMs: 20_000,
      });
      const answers = await Promise.all(Array.from({ length: 50 }, () => get(host, cookie)));
      expect(failed).toBe(0);
      expect(answers.map((a) => [a.status, a.message, a.setCookie])).toEqual(
        answers.map(() => [200, "v2", [expired]]),
      );
    } else {
      expect([...(holders.last.setCookieByMessage.get("v2") ?? [])]).toEqual([]);
    }
    // Nobody else is sent a cookie.
    const plain = await count(host, 50);
    expect([
      plain.failed,
      [...plain.byMessage],
      [...plain.setCookieByMessage.values()].flatMap((s) => [...s]),
    ]).toEqual([0, [["v2", 50]], []]);
  }, 150_000);
});
