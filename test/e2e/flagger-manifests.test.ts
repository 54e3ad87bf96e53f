// Flagger's own e2e Canaries through a real release on the local cluster, as Flagger's e2e scripts
// run them (test/fixtures/flagger: copied from github.com/fluxcd/flagger, Copyright The Flagger
// Authors, Apache License 2.0; the Canaries from manifests/, the objects the scripts apply beside
// them from workloads/):
//
//   test/kubernetes/test-deployment.sh  blue/green, 5 iterations, webhooks (manifests/test-kubernetes-test-deployment-l26)
//   test/kubernetes/test-hpa.sh         the same with autoscalerRef to an HPA (…-test-hpa-l47)
//   test/kubernetes/test-daemonset.sh   a DaemonSet target, then its revertOnDeletion Canary deleted (…-test-daemonset-l11, -l103)
//   test/gatewayapi/test-canary.sh      progressive 10..50 % on an HTTPRoute with Istio MetricTemplates,
//                                       and its rollback Canary on a failing version (…-test-canary-l17, -l109)
//   test/nginx/test-canary.sh           progressive 20..40 % on an Ingress, and A/B on a header (…-test-canary-l60, -l196)
//
// Each release is triggered as the script does (`kubectl set image` to the tag the script sets) and
// waited for as the script waits (the primary runs the new image, the Canary Succeeded; Failed for the
// rollback), and beyond the script the Events show the weights or iterations the Canary asks for.
//
// Changed from Flagger's objects, and why (nothing else is):
// - apiVersion flagger.app/v1beta1 -> kanaria's: the one change a migrating user makes.
// - metadata.namespace: each scenario runs in a namespace of its own (the scripts use `test` and run
//   one after another; here they run side by side so the file takes about 2 minutes). The nginx A/B and
//   gatewayapi rollback Canaries therefore start from a fresh podinfo 6.0.0, not from the previous
//   scenario's promoted 6.0.1.
// - `onThisCluster` below, the only edit to a Canary: this control plane has no cluster DNS and no
//   kube-proxy, so `http://flagger-loadtester.test/<path>` cannot be reached; the webhook URLs point
//   at a local stand-in for the load tester (test/support/gate-server.ts) that answers every call
//   with 200, as the real one answers /gate/approve and a command it started. It runs no command:
//   the load that Flagger's `hey` generates comes from test/simulator instead. `analysis.interval`
//   15s becomes 10s (kanaria's minimum) so the scenarios fit the file's time budget.
// - `onThisPrometheus`, the only edit to a MetricTemplate: its provider.address names Prometheus by
//   cluster DNS (http://prometheus.istio-system:9090); here it is the test cluster's Prometheus. The
//   templates stay in the namespaces the Canaries' templateRefs name (flagger-system, ingress-nginx).
// - The controllers run with the flags Flagger's install scripts give Flagger: -mesh-provider
//   kubernetes, nginx and gatewayapi:v1 (--provider here), and a metrics server.
// What cannot be real here: the pods are KWOK pods (Ready by KWOK's stage, not by their probes), and
// the request series come from test/simulator, which reads the routing kanaria wrote (the canary
// Ingress, the HTTPRoute; for the kubernetes provider half the requests reach a ready canary, standing
// in for the load tester's hey on the -canary Service) and writes them as the data planes of
// Flagger's e2e do: podinfo's own http_request_duration_seconds (kubernetes built-ins, nginx latency
// template), ingress-nginx's series (nginx request-success-rate) and Istio's (gatewayapi templates).
// No Gateway or ingress controller serves the routes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import type { Canary } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import { FINALIZER } from "../../src/controller/reconciler.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import type { DaemonSet, Deployment } from "../../src/workloads/meta.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  recordChanges,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { type GateServer, startGateServer } from "../support/gate-server.ts";
import { isNotFound, kubeConfig, useNamespace, waitFor } from "../support/k8s.ts";
import type { TrafficOptions } from "../support/traffic.ts";
import { startTraffic } from "../support/traffic.ts";

