// Real traffic end to end (KANARIA_DATAPLANE=traefik): the controller process writes the weights into an
// HTTPRoute, Traefik's Gateway API provider routes requests by them to real podinfo processes (one per
// pod, on the pod's IP, inside the data plane's network namespace), and the split is counted from the
// responses themselves: each release's podinfo says its own message.
//
// The test cluster has the data plane wherever a network namespace can be made (root; cluster.sh builds
// Traefik, podinfo, the load tester and hey on first use); elsewhere, or with KANARIA_DATAPLANE=off,
// this file is skipped, and KANARIA_DATAPLANE=traefik makes a cluster without one an error.
import { describe, expect, inject, it } from "vitest";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import { canaryEvents, getDeployment, waitForPhase } from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { canary } from "../support/manifests.ts";
import {
  count,
  countUntilGone,
  gatewayRef,
  podinfoApp,
  served,
  steadyLoad,
  useRealTraffic,
} from "../support/real-traffic.ts";

const { dataplane, ns, client, gates } = useRealTraffic("e2e-real-traffic");
const prometheusUrl = inject("prometheusUrl");

/** podinfo 6.9.2 in this file's namespace answering with MESSAGE. */
function app(name: string, message: string, extraArgs: string[] = [], replicas = 1) {
  return podinfoApp(ns, name, message, extraArgs, replicas);
}

async function canaryWeightOnRoute(name: string): Promise<number | undefined> {
  const route = await client.get<HTTPRoute>({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    namespace: ns,
    name,
  });
  // The weighted rule (primary and canary); rules kanaria inserts for A/B or a sticky cookie have one ref.
  const weighted = route?.spec?.rules?.find((r) => r.backendRefs?.length === 2);
  return weighted?.backendRefs?.find((b) => b.name === `${name}-canary`)?.weight;
}

