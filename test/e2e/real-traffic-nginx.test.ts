// Real traffic end to end through kanaria's nginx router (KANARIA_DATAPLANE=traefik): the controller
// writes the canary Ingress and its nginx.ingress.kubernetes.io/canary* annotations, Traefik's
// ingress-nginx provider (IngressClass `nginx`, controller k8s.io/ingress-nginx, the one teams leaving
// ingress-nginx keep) routes requests by them to real podinfo processes, and the split is counted from
// the responses: each release's podinfo says its own message.
//
// Skipped where the test cluster has no data plane, as test/e2e/real-traffic.test.ts.
// The three cases run at once (each in its own Canary and host) to keep the file near two minutes.
import { describe, inject, it } from "vitest";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { formatValue } from "../../src/metrics/analysis.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  getDeployment,
  waitForPhase,
} from "../support/canary-observer.ts";
import { waitFor } from "../support/k8s.ts";
import { canary } from "../support/manifests.ts";
import { count, podinfoApp, served, steadyLoad, useRealTraffic } from "../support/real-traffic.ts";

const { dataplane, ns, client, gates } = useRealTraffic("e2e-real-nginx");
if (dataplane && !dataplane.ingressClass) {
  throw new Error(
    "the test cluster's data plane serves no IngressClass (no INGRESS_CLASS in its env file): it was started " +
      "by an older cluster.sh; restart it (cluster.sh down, then KANARIA_DATAPLANE=traefik cluster.sh up)",
  );
}

const prometheusUrl = inject("prometheusUrl");

/** podinfo 6.9.2 in this file's namespace answering with MESSAGE. */
function app(name: string, message: string, extraArgs: string[] = [], replicas = 1): KubeObject {
  return podinfoApp(ns, name, message, extraArgs, replicas);
}

/** The Ingress a team had for ingress-nginx: HOST to the apex Service NAME (spec.ingressRef). */
function ingress(name: string, host: string): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: ns },
    spec: {
      ingressClassName: dataplane?.ingressClass,
      rules: [
        {
          host,
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }],
          },
        },
      ],
    },
  } as KubeObject;
}

/** An nginx Canary on the Deployment and Ingress NAME. */
function nginxCanary(name: string, analysis: Record<string, unknown>): KubeObject {
  return canary(ns, name, {
    provider: "nginx",
    ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
    service: { port: 80, targetPort: 9898 },
    analysis: { interval: "5s", threshold: 2, ...analysis },
  });
}

const entries = (m: Map<string, number>) => [...m.entries()];