const FLAGGER = join(import.meta.dirname, "../fixtures/flagger");
const LOADTESTER = "http://flagger-loadtester.test";
const prometheusUrl = inject("prometheusUrl");
const client = testClient();

/** A Flagger object as parsed; the helpers below read the few fields they change. */
type Manifest = KubeObject & { spec?: unknown };
type CanaryManifest = KubeObject & {
  spec: { analysis: { interval?: string; webhooks?: { url: string }[] } };
};
type TemplateManifest = KubeObject & { spec: { provider: { address?: string } } };
type Hpa = KubeObject & {
  spec?: {
    scaleTargetRef?: { kind?: string; name?: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: { type: string; resource?: { name: string; target?: Record<string, unknown> } }[];
  };
};

/** One of Flagger's objects as collected; a Flagger kind gets kanaria's apiVersion, the one change a migrating user makes. */
function flagger(dir: "manifests" | "workloads", file: string, namespace?: string): Manifest {
  const object = parse(readFileSync(join(FLAGGER, dir, file), "utf8")) as Manifest;
  if (dir === "manifests") {
    expect(object.apiVersion, file).toBe("flagger.app/v1beta1");
    object.apiVersion = API_VERSION;
  }
  if (namespace) object.metadata.namespace = namespace;
  return object;
}

/**
 * The only edit to Flagger's Canaries this cluster forces (see the header): webhooks on Flagger's load
 * tester go to the local stand-in, same path; analysis.interval 15s becomes kanaria's minimum 10s.
 */
function onThisCluster(manifest: Manifest, loadtester: GateServer): Manifest {
  const { analysis } = (manifest as CanaryManifest).spec;
  expect(analysis.interval).toBe("15s");
  analysis.interval = "10s";
  for (const hook of analysis.webhooks ?? []) {
    expect(hook.url.startsWith(`${LOADTESTER}/`), hook.url).toBe(true);
    hook.url = loadtester.url(hook.url.slice(LOADTESTER.length));
  }
  return manifest;
}

/** The only edit to Flagger's MetricTemplates: their Prometheus, named by cluster DNS there, is the test cluster's. */
function onThisPrometheus(manifest: Manifest): Manifest {
  const { provider } = (manifest as TemplateManifest).spec;
  expect(provider.address).toMatch(/^http:\/\/[a-z-]+\.[a-z-]+:9090$/);
  provider.address = prometheusUrl;
  return manifest;
}

/** The templates the scripts create, in the namespaces their Canaries' templateRefs name. */
const TEMPLATES = [
  "test-nginx-test-canary-l36-metrictemplate-latency.yaml",
  "test-gatewayapi-test-utils-l71-metrictemplate-latency.yaml",
  "test-gatewayapi-test-utils-l100-metrictemplate-error-rate.yaml",
].map((file) => flagger("manifests", file));

// One namespace per scenario; one controller per provider flag, as Flagger's install scripts run one
// Flagger per e2e suite.
const ns = {
  deployment: useNamespace("flagger-kubernetes-deployment"),
  hpa: useNamespace("flagger-kubernetes-hpa"),
  daemonset: useNamespace("flagger-kubernetes-daemonset"),
  gatewayapi: useNamespace("flagger-gatewayapi-canary"),
  gatewayapiRollback: useNamespace("flagger-gatewayapi-rollback"),
  nginx: useNamespace("flagger-nginx-canary"),
  nginxAb: useNamespace("flagger-nginx-ab"),
};
const also = (...namespaces: string[]) => namespaces.flatMap((n) => ["--namespace", n]);
useController(ns.deployment, () => [
  ...also(ns.hpa, ns.daemonset),
  ...["--provider", "kubernetes", "--metrics-server", prometheusUrl],
]);
useController(ns.gatewayapi, () => [
  ...also(ns.gatewayapiRollback),
  ...["--provider", "gatewayapi:v1", "--metrics-server", prometheusUrl],
]);
useController(ns.nginx, () => [
  ...also(ns.nginxAb),
  ...["--provider", "nginx", "--metrics-server", prometheusUrl],
]);

let loadtester: GateServer;
const stoppers: (() => Promise<void>)[] = [];
beforeAll(async () => {
  loadtester = await startGateServer();
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  for (const template of TEMPLATES) {
    const namespace = template.metadata.namespace as string;
    try {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    } catch (err) {
      if (!(err instanceof k8s.ApiException && err.code === 409)) throw err;
    }
    await client.apply(onThisPrometheus(structuredClone(template)));
  }
});
// Registered after the controllers' afterAll, so it runs first: load and templates go before them.
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  await loadtester?.close();
  for (const t of TEMPLATES) {
    const ref = {
      apiVersion: API_VERSION,
      kind: "MetricTemplate",
      namespace: t.metadata.namespace as string,
      name: t.metadata.name,
    };
    try {
      await client.delete(ref);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
});

const HEALTHY = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };

