// Prometheus scraping the data plane's real pods (KANARIA_DATAPLANE=traefik): the pod runner lists each
// Ready podinfo process as a file_sd target with Kubernetes service discovery's pod labels, Prometheus
// (on the host) scrapes it through the bridge's HTTP proxy (pod IPs exist only inside the data plane's
// network namespace), and the `kubernetes-pods` job's relabeling gives the series `kubernetes_namespace`,
// `kubernetes_pod_name` and the pod's labels, which kanaria's built-in queries for the kubernetes router
// read.
//
// Like test/e2e/real-traffic.test.ts: skipped without a data plane.
import { describe, expect, inject, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary } from "../support/manifests.ts";
import { gatewayRef, get, podinfoApp, realDataPlane } from "../support/real-traffic.ts";

const dataplane = realDataPlane();
const prometheusUrl = inject("prometheusUrl");
const ns = useNamespace("dp-scrape");
const client = testClient();
useController(ns, () => ["--metrics-server", prometheusUrl]);

type Pod = KubeObject & {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
};
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface Target {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  health: string;
  lastError: string;
}

/** podinfo 6.9.2 in this file's namespace saying MESSAGE. */
function app(name: string, message: string, replicas: number, extraArgs: string[] = []): KubeObject {
  return podinfoApp(ns, name, message, extraArgs, replicas);
}

/** Service SERVICE (created here unless kanaria makes it) routed by Traefik for HOST. */
function route(name: string, host: string, service: string): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec: {
      parentRefs: [gatewayRef()],
      hostnames: [host],
      rules: [{ backendRefs: [{ name: service, port: 80 }] }],
    },
  } as KubeObject;
}

function service(name: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: 9898 }] },
  } as KubeObject;
}

/** One GET of PATH for HOST through Traefik's web entrypoint: the status code. */
async function getStatus(host: string, path: string): Promise<number> {
  return (await get(host, {}, path)).status;
}

async function query(promql: string): Promise<Sample[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
  if (body.status !== "success") throw new Error(`Prometheus rejected ${promql}: ${body.error}`);
  return body.data.result;
}