describe
  .skipIf(!dataplane)
  .concurrent("real traffic through Traefik's ingress-nginx provider (nginx router)", () => {
    it("splits real requests 90/10 at the 10 % step and promotes under steady load without one failed request", async ({
      expect,
    }) => {
      const name = "split";
      const host = `${name}.${ns}.test`;
      gates.set("/hold", "no");
      await client.apply(app(name, "v1", [], 2));
      await client.apply(ingress(name, host));
      await client.apply(
        nginxCanary(name, {
          stepWeights: [10],
          webhooks: [{ name: "hold", type: "confirm-promotion", url: gates.url("/hold") }],
        }),
      );
      await waitForPhase(client, ns, name, "Initialized", 60_000);
      await served(host, "Ingress");
      const before = await count(host, 200);
      expect(before.failed).toBe(0);
      expect(entries(before.byMessage)).toEqual([["v1", 200]]);

      // From before the first step through the promotion, the primary's rollout and the switch back.
      const load = steadyLoad(host);
      await client.apply(app(name, "v2", [], 2));
      await waitFor(() => canaryIngressWeight(client, ns, name), {
        description: `Ingress ${name}-canary at canary-weight 10`,
        until: (w) => w === "10",
        timeoutMs: 60_000,
        intervalMs: 50,
      });
      const weightSeen = Date.now();
      // The controller holds at 10 % (the confirm-promotion gate says no) while Traefik reloads.
      await waitFor(() => count(host, 50), {
        description: "the canary (v2) answering through Traefik",
        until: (r) => (r.byMessage.get("v2") ?? 0) > 0,
        timeoutMs: 20_000,
        intervalMs: 50,
      });
      const firstCanaryAnswerMs = Date.now() - weightSeen;
      const split = await count(host, 1_000);
      const v1 = split.byMessage.get("v1") ?? 0;
      const v2 = split.byMessage.get("v2") ?? 0;
      console.info(
        `[real-traffic-nginx] canary-weight 10: ${v2}/1000 answered by the canary; first canary answer ${firstCanaryAnswerMs} ms after the weight was seen on the Ingress`,
      );
      expect(split.failed).toBe(0);
      expect(v1 + v2).toBe(1_000);
      expect(Math.abs(v2 / 1_000 - 0.1)).toBeLessThanOrEqual(0.03);
      expect(await canaryIngressWeight(client, ns, name)).toBe("10");

      gates.set("/hold", "yes");
      await waitForPhase(client, ns, name, "Succeeded", 90_000);
      expect(await canaryIngressWeight(client, ns, name)).toBe("0");
      const primary = await getDeployment(client, ns, `${name}-primary`);
      expect(primary?.spec?.template?.spec?.containers?.[0]?.env).toEqual([
        { name: "PODINFO_UI_MESSAGE", value: "v2" },
      ]);
      // Old primary and canary pods drain for a while after they left the route: keep the load on past that.
      await new Promise((r) => setTimeout(r, 8_000));
      const { byMessage, failed } = await load.stop();
      console.info(
        `[real-traffic-nginx] steady load through the promotion: v1 ${byMessage.get("v1")}, v2 ${byMessage.get("v2")}, ${failed.length} failed`,
      );
      expect(failed).toEqual([]);
      expect(byMessage.get("v1") ?? 0).toBeGreaterThan(0);
      expect(byMessage.get("v2") ?? 0).toBeGreaterThan(0);
      const last = await count(host, 100);
      expect(entries(last.byMessage)).toEqual([["v2", 100]]);
    }, 150_000);

    it("A/B: requests with the header or the cookie reach the canary, the others never do", async ({
      expect,
    }) => {
      const name = "ab";
      const host = `${name}.${ns}.test`;
      gates.set("/hold-ab", "no");
      await client.apply(app(name, "v1"));
      await client.apply(ingress(name, host));
      await client.apply(
        nginxCanary(name, {
          iterations: 2,
          // ingress-nginx's A/B: one header (canary-by-header + -value) and one cookie by name
          // (canary-by-cookie: the cookie's value "always" routes to the canary, "never" never does).
          match: [
            { headers: { "x-canary": { exact: "insider" } } },
            { headers: { cookie: { exact: "canary" } } },
          ],
          webhooks: [{ name: "hold", type: "confirm-promotion", url: gates.url("/hold-ab") }],
        }),
      );
      await waitForPhase(client, ns, name, "Initialized", 60_000);
      await served(host, "Ingress");
      await client.apply(app(name, "v2"));
      const insider = { "x-canary": "insider" };
      await waitFor(() => count(host, 20, insider), {
        description: "the A/B routers served by Traefik (the header reaches v2)",
        until: (r) => r.byMessage.get("v2") === 20,
        timeoutMs: 60_000,
      });
      const annotations = (
        await client.get<KubeObject>({
          apiVersion: "networking.k8s.io/v1",
          kind: "Ingress",
          namespace: ns,
          name: `${name}-canary`,
        })
      )?.metadata.annotations;
      expect(annotations).toMatchObject({
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "0",
        "nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
        "nginx.ingress.kubernetes.io/canary-by-header-value": "insider",
        "nginx.ingress.kubernetes.io/canary-by-cookie": "canary",
      });
      const byHeader = await count(host, 300, insider);
      const byCookie = await count(host, 300, { cookie: "session=abc; canary=always; theme=dark" });
      const others = await count(host, 300, { "x-canary": "outsider", cookie: "canary=never" });
      const plain = await count(host, 300);
      console.info(
        `[real-traffic-nginx] A/B: header ${JSON.stringify(entries(byHeader.byMessage))}, cookie ${JSON.stringify(entries(byCookie.byMessage))}, others ${JSON.stringify(entries(others.byMessage))}, no header ${JSON.stringify(entries(plain.byMessage))}`,
      );
      expect([byHeader.failed, byCookie.failed, others.failed, plain.failed]).toEqual([0, 0, 0, 0]);
      expect(entries(byHeader.byMessage)).toEqual([["v2", 300]]);
      expect(entries(byCookie.byMessage)).toEqual([["v2", 300]]);
      expect(entries(others.byMessage)).toEqual([["v1", 300]]);
      expect(entries(plain.byMessage)).toEqual([["v1", 300]]);
    }, 150_000);

    it("rolls back a release answering 5xx on the error rate Traefik measured, under load from Flagger's load tester", async ({
      expect,
    }) => {
      const name = "bad";
      const host = `${name}.${ns}.test`;
      // Traefik's ingress-nginx provider names the canary's backend <namespace>-<ingress>-<service>-<port>-canary
      // (the primary's without -canary), one `service` label each in its series.
      const backend =
        'service=~"{{ namespace }}-{{ ingress }}-{{ service }}-[0-9]+-canary@kubernetesingressnginx"';
      await client.apply({
        apiVersion: API_VERSION,
        kind: "MetricTemplate",
        metadata: { name: "traefik-nginx-success-rate", namespace: ns },
        spec: {
          provider: { type: "prometheus", address: prometheusUrl },
          query:
            `100 - 100 * sum(rate(traefik_service_requests_total{${backend}, code=~"5.."}[{{ interval }}]) or vector(0))` +
            ` / sum(rate(traefik_service_requests_total{${backend}}[{{ interval }}]))`,
        },
      } as KubeObject);
      await client.apply(app(name, "v1"));
      await client.apply(ingress(name, host));
      await client.apply(
        nginxCanary(name, {
          interval: "10s",
          stepWeight: 20,
          maxWeight: 60,
          metrics: [
            {
              name: "traefik-success-rate",
              templateRef: { name: "traefik-nginx-success-rate" },
              interval: "20s",
              thresholdRange: { min: 99 },
            },
          ],
          webhooks: [
            {
              name: "load",
              type: "rollout",
              url: dataplane?.loadtesterUrl ?? "",
              metadata: { cmd: `hey -z 1m -q 20 -c 2 -host ${host} ${dataplane?.proxyUrl}/` },
            },
          ],
        }),
      );
      await waitForPhase(client, ns, name, "Initialized", 60_000);
      await served(host, "Ingress");
      // podinfo's --random-error: a share of its answers are 5xx.
      await client.apply(app(name, "v2", ["--random-error"]));
      const failed = await waitForPhase(client, ns, name, "Failed", 120_000);
      expect(failed.status?.canaryWeight).toBe(0);
      expect(await canaryIngressWeight(client, ns, name)).toBe("0");
      const rate = failed.status?.checks?.find((c) => c.name === "traefik-success-rate")?.value ?? Number.NaN;
      console.info(
        `[real-traffic-nginx] rolled back at a canary success rate of ${rate} % (Traefik's series)`,
      );
      expect(rate).toBeGreaterThan(30);
      expect(rate).toBeLessThan(99);
      const rolledBack = (await canaryEvents(client, ns, name)).filter((e) => e.reason === "RolledBack");
      expect(rolledBack.map((e) => e.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Canary failed! Rolling back ${name}\\.${ns}: failed checks threshold reached 2/2: ` +
              "traefik-success-rate \\d+(\\.\\d+)? is below the minimum 99 \\(prometheus\\)$",
          ),
        ),
      ]);
      // The message names the value the check measured (the one in status.checks, as kanaria prints it).
      expect(rolledBack[0]?.message).toContain(`traefik-success-rate ${formatValue(rate)} is below`);
      const primary = await getDeployment(client, ns, `${name}-primary`);
      expect(primary?.spec?.template?.spec?.containers?.[0]?.env).toEqual([
        { name: "PODINFO_UI_MESSAGE", value: "v1" },
      ]);
      // After the rollback only the primary answers.
      const after = await waitFor(() => count(host, 100), {
        description: "only v1 answering after the rollback",
        until: (r) => (r.byMessage.get("v2") ?? 0) === 0 && r.failed === 0,
        timeoutMs: 20_000,
      });
      expect(entries(after.byMessage)).toEqual([["v1", 100]]);
    }, 150_000);
  });