interface Scenario {
  namespace: string;
  /** Objects the script applies first (workloads/), then the Canary (manifests/). */
  workloads: string[];
  canary: string;
  /** The Deployment or DaemonSet. */
  target: string;
  router: NonNullable<TrafficOptions["router"]>;
  profiles?: TrafficOptions["profiles"];
  headerShare?: number;
}

/** Applies what the script applies, starts the load, and waits for the Canary to be Initialized, as the script does. */
async function setUp(s: Scenario): Promise<Canary> {
  for (const file of s.workloads) await client.apply(flagger("workloads", file, s.namespace));
  await client.apply(onThisCluster(flagger("manifests", s.canary, s.namespace), loadtester));
  const traffic = await startTraffic(s.namespace, s.target, {
    rps: 50,
    router: s.router,
    profiles: s.profiles ?? {},
    ...(s.headerShare !== undefined && { headerShare: s.headerShare }),
  });
  stoppers.push(traffic.stop);
  const name = flagger("manifests", s.canary).metadata.name;
  return waitForPhase(client, s.namespace, name, "Initialized", 90_000);
}

const workloadRef = (kind: string, namespace: string, name: string) => ({
  apiVersion: "apps/v1",
  kind,
  namespace,
  name,
});

/** `kubectl set image <kind>/<name> podinfod=<image>`: the podinfod container's image, the rest of the list kept. */
async function setImage(kind: "Deployment" | "DaemonSet", namespace: string, name: string, image: string) {
  const current = await client.get<Deployment>(workloadRef(kind, namespace, name));
  const containers = (current?.spec?.template.spec?.containers ?? []).map((c) =>
    c.name === "podinfod" ? { ...c, image } : c,
  );
  expect(containers.map((c) => c.name)).toContain("podinfod");
  await client.mergePatch(workloadRef(kind, namespace, name), {
    spec: { template: { spec: { containers } } },
  });
}

async function imageOf(kind: "Deployment" | "DaemonSet", namespace: string, name: string) {
  const workload = await client.get<Deployment>(workloadRef(kind, namespace, name));
  return workload?.spec?.template.spec?.containers.find((c) => c.name === "podinfod")?.image;
}

/** The "Advance ..." Events of the Canary, in order: the weights or iterations it went through. */
async function advances(namespace: string, name: string): Promise<string[]> {
  const events = await canaryEvents(client, namespace, name);
  return events
    .map((e) => e.message)
    .filter((m) => m.startsWith(`Advance ${name}.${namespace} canary `))
    .map((m) => m.slice(`Advance ${name}.${namespace} canary `.length));
}