/** The active targets of the kubernetes-pods job in this test's namespace. */
async function podTargets(): Promise<Target[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/targets?state=active`);
  const body = (await res.json()) as { data: { activeTargets: Target[] } };
  return body.data.activeTargets.filter(
    (t) => t.labels.job === "kubernetes-pods" && t.labels.kubernetes_namespace === ns,
  );
}

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");

async function readyPods(name: string): Promise<Pod[]> {
  const pods = await client.list<Pod>("v1", "Pod", ns, `app=${name}`);
  return pods.filter((p) => !p.metadata.deletionTimestamp && isReady(p));
}

/**
 * Two clients sending GETs for HOST through Traefik, each one per 40 ms, until stop(): `/` only, or with
 * errorEvery N, every Nth a `/status/500` (podinfo answers it with a 500). stop() resolves with the
 * answers counted by status (Traefik's 503 while no pod is behind the route included).
 */
function steadyLoad(host: string, errorEvery?: number): { stop: () => Promise<Map<number, number>> } {
  let running = true;
  const answered = new Map<number, number>();
  const worker = async () => {
    for (let i = 1; running; i++) {
      const path = errorEvery && i % errorEvery === 0 ? "/status/500" : "/";
      const status = await getStatus(host, path).catch(() => 0);
      answered.set(status, (answered.get(status) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 40));
    }
  };
  const load = Promise.all([worker(), worker()]);
  return {
    async stop() {
      running = false;
      await load;
      return answered;
    },
  };
}

/** Per pod name: the value of a `sum by (kubernetes_pod_name)` query. */
async function byPod(promql: string): Promise<Map<string, number>> {
  const result = await query(`sum by (kubernetes_pod_name) (${promql})`);
  return new Map(result.map((s) => [s.metric.kubernetes_pod_name ?? "", Number(s.value[1])]));
}

/**
 * Deployment NAME at v1 under a blue/green (kubernetes) Canary checked every 5s as ANALYSIS says, once
 * Initialized. kanaria's `<name>-canary` Service selects the canary's pods; Traefik routes the host
 * returned (`<name>-canary.<ns>.test`) to it.
 */
async function blueGreen(name: string, analysis: Record<string, unknown>): Promise<string> {
  const host = `${name}-canary.${ns}.test`;
  await client.apply(app(name, "v1", 1));
  await client.apply(canary(ns, name, { provider: "kubernetes", analysis: { interval: "5s", ...analysis } }));
  await client.apply(route(`${name}-canary`, host, `${name}-canary`));
  await waitForPhase(client, ns, name, "Initialized", 60_000);
  return host;
}

describe.skipIf(!dataplane)("Prometheus scraping the data plane's pods", () => {
  it("scrapes each Ready podinfo pod with the kubernetes-pods labels, counts what Traefik sent it, and drops a deleted pod", async () => {
    const name = "web";
    const host = `${name}.${ns}.test`;
    await client.apply(app(name, "v1", 2));
    await client.apply(service(name));
    await client.apply(route(name, host, name));
    const pods = await waitFor(() => readyPods(name), {
      description: `2 Ready pods of Deployment ${ns}/${name}`,
      until: (p) => p.length === 2,
      timeoutMs: 30_000,
    });
    const podNames = pods.map((p) => p.metadata.name).sort();

    // Each pod is a target, up, labelled as Kubernetes SD and the usual relabeling would label it.
    const targets = await waitFor(podTargets, {
      description: `both pods of ${name} up as Prometheus targets`,
      until: (ts) => ts.length === 2 && ts.every((t) => t.health === "up"),
      timeoutMs: 15_000,
    });
    for (const pod of pods) {
      const target = targets.find((t) => t.labels.kubernetes_pod_name === pod.metadata.name);
      expect(target?.labels).toEqual({
        job: "kubernetes-pods",
        instance: expect.stringMatching(new RegExp(`^${pod.status?.podIP?.replaceAll(".", "\\.")}:\\d+$`)),
        kubernetes_namespace: ns,
        kubernetes_pod_name: pod.metadata.name,
        app: name,
        pod_template_hash: pod.metadata.labels?.["pod-template-hash"],
      });
      expect(target?.discoveredLabels.__meta_kubernetes_pod_container_name).toBe("podinfod");
      expect(target?.discoveredLabels.__meta_kubernetes_pod_ready).toBe("true");
    }

    // Requests through Traefik: 200 to / and 20 to /status/500 (podinfo answers with that code).
    await waitFor(() => getStatus(host, "/"), {
      description: `Traefik serving the HTTPRoute for ${host}`,
      until: (s) => s === 200,
      timeoutMs: 20_000,
    });
    let okSent = 1;
    for (let i = 0; i < 199; i++) if ((await getStatus(host, "/")) === 200) okSent++;
    let errorsSent = 0;
    for (let i = 0; i < 20; i++) if ((await getStatus(host, "/status/500")) === 500) errorsSent++;
    expect([okSent, errorsSent]).toEqual([200, 20]);

    // podinfo's own histogram, per pod: every request is counted once, by the pod that answered it.
    const selector = `kubernetes_namespace="${ns}", app="${name}"`;
    const ok = await waitFor(() => byPod(`http_request_duration_seconds_count{${selector}, path="root"}`), {
      description: `Prometheus counting ${okSent} requests to / on the pods of ${name}`,
      until: (m) => [...m.values()].reduce((a, b) => a + b, 0) === okSent,
      timeoutMs: 15_000,
    });
    expect([...ok.keys()].sort()).toEqual(podNames);
    for (const n of ok.values()) expect(n).toBeGreaterThan(0);
    const errors = await waitFor(
      () => query(`sum(http_request_duration_seconds_count{${selector}, status="500"})`),
      {
        description: `Prometheus counting ${errorsSent} 500s on the pods of ${name}`,
        until: (r) => Number(r[0]?.value[1]) === errorsSent,
        timeoutMs: 15_000,
      },
    );
    expect(Number(errors[0]?.value[1])).toBe(20);
    const series = await query(`http_request_duration_seconds_count{${selector}, path="root"}`);
    expect(
      series
        .map((s) => s.metric)
        .sort((a, b) => (a.kubernetes_pod_name ?? "").localeCompare(b.kubernetes_pod_name ?? "")),
    ).toEqual(
      pods
        .slice()
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
        .map((pod) => ({
          __name__: "http_request_duration_seconds_count",
          job: "kubernetes-pods",
          instance: expect.stringMatching(/^10\.24[45]\.\d+\.\d+:\d+$/),
          kubernetes_namespace: ns,
          kubernetes_pod_name: pod.metadata.name,
          app: name,
          pod_template_hash: pod.metadata.labels?.["pod-template-hash"],
          method: "GET",
          path: "root",
          status: "200",
        })),
    );

    // A deleted pod's target goes (after its drain); its replacement's appears only once it is Ready.
    const [gone] = podNames;
    await client.delete({ apiVersion: "v1", kind: "Pod", namespace: ns, name: gone ?? "" });
    const after = await waitFor(podTargets, {
      description: `the target of deleted pod ${gone} gone and its replacement's up`,
      until: (ts) =>
        ts.length === 2 &&
        ts.every((t) => t.health === "up") &&
        !ts.some((t) => t.labels.kubernetes_pod_name === gone),
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const replacement = after.find((t) => !podNames.includes(t.labels.kubernetes_pod_name ?? ""));
    const replacementPod = await client.get<Pod>({
      apiVersion: "v1",
      kind: "Pod",
      namespace: ns,
      name: replacement?.labels.kubernetes_pod_name ?? "",
    });
    expect(replacementPod && isReady(replacementPod)).toBe(true);
    // Prometheus marks the dropped target's series stale once its scrape loop has stopped.
    await waitFor(() => query(`up{kubernetes_namespace="${ns}", kubernetes_pod_name="${gone}"}`), {
      description: `the series of deleted pod ${gone} gone stale`,
      until: (r) => r.length === 0,
      timeoutMs: 5_000,
    });
  }, 90_000);

  it("promotes a blue/green release judged on the built-in checks computed from the canary pods' own series", async () => {
    const name = "bg";
    const host = await blueGreen(name, {
      threshold: 1,
      iterations: 2,
      metrics: [
        // The load below answers 1 in 11 requests with a 500: about 90.9 % succeed.
        { name: "request-success-rate", interval: "10s", thresholdRange: { min: 80 } },
        { name: "request-duration", interval: "10s", thresholdRange: { max: 500 } },
      ],
    });

    // Each client sends 10 GETs of / then one of /status/500, until the release is over. Requests
    // before the canary's pods are up get Traefik's 503 and never reach a pod.
    const load = steadyLoad(host, 11);
    let answered = new Map<number, number>();
    try {
      await client.apply(app(name, "v2", 1));
      await waitForPhase(client, ns, name, "Succeeded", 75_000);
    } finally {
      answered = await load.stop();
    }
    expect(answered.get(500) ?? 0).toBeGreaterThan(0);
    const done = await getCanary(client, ns, name);
    const rate = done.status?.checks?.find((c) => c.name === "request-success-rate");
    const duration = done.status?.checks?.find((c) => c.name === "request-duration");
    console.info(
      `[dataplane-scrape] blue/green promoted: request-success-rate ${rate?.value} %, request-duration ${duration?.value} ms, from ${answered.get(200)} + ${answered.get(500)} answers 200 + 500`,
    );
    // 10 of 11 requests succeed; rate() over a window holding series that began inside it
    // extrapolates each series a little differently, hence the margin.
    expect(rate?.value).toBeGreaterThan(85);
    expect(rate?.value).toBeLessThan(96);
    expect(rate?.message).toMatch(
      /^request-success-rate \d+\.\d+ is within the range \(minimum 80\) \(prometheus\)$/,
    );
    expect(duration?.value).toBeGreaterThan(0);
    expect(duration?.value).toBeLessThan(500);
  }, 120_000);

  it("rolls a blue/green release answering 5xx back on the built-in request-success-rate of its pods", async () => {
    const name = "bgbad";
    const host = await blueGreen(name, {
      threshold: 2,
      // Long enough that a release without one 5xx in the canary's series would be promoted first.
      iterations: 10,
      metrics: [{ name: "request-success-rate", interval: "30s", thresholdRange: { min: 99 } }],
    });
    // podinfo 6.9.2's --random-error decides once per second (it seeds with the Unix time): about one
    // second in three answers 400, 409 or 500, so about one in nine is all 500s. The load asks for / only.
    const load = steadyLoad(host);
    let answered = new Map<number, number>();
    let failed: Awaited<ReturnType<typeof getCanary>>;
    try {
      await client.apply(app(name, "v2", 1, ["--random-error"]));
      failed = await waitForPhase(client, ns, name, "Failed", 90_000);
    } finally {
      answered = await load.stop();
    }
    const rate = failed.status?.checks?.find((c) => c.name === "request-success-rate")?.value ?? Number.NaN;
    console.info(
      `[dataplane-scrape] blue/green rolled back at request-success-rate ${rate} % (the pods' series); answers by status: ${JSON.stringify(Object.fromEntries(answered))}`,
    );
    expect(answered.get(500) ?? 0).toBeGreaterThan(0);
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThan(99);
    const rolledBack = (await canaryEvents(client, ns, name)).filter((e) => e.reason === "RolledBack");
    expect(rolledBack.map((e) => e.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Canary failed! Rolling back ${name}\\.${ns}: failed checks threshold reached 2/2: ` +
            "request-success-rate \\d+(\\.\\d+)? is below the minimum 99 \\(prometheus\\)$",
        ),
      ),
    ]);
    const primary = await getDeployment(client, ns, `${name}-primary`);
    expect(primary?.spec?.template?.spec?.containers?.[0]?.env).toEqual([
      { name: "PODINFO_UI_MESSAGE", value: "v1" },
    ]);
  }, 120_000);
});
