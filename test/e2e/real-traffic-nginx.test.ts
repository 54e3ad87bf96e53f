// Real traffic end to end through kanaria's nginx router (KANARIA_DATAPLANE=traefik): the controller
// writes the canary Ingress and its nginx.ingress.kubernetes.io/canary* annotations, Traefik's
// ingress-nginx provider (IngressClass `nginx`, controller k8s.io/ingress-nginx, the one teams leaving
// ingress-nginx keep) routes requests by them to real podinfo processes, and the split is counted from
// the responses: each release's podinfo says its own message.
//
// Skipped where the test cluster has no data plane, as test/e2e/real-traffic.test.ts.
// The three cases run at once (each in its own Canary and host) to keep the file near two minutes.
import { Agent, request } from "node:http";
import { afterAll, beforeAll, describe, inject, it } from "vitest";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { formatValue } from "../../src/metrics/analysis.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  getDeployment,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { type GateServer, startGateServer } from "../support/gate-server.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, IMAGE } from "../support/manifests.ts";

const dataplane = inject("dataplane");
if (process.env.KANARIA_DATAPLANE === "traefik" && !dataplane) {
  throw new Error(
    "KANARIA_DATAPLANE=traefik but the test cluster has no data plane (no PROXY_URL in its env file)",
  );
}
if (dataplane && !dataplane.ingressClass) {
  throw new Error(
    "the test cluster's data plane serves no IngressClass (no INGRESS_CLASS in its env file): it was started " +
      "by an older cluster.sh; restart it (cluster.sh down, then KANARIA_DATAPLANE=traefik cluster.sh up)",
  );
}

const prometheusUrl = inject("prometheusUrl");
const ns = useNamespace("e2e-real-nginx");
const client = testClient();
useController(ns);
let gates: GateServer;
beforeAll(async () => {
  gates = await startGateServer();
});
afterAll(async () => {
  await gates?.close();
});

/** podinfo 6.9.2 answering with MESSAGE, ready on /readyz as in Flagger's podinfo manifests. */
function app(name: string, message: string, extraArgs: string[] = [], replicas = 1): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "podinfod",
              image: `${IMAGE}:6.9.2`,
              command: ["./podinfo", "--port=9898", "--level=info", ...extraArgs],
              env: [{ name: "PODINFO_UI_MESSAGE", value: message }],
              ports: [{ name: "http", containerPort: 9898, protocol: "TCP" }],
              readinessProbe: { httpGet: { path: "/readyz", port: 9898 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  } as KubeObject;
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

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One GET through Traefik's web entrypoint: the status and podinfo's message ("" when none). */
function get(
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; message: string }> {
  const url = new URL(dataplane?.proxyUrl ?? "http://127.0.0.1:1");
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: "/", headers: { ...headers, host }, agent, timeout: 5_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          let message = "";
          try {
            message =
              (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { message?: string }).message ?? "";
          } catch {
            // not podinfo's JSON (e.g. Traefik's 404 or 503 page)
          }
          resolve({ status: res.statusCode ?? 0, message });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** N requests, 8 at a time; how many each message answered and how many were not 200. */
async function count(
  host: string,
  n: number,
  headers: Record<string, string> = {},
): Promise<{ byMessage: Map<string, number>; failed: number }> {
  const byMessage = new Map<string, number>();
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await get(host, headers);
      if (r.status !== 200) failed++;
      else byMessage.set(r.message, (byMessage.get(r.message) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { byMessage, failed };
}

/** Requests from 4 clients, each at most one per 20 ms, until stop(); stop() resolves with what answered and what failed. */
function steadyLoad(host: string): {
  stop: () => Promise<{ byMessage: Map<string, number>; failed: string[] }>;
} {
  const byMessage = new Map<string, number>();
  const failed: string[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const r = await get(host);
        if (r.status !== 200) failed.push(`HTTP ${r.status}`);
        else byMessage.set(r.message, (byMessage.get(r.message) ?? 0) + 1);
      } catch (err) {
        failed.push(String(err));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const workers = Promise.all(Array.from({ length: 4 }, worker));
  return {
    async stop() {
      running = false;
      await workers;
      return { byMessage, failed };
    },
  };
}

/** Waits until Traefik's ingress-nginx provider serves HOST (a new Ingress is a 404 until it reloads). */
async function served(host: string): Promise<void> {
  await waitFor(() => get(host), {
    description: `Traefik serving the Ingress for ${host}`,
    until: (r) => r.status === 200,
    timeoutMs: 20_000,
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
      await served(host);
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
      await served(host);
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
      await served(host);
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