/** The webhook types the load tester stand-in was called with for the Canaries of `namespace`, per path. */
function hooksCalled(namespace: string, path: string): string[] {
  const types = loadtester
    .requests(path)
    .filter((r) => r.body.namespace === namespace)
    .map((r) => String(r.body.type));
  return [...new Set(types)].sort();
}

const serviceSelector = async (namespace: string, name: string) =>
  (
    await client.get<KubeObject & { spec?: { selector?: Record<string, string> } }>({
      apiVersion: "v1",
      kind: "Service",
      namespace,
      name,
    })
  )?.spec?.selector;

async function routeWeights(namespace: string): Promise<string> {
  const route = await client.get<HTTPRoute>({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    namespace,
    name: "podinfo",
  });
  const refs = route?.spec?.rules?.[0]?.backendRefs ?? [];
  return refs.map((b) => `${b.name}=${b.weight}`).join(",");
}

const BLUE_GREEN = ["iteration 1/5", "iteration 2/5", "iteration 3/5", "iteration 4/5", "iteration 5/5"];

describe.skipIf(!prometheusUrl)("Flagger's e2e Canaries through a release (apiVersion changed)", () => {
  describe.concurrent("as Flagger's e2e scripts run them", () => {
    it("test/kubernetes/test-deployment.sh: blue/green, 5 iterations, the webhooks asked", async () => {
      const n = ns.deployment;
      await setUp({
        namespace: n,
        workloads: [
          "test-workloads-secret.yaml",
          "test-workloads-deployment.yaml",
          "test-kubernetes-test-deployment-l11-service-podinfo-svc.yaml",
        ],
        canary: "test-kubernetes-test-deployment-l26-canary-podinfo.yaml",
        target: "podinfo",
        router: "kubernetes",
      });
      expect(await serviceSelector(n, "podinfo-svc")).toEqual({ app: "podinfo-primary" });

      await setImage("Deployment", n, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1");
      const done = await waitForPhase(client, n, "podinfo", "Succeeded", 180_000);

      expect(await imageOf("Deployment", n, "podinfo-primary")).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
      expect(await advances(n, "podinfo")).toEqual(BLUE_GREEN);
      expect(done.status?.checks?.map((c) => [c.name, c.result])).toEqual([
        ["request-success-rate", "pass"],
        ["request-duration", "pass"],
      ]);
      expect(hooksCalled(n, "/gate/approve")).toEqual(["confirm-rollout"]);
      expect(hooksCalled(n, "/")).toEqual(["pre-rollout", "rollout"]);
    }, 240_000);

    it("test/kubernetes/test-hpa.sh: podinfo-primary HPA made at initialization, the edited target reaches it at promotion", async () => {
      const n = ns.hpa;
      await setUp({
        namespace: n,
        workloads: [
          "test-kubernetes-test-hpa-l10-horizontalpodautoscaler-podinfo.yaml",
          "test-workloads-secret.yaml",
          "test-workloads-deployment.yaml",
          "test-kubernetes-test-deployment-l11-service-podinfo-svc.yaml",
        ],
        canary: "test-kubernetes-test-hpa-l47-canary-podinfo.yaml",
        target: "podinfo",
        router: "kubernetes",
      });
      const hpaRef = (name: string) => ({
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        namespace: n,
        name,
      });
      const primaryHpa = await waitFor(() => client.get<Hpa>(hpaRef("podinfo-primary")), {
        description: `HPA ${n}/podinfo-primary`,
        timeoutMs: 20_000,
      });
      expect(primaryHpa?.spec?.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "podinfo-primary" });
      expect(primaryHpa?.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });

      // As the script: the target's HPA edited (averageUtilization 99 -> 50), then the release.
      // A merge patch replaces the whole list: the script's JSON patch of metrics[0], written out.
      const target = await client.get<Hpa>(hpaRef("podinfo"));
      const metrics = target?.spec?.metrics ?? [];
      expect(metrics[0]?.resource?.target).toEqual({ type: "Utilization", averageUtilization: 99 });
      await client.mergePatch(hpaRef("podinfo"), {
        spec: {
          metrics: metrics.map((m, i) =>
            i === 0 && m.resource
              ? {
                  ...m,
                  resource: { ...m.resource, target: { ...m.resource.target, averageUtilization: 50 } },
                }
              : m,
          ),
        },
      });
      await setImage("Deployment", n, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1");
      await waitForPhase(client, n, "podinfo", "Succeeded", 180_000);

      expect(await imageOf("Deployment", n, "podinfo-primary")).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
      expect(await advances(n, "podinfo")).toEqual(BLUE_GREEN);
      // The script reads the target's HPA here (always 50: it set it); what it means to check is the primary's.
      const promoted = await client.get<Hpa>(hpaRef("podinfo-primary"));
      expect(promoted?.spec?.metrics?.[0]?.resource?.target?.averageUtilization).toBe(50);
      expect(promoted?.spec?.scaleTargetRef?.name).toBe("podinfo-primary");
    }, 240_000);

    it("test/kubernetes/test-daemonset.sh: a DaemonSet promoted blue/green, then handed back on deletion", async () => {
      const n = ns.daemonset;
      await setUp({
        namespace: n,
        workloads: ["test-workloads-daemonset.yaml"],
        canary: "test-kubernetes-test-daemonset-l11-canary-podinfo-ds.yaml",
        target: "podinfo-ds",
        router: "kubernetes",
        // Slower than the primary (p99 80 ms), still within the Canary's 500 ms: the p99 the check saw
        // shows it read the canary DaemonSet's pods, not the primary's.
        profiles: {
          "ghcr.io/stefanprodan/podinfo:6.0.1": { successRate: 1, latencyMs: { p50: 100, p99: 200 } },
        },
      });
      await setImage("DaemonSet", n, "podinfo-ds", "ghcr.io/stefanprodan/podinfo:6.0.1");
      const done = await waitForPhase(client, n, "podinfo-ds", "Succeeded", 180_000);
      const duration = done.status?.checks?.find((c) => c.name === "request-duration");
      expect(duration).toMatchObject({ result: "pass" });
      expect(duration?.value).toBeGreaterThan(100);

      expect(await imageOf("DaemonSet", n, "podinfo-ds-primary")).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
      expect(await advances(n, "podinfo-ds")).toEqual(BLUE_GREEN);
      expect(hooksCalled(n, "/")).toEqual(["pre-rollout", "rollout"]);
      const canaryDs = await client.get<DaemonSet>(workloadRef("DaemonSet", n, "podinfo-ds"));
      expect(canaryDs?.spec?.template?.spec?.nodeSelector).toEqual({ "flagger.app/scale-to-zero": "true" });

      // As the script goes on: its revertOnDeletion Canary applied over this one, then deleted: the
      // DaemonSet is back on the nodes (the script waits for its ready pods).
      await client.apply(
        onThisCluster(
          flagger("manifests", "test-kubernetes-test-daemonset-l103-canary-podinfo-ds.yaml", n),
          loadtester,
        ),
      );
      // The script waits for Flagger's finalizer before it deletes the Canary: kanaria's, here.
      await waitFor(
        async () =>
          (
            await client.get<Canary & KubeObject>({
              apiVersion: API_VERSION,
              kind: "Canary",
              namespace: n,
              name: "podinfo-ds",
            })
          )?.metadata.finalizers,
        {
          description: `the finalizer on Canary ${n}/podinfo-ds`,
          until: (f) => f?.includes(FINALIZER) === true,
          timeoutMs: 30_000,
        },
      );
      await client.delete({ apiVersion: API_VERSION, kind: "Canary", namespace: n, name: "podinfo-ds" });
      const back = await waitFor(() => client.get<DaemonSet>(workloadRef("DaemonSet", n, "podinfo-ds")), {
        description: `DaemonSet ${n}/podinfo-ds ready on every node again`,
        until: (d) =>
          (d?.status?.desiredNumberScheduled ?? 0) > 0 &&
          d?.status?.numberReady === d?.status?.desiredNumberScheduled &&
          d?.spec?.template?.spec?.nodeSelector === undefined,
        timeoutMs: 60_000,
      });
      expect(back?.spec?.template?.spec?.containers?.[0]?.image).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
    }, 240_000);

    it("test/gatewayapi/test-canary.sh: 10..50 % on the HTTPRoute, judged by Flagger's Istio templates", async () => {
      const n = ns.gatewayapi;
      await setUp({
        namespace: n,
        workloads: ["test-workloads-secret.yaml", "test-workloads-deployment.yaml"],
        canary: "test-gatewayapi-test-canary-l17-canary-podinfo.yaml",
        target: "podinfo",
        router: "gatewayapi",
      });
      // The script's check_primary: the apex Service selects the primary.
      expect((await serviceSelector(n, "podinfo"))?.app).toBe("podinfo-primary");
      const weights = recordChanges(() => routeWeights(n));

      await setImage("Deployment", n, "podinfo", "stefanprodan/podinfo:6.0.1");
      const done = await waitForPhase(client, n, "podinfo", "Succeeded", 180_000);

      expect(await imageOf("Deployment", n, "podinfo-primary")).toBe("stefanprodan/podinfo:6.0.1");
      expect(await advances(n, "podinfo")).toEqual([
        "weight 10",
        "weight 20",
        "weight 30",
        "weight 40",
        "weight 50",
      ]);
      const seen = await weights.stop();
      for (const w of [10, 20, 30, 40, 50])
        expect(seen).toContain(`podinfo-primary=${100 - w},podinfo-canary=${w}`);
      expect(seen.at(-1)).toBe("podinfo-primary=100,podinfo-canary=0");
      expect(done.status?.checks?.map((c) => [c.name, c.result])).toEqual([
        ["error-rate", "pass"],
        ["latency", "pass"],
      ]);
    }, 240_000);

    it("test/gatewayapi/test-canary.sh: its second Canary rolls back a version answering 500", async () => {
      const n = ns.gatewayapiRollback;
      await setUp({
        namespace: n,
        workloads: ["test-workloads-secret.yaml", "test-workloads-deployment.yaml"],
        canary: "test-gatewayapi-test-canary-l109-canary-podinfo.yaml",
        target: "podinfo",
        router: "gatewayapi",
        // The script's load test asks /status/500 of the new version.
        profiles: { "stefanprodan/podinfo:6.0.2": { ...HEALTHY, successRate: 0 } },
      });
      await setImage("Deployment", n, "podinfo", "stefanprodan/podinfo:6.0.2");
      const failed = await waitForPhase(client, n, "podinfo", "Failed", 180_000);

      expect(await imageOf("Deployment", n, "podinfo-primary")).toBe("ghcr.io/stefanprodan/podinfo:6.0.0");
      // Flagger's error-rate template divides the non-5xx requests by all of them: for a version that
      // answers only 500 the query is empty. Flagger counts "no values found" as a failed check and rolls
      // back at the 6th; kanaria holds an empty result as inconclusive and rolls back once that lasted
      // progressDeadlineSeconds (README, differences: onNoData, inconclusiveTimeout). Failed either way.
      expect(failed.status?.checks?.find((c) => c.name === "error-rate")).toMatchObject({ result: "nodata" });
      const rolledBack = (await canaryEvents(client, n, "podinfo")).filter((e) => e.reason === "RolledBack");
      expect(rolledBack.map((e) => e.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Canary failed! Rolling back podinfo\\.${n}: metric checks inconclusive for (\\d+)s \\(progressDeadlineSeconds 30, ` +
              "the default inconclusiveTimeout\\), not failed: error-rate: no data from MetricTemplate flagger-system/error-rate ",
          ),
        ),
      ]);
      // Held for the budget, never less, and rolled back on the first tick past it (interval 10s): the
      // seconds in the message are the time the step was actually held, which a busy machine stretches.
      const heldS = Number(/inconclusive for (\d+)s/.exec(rolledBack[0]?.message ?? "")?.[1]);
      expect(heldS).toBeGreaterThanOrEqual(30);
      expect(heldS).toBeLessThan(30 + 10);
      await waitFor(() => routeWeights(n), {
        description: "the HTTPRoute back on the primary",
        until: (w) => w === "podinfo-primary=100,podinfo-canary=0",
        timeoutMs: 20_000,
      });
    }, 240_000);

    it("test/nginx/test-canary.sh: 20..40 % on the canary Ingress", async () => {
      const n = ns.nginx;
      await setUp({
        namespace: n,
        workloads: [
          "test-workloads-secret.yaml",
          "test-workloads-deployment.yaml",
          "test-nginx-test-canary-l11-ingress-podinfo.yaml",
        ],
        canary: "test-nginx-test-canary-l60-canary-podinfo.yaml",
        target: "podinfo",
        router: "nginx",
      });
      const weights = recordChanges(() => canaryIngressWeight(client, n, "podinfo"));
      await setImage("Deployment", n, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.1");
      const done = await waitForPhase(client, n, "podinfo", "Succeeded", 180_000);

      expect(await imageOf("Deployment", n, "podinfo-primary")).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
      expect(await advances(n, "podinfo")).toEqual(["weight 20", "weight 40"]);
      const seen = await weights.stop();
      expect(seen).toEqual(expect.arrayContaining(["20", "40"]));
      expect(seen.at(-1)).toBe("0");
      expect(done.status?.checks?.map((c) => [c.name, c.result])).toEqual([
        ["request-success-rate", "pass"],
        ["latency", "pass"],
      ]);
    }, 240_000);

    it("test/nginx/test-canary.sh: A/B on the x-user header, 3 iterations", async () => {
      const n = ns.nginxAb;
      await setUp({
        namespace: n,
        workloads: [
          "test-workloads-secret.yaml",
          "test-workloads-deployment.yaml",
          "test-nginx-test-canary-l11-ingress-podinfo.yaml",
        ],
        canary: "test-nginx-test-canary-l196-canary-podinfo.yaml",
        target: "podinfo",
        router: "nginx",
        headerShare: 0.3,
      });
      const ingressRef = {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        namespace: n,
        name: "podinfo-canary",
      };
      const matches = recordChanges(async () => {
        const a = (await client.get<KubeObject>(ingressRef))?.metadata.annotations ?? {};
        const p = "nginx.ingress.kubernetes.io/";
        return `${a[`${p}canary-by-header`] ?? "-"}=${a[`${p}canary-by-header-value`] ?? "-"} weight ${a[`${p}canary-weight`] ?? "-"}`;
      });
      await setImage("Deployment", n, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2");
      const done = await waitForPhase(client, n, "podinfo", "Succeeded", 180_000);

      expect(await imageOf("Deployment", n, "podinfo-primary")).toBe("ghcr.io/stefanprodan/podinfo:6.0.2");
      expect(await advances(n, "podinfo")).toEqual(["iteration 1/3", "iteration 2/3", "iteration 3/3"]);
      const seen = await matches.stop();
      expect(seen, "the header routes to the canary while it is judged").toContain("x-user=insider weight 0");
      expect(
        seen.every((s) => s.endsWith(" weight 0") || s.endsWith(" weight -")),
        "no weight moves in A/B",
      ).toBe(true);
      expect(done.status?.checks?.map((c) => [c.name, c.result])).toEqual([
        ["request-success-rate", "pass"],
        ["latency", "pass"],
      ]);
    }, 240_000);
  });
});