describe.skipIf(!dataplane)("real traffic through Traefik (Gateway API)", () => {
  it("splits real requests 90/10 at the canary's 10 % step, then serves only the new release", async () => {
    const name = "split";
    const host = `${name}.${ns}.test`;
    gates.set("/hold", "no");
    await client.apply(app(name, "v1"));
    await client.apply(
      canary(ns, name, {
        provider: "gatewayapi",
        service: {
          port: 80,
          targetPort: 9898,
          gatewayRefs: [gatewayRef()],
          hosts: [host],
        },
        analysis: {
          interval: "5s",
          threshold: 2,
          stepWeights: [10],
          webhooks: [{ name: "hold", type: "confirm-promotion", url: gates.url("/hold") }],
        },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    // Traefik loads the new HTTPRoute after its provider throttle; until then the host is unknown (404).
    await served(host);
    const before = await count(host, 200);
    expect(before.failed).toBe(0);
    expect([...before.byMessage.entries()]).toEqual([["v1", 200]]);

    await client.apply(app(name, "v2"));
    await waitFor(() => canaryWeightOnRoute(name), {
      description: "the HTTPRoute at canary weight 10",
      until: (w) => w === 10,
      timeoutMs: 60_000,
      intervalMs: 50,
    });
    const weightSeen = Date.now();
    // The controller holds at 10 % (the confirm-promotion gate says no). Traefik reloads its
    // configuration after a provider event; wait until the canary answers at all.
    await waitFor(() => count(host, 50), {
      description: "the canary (v2) answering through Traefik",
      until: (r) => (r.byMessage.get("v2") ?? 0) > 0,
      timeoutMs: 20_000,
    });
    const firstCanaryAnswerMs = Date.now() - weightSeen;
    const split = await count(host, 1_000);
    expect(split.failed).toBe(0);
    const v1 = split.byMessage.get("v1") ?? 0;
    const v2 = split.byMessage.get("v2") ?? 0;
    expect(v1 + v2).toBe(1_000);
    console.info(
      `[real-traffic] canary weight 10: ${v2}/1000 answered by the canary; first canary answer ${firstCanaryAnswerMs} ms after the weight was seen on the HTTPRoute`,
    );
    expect(Math.abs(v2 / 1_000 - 0.1)).toBeLessThanOrEqual(0.03);
    expect(await canaryWeightOnRoute(name)).toBe(10);

    gates.set("/hold", "yes");
    await waitForPhase(client, ns, name, "Succeeded", 90_000);
    const primary = await getDeployment(client, ns, `${name}-primary`);
    expect(primary?.spec?.template?.spec?.containers?.[0]?.env).toEqual([
      { name: "PODINFO_UI_MESSAGE", value: "v2" },
    ]);
    // The old primary pod drains for a few seconds after Traefik dropped it; then only v2 answers.
    const after = await countUntilGone(
      host,
      200,
      "v1",
      "only the new release (v2) answering through Traefik",
    );
    expect(after.failed).toBe(0);
    expect([...after.last.byMessage.entries()]).toEqual([["v2", 200]]);
  }, 240_000);

  it("rolls back a release answering 5xx on the built-in success rate, read from Traefik's series, under load from Flagger's load tester", async () => {
    const name = "bad";
    const host = `${name}.${ns}.test`;
    await client.apply(app(name, "v1"));
    await client.apply(
      canary(ns, name, {
        provider: "gatewayapi",
        // The built-in request-success-rate, no MetricTemplate: the controller finds Traefik behind the
        // Gateway's GatewayClass and reads traefik_service_requests_total of the canary's backend.
        metricsServer: prometheusUrl,
        service: {
          port: 80,
          targetPort: 9898,
          gatewayRefs: [gatewayRef()],
          hosts: [host],
        },
        analysis: {
          interval: "10s",
          threshold: 2,
          stepWeight: 20,
          maxWeight: 60,
          metrics: [{ name: "request-success-rate", interval: "20s", thresholdRange: { min: 99 } }],
          webhooks: [
            {
              name: "load",
              type: "rollout",
              url: dataplane?.loadtesterUrl ?? "",
              metadata: { cmd: `hey -z 1m -q 20 -c 2 -host ${host} ${dataplane?.proxyUrl}/` },
            },
          ],
        },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    // podinfo's --random-error: about a third of its answers are 5xx.
    await client.apply(app(name, "v2", ["--random-error"]));
    const failed = await waitForPhase(client, ns, name, "Failed", 150_000);
    expect(failed.status?.canaryWeight).toBe(0);
    await waitFor(() => canaryWeightOnRoute(name), {
      description: "the HTTPRoute back at canary weight 0",
      until: (w) => w === 0,
      timeoutMs: 15_000,
    });
    const rate = failed.status?.checks?.find((c) => c.name === "request-success-rate")?.value ?? Number.NaN;
    console.info(
      `[real-traffic] rolled back at a canary success rate of ${rate} % (built-in, Traefik's series)`,
    );
    expect(rate).toBeGreaterThan(30);
    expect(rate).toBeLessThan(99);
    const events = await canaryEvents(client, ns, name);
    expect(events.filter((e) => e.reason === "BuiltinMetrics").map((e) => `${e.type}: ${e.message}`)).toEqual(
      [
        "Normal: the built-in metrics read Traefik's series: GatewayClass " +
          `${dataplane?.gatewayClass} (traefik.io/gateway-controller) of Gateway ${dataplane?.gateway}`,
      ],
    );
    expect(events.filter((e) => e.reason === "RolledBack").map((e) => e.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Canary failed! Rolling back ${name}\\.${ns}: failed checks threshold reached 2/2: ` +
            "request-success-rate \\d+(\\.\\d+)? is below the minimum 99 \\(prometheus, Traefik's series\\)$",
        ),
      ),
    ]);
    const primary = await getDeployment(client, ns, `${name}-primary`);
    expect(primary?.spec?.template?.spec?.containers?.[0]?.env).toEqual([
      { name: "PODINFO_UI_MESSAGE", value: "v1" },
    ]);
  }, 240_000);

  it("promotes a good release under steady load without one failed request", async () => {
    const name = "steady";
    const host = `${name}.${ns}.test`;
    await client.apply(app(name, "v1", [], 2));
    await client.apply(
      canary(ns, name, {
        provider: "gatewayapi",
        service: {
          port: 80,
          targetPort: 9898,
          gatewayRefs: [gatewayRef()],
          hosts: [host],
        },
        analysis: { interval: "5s", threshold: 2, stepWeight: 25, maxWeight: 50 },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    await served(host);
    // From before the first step through the promotion, the primary's rollout and the route switch back.
    const load = steadyLoad(host);
    await client.apply(app(name, "v2", [], 2));
    await waitForPhase(client, ns, name, "Succeeded", 120_000);
    await waitFor(() => canaryWeightOnRoute(name), {
      description: "the HTTPRoute back at canary weight 0",
      until: (w) => w === 0,
      timeoutMs: 15_000,
    });
    // Old primary pods drain for a while after they left the route: keep the load on past that.
    await new Promise((r) => setTimeout(r, 8_000));
    const { byMessage, failed } = await load.stop();
    const answered = (byMessage.get("v1") ?? 0) + (byMessage.get("v2") ?? 0);
    console.info(
      `[real-traffic] steady load through a promotion: ${answered} answered (v1 ${byMessage.get("v1")}, v2 ${byMessage.get("v2")}), ${failed.length} failed`,
    );
    expect(failed).toEqual([]);
    expect(byMessage.get("v1") ?? 0).toBeGreaterThan(0);
    expect(byMessage.get("v2") ?? 0).toBeGreaterThan(0);
    const last = await count(host, 100);
    expect([...last.byMessage.entries()]).toEqual([["v2", 100]]);
  }, 240_000);

  it("A/B: requests with the header or the cookie reach the canary, the others never do", async () => {
    const name = "ab";
    const host = `${name}.${ns}.test`;
    gates.set("/hold-ab", "no");
    await client.apply(app(name, "v1"));
    await client.apply(
      canary(ns, name, {
        provider: "gatewayapi",
        service: {
          port: 80,
          targetPort: 9898,
          gatewayRefs: [gatewayRef()],
          hosts: [host],
        },
        analysis: {
          interval: "5s",
          threshold: 2,
          iterations: 2,
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            // Flagger's documented regex, with the blank browsers put after each ";" allowed.
            { headers: { cookie: { regex: "^(.*?;\\s*)?(canary=always)(;.*)?$" } } },
          ],
          webhooks: [{ name: "hold", type: "confirm-promotion", url: gates.url("/hold-ab") }],
        },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    await client.apply(app(name, "v2"));
    const insider = { "x-canary": "insider" };
    await waitFor(() => count(host, 20, insider), {
      description: "the A/B rule served by Traefik (the header reaches v2)",
      until: (r) => r.byMessage.get("v2") === 20,
      timeoutMs: 60_000,
    });
    const byHeader = await count(host, 300, insider);
    const byCookie = await count(host, 300, { cookie: "session=abc; canary=always; theme=dark" });
    const others = await count(host, 300, { "x-canary": "outsider", cookie: "canary=never" });
    console.info(
      `[real-traffic] A/B: header ${JSON.stringify([...byHeader.byMessage])}, cookie ${JSON.stringify([...byCookie.byMessage])}, others ${JSON.stringify([...others.byMessage])}`,
    );
    expect([byHeader.failed, byCookie.failed, others.failed]).toEqual([0, 0, 0]);
    expect([...byHeader.byMessage.entries()]).toEqual([["v2", 300]]);
    expect([...byCookie.byMessage.entries()]).toEqual([["v2", 300]]);
    expect([...others.byMessage.entries()]).toEqual([["v1", 300]]);
    gates.set("/hold-ab", "yes");
    await waitForPhase(client, ns, name, "Succeeded", 90_000);
  }, 240_000);

  it("rolls back under steady load without one failed request", async () => {
    const name = "steady-rollback";
    const host = `${name}.${ns}.test`;
    // A healthy release that a rollout gate turns down: the rollback, not the app, is under test.
    gates.set("/veto", "no");
    await client.apply(app(name, "v1", [], 2));
    await client.apply(
      canary(ns, name, {
        provider: "gatewayapi",
        service: {
          port: 80,
          targetPort: 9898,
          gatewayRefs: [gatewayRef()],
          hosts: [host],
        },
        analysis: {
          interval: "5s",
          threshold: 2,
          stepWeight: 25,
          maxWeight: 50,
          webhooks: [{ name: "veto", type: "rollout", url: gates.url("/veto") }],
        },
      }),
    );
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    await served(host);
    const load = steadyLoad(host);
    await client.apply(app(name, "v2", [], 2));
    await waitFor(() => canaryWeightOnRoute(name), {
      description: "the first step (canary weight 25) on the HTTPRoute",
      until: (w) => w === 25,
      timeoutMs: 60_000,
    });
    await waitForPhase(client, ns, name, "Failed", 120_000);
    await waitFor(() => canaryWeightOnRoute(name), {
      description: "the HTTPRoute back at canary weight 0",
      until: (w) => w === 0,
      timeoutMs: 15_000,
    });
    // The canary's pods drain after the route left them and the Deployment scaled to zero.
    await new Promise((r) => setTimeout(r, 8_000));
    const { byMessage, failed } = await load.stop();
    console.info(
      `[real-traffic] steady load through a rollback: v1 ${byMessage.get("v1")}, v2 ${byMessage.get("v2")}, ${failed.length} failed`,
    );
    expect(failed).toEqual([]);
    expect(byMessage.get("v2") ?? 0).toBeGreaterThan(0);
    const last = await count(host, 100);
    expect([...last.byMessage.entries()]).toEqual([["v1", 100]]);
  }, 240_000);
});
