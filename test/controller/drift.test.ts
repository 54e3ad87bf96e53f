// Drift on the real API server with the real controller process: each object a Canary owns is changed
// by hand, as an operator would (with kubectl's field managers), and must be put back, with one Drift
// Event naming the object, the field, both values and who changed it, and one warn alert.
import { type AddressInfo, createServer } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import type { CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { APPMESH_API_VERSION, type VirtualRouter } from "../../src/routers/appmesh/spec.ts";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import type { ConfigMap, Service } from "../../src/workloads/meta.ts";
import { type Received, useAlertReceiver } from "../support/alert-receiver.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  type EventRecord,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { kubeConfig, useNamespace, waitFor } from "../support/k8s.ts";
import { canary, configMap, deployment, IMAGE, ingress } from "../support/manifests.ts";

const ns = useNamespace("drift");
const client = testClient();
const receiver = useAlertReceiver();
let metricsPort = 0;
beforeAll(async () => {
  metricsPort = await freePort();
});
useController(ns, () => ["--metrics-bind-address", `127.0.0.1:${metricsPort}`]);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** kanaria_drift_corrections_total of one Canary and kind, from the controller's /metrics. */
async function corrections(name: string, kind: string): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const series = `kanaria_drift_corrections_total{name="${name}",namespace="${ns}",kind="${kind}"} `;
  const line = body.split("\n").find((l) => l.startsWith(series));
  return line ? Number(line.slice(series.length)) : 0;
}

const PROMOTED = `${IMAGE}:6.0.0`;
const HANDEDIT = `${IMAGE}:HANDEDIT`;
const GATEWAY = {
  group: "gateway.networking.k8s.io",
  kind: "Gateway",
  name: "public",
  namespace: "gateways",
};

/** Patches an object as kubectl does (an Update with kubectl's field manager for the command). */
async function patchAs(
  fieldManager: string,
  object: KubeObject,
  strategy: k8s.PatchStrategy = k8s.PatchStrategy.MergePatch,
): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(kubeConfig());
  await api.patch(object, undefined, undefined, fieldManager, undefined, strategy);
}

const ref = (
  apiVersion: string,
  kind: string,
  name: string,
  { metadata, ...rest }: Record<string, unknown> & { metadata?: Record<string, unknown> } = {},
) => ({ apiVersion, kind, metadata: { ...metadata, name, namespace: ns }, ...rest }) as KubeObject;

/** A quick blue/green Canary whose warn alerts go to its own generic webhook path. */
async function app(
  name: string,
  spec: Partial<CanarySpec> = {},
  options: { configMap?: string; annotations?: Record<string, string> } = {},
): Promise<void> {
  await client.apply(
    ref(API_VERSION, "AlertProvider", name, {
      spec: { type: "generic", address: receiver().genericWebhook(name) },
    }),
  );
  if (options.configMap) await client.apply(configMap(ns, options.configMap, { greeting: "hello" }));
  await client.apply(
    deployment(ns, name, "6.0.0", options.configMap ? { configMap: options.configMap } : {}),
  );
  const manifest = canary(ns, name, {
    provider: "kubernetes",
    analysis: {
      interval: "10s",
      iterations: 1,
      alerts: [{ name: "drift", severity: "warn", providerRef: { name } }],
    },
    ...spec,
  });
  if (options.annotations) manifest.metadata.annotations = options.annotations;
  await client.apply(manifest);
  await waitForPhase(client, ns, name, "Initialized");
  // Converged: the target is scaled down after the status write.
  await waitFor(() => getDeployment(client, ns, name), {
    description: `${name} scaled to zero`,
    until: (d) => d?.spec?.replicas === 0,
    timeoutMs: 30_000,
  });
}

const driftEvents = async (name: string): Promise<EventRecord[]> =>
  (await canaryEvents(client, ns, name)).filter((e) => e.reason === "Drift");

async function oneDriftEvent(name: string): Promise<EventRecord> {
  const events = await waitFor(() => driftEvents(name), {
    description: `a Drift Event on Canary ${name}`,
    until: (e) => e.length > 0,
    timeoutMs: 30_000,
  });
  expect(events).toHaveLength(1);
  expect(events[0]?.type).toBe("Warning");
  expect(events[0]?.count).toBe(1);
  return events[0] as EventRecord;
}

async function oneDriftAlert(name: string): Promise<Received> {
  const delivered = await waitFor(() => receiver().delivered(`/generic/${name}`), {
    description: `the drift alert of ${name}`,
    until: (m) => m.length > 0,
    timeoutMs: 30_000,
  });
  expect(delivered).toHaveLength(1);
  const body = delivered[0]?.body as { kind: string; severity: string; metadata: { eventMessage: string } };
  expect(body.kind).toBe("Drift");
  expect(body.severity).toBe("warn");
  return delivered[0] as Received;
}

/**
 * Several reconciles later (watch events, a resync) nothing more is reported, and the kind's correction
 * was counted once (correct mode) or not at all (warn mode).
 */
async function staysReportedOnce(name: string, counted?: { kind: string; times: 0 | 1 }): Promise<void> {
  await new Promise((r) => setTimeout(r, 12_000));
  expect(await driftEvents(name)).toHaveLength(1);
  expect(receiver().received(`/generic/${name}`)).toHaveLength(1);
  const status = (await getCanary(client, ns, name)).status;
  expect(status?.alerts?.filter((a) => a.kind === "Drift")).toHaveLength(1);
  if (counted) expect(await corrections(name, counted.kind)).toBe(counted.times);
}

const eventMessageOf = (m: Received) =>
  (m.body as { metadata: { eventMessage: string } }).metadata.eventMessage;

describe.concurrent("drift in what a Canary owns", () => {
  it("puts back an image set by hand on the primary, names kubectl-set, and leaves a release alone", async () => {
    await app("ledger");
    await patchAs(
      "kubectl-set",
      ref("apps/v1", "Deployment", "ledger-primary", {
        spec: { template: { spec: { containers: [{ name: "podinfod", image: HANDEDIT }] } } },
      }),
      k8s.PatchStrategy.StrategicMergePatch,
    );
    const restored = await waitFor(() => getDeployment(client, ns, "ledger-primary"), {
      description: "the primary back on the promoted image",
      until: (d) => imageOf(d) === PROMOTED,
      timeoutMs: 30_000,
    });
    expect(restored?.metadata.annotations?.["kanaria.dev/revision"]).toBeDefined();
    const event = await oneDriftEvent("ledger");
    expect(event.message).toBe(
      `Deployment ${ns}/ledger-primary was changed by kubectl-set; restored: ` +
        `spec.template.spec.containers[name=podinfod].image: found "${HANDEDIT}", restored "${PROMOTED}"`,
    );
    expect(eventMessageOf(await oneDriftAlert("ledger"))).toBe(event.message);
    await staysReportedOnce("ledger", { kind: "Deployment", times: 1 });
    expect((await getCanary(client, ns, "ledger")).status?.drift).toBeUndefined();

    // A new image on the target is a release, not drift.
    await client.apply(deployment(ns, "ledger", "6.0.1"));
    await waitForPhase(client, ns, "ledger", "Succeeded", 120_000);
    expect(imageOf(await getDeployment(client, ns, "ledger-primary"))).toBe(`${IMAGE}:6.0.1`);
    expect(await driftEvents("ledger")).toHaveLength(1);
  });

  it("mid-release, puts the primary back to the promoted template from its ReplicaSets", async () => {
    await app("midrel");
    // A canary whose pods never schedule keeps the release in progress until its deadline.
    await client.apply(deployment(ns, "midrel", "6.0.1", { unschedulable: true }));
    await waitForPhase(client, ns, "midrel", "Progressing");
    await patchAs(
      "kubectl-set",
      ref("apps/v1", "Deployment", "midrel-primary", {
        spec: { template: { spec: { containers: [{ name: "podinfod", image: HANDEDIT }] } } },
      }),
      k8s.PatchStrategy.StrategicMergePatch,
    );
    await waitFor(() => getDeployment(client, ns, "midrel-primary"), {
      description: "the primary back on the promoted image",
      until: (d) => imageOf(d) === PROMOTED,
      timeoutMs: 30_000,
    });
    const event = await oneDriftEvent("midrel");
    expect(event.message).toBe(
      `Deployment ${ns}/midrel-primary was changed by kubectl-set; restored: ` +
        `spec.template.spec.containers[name=podinfod].image: found "${HANDEDIT}", restored "${PROMOTED}"`,
    );
    await oneDriftAlert("midrel");
    expect((await getCanary(client, ns, "midrel")).status?.phase).toBe("Progressing");
  });

  it("warn mode reports an image set by hand once and leaves it", async () => {
    await app("hotfix", {}, { annotations: { "kanaria.dev/drift": "warn" } });
    await patchAs(
      "kubectl-set",
      ref("apps/v1", "Deployment", "hotfix-primary", {
        spec: { template: { spec: { containers: [{ name: "podinfod", image: HANDEDIT }] } } },
      }),
      k8s.PatchStrategy.StrategicMergePatch,
    );
    const event = await oneDriftEvent("hotfix");
    expect(event.message).toBe(
      `Deployment ${ns}/hotfix-primary was changed by kubectl-set; left as found (kanaria.dev/drift: warn): ` +
        `spec.template.spec.containers[name=podinfod].image: found "${HANDEDIT}", kanaria's value "${PROMOTED}"`,
    );
    await oneDriftAlert("hotfix");
    await staysReportedOnce("hotfix", { kind: "Deployment", times: 0 });
    expect(imageOf(await getDeployment(client, ns, "hotfix-primary"))).toBe(HANDEDIT);
    expect((await getCanary(client, ns, "hotfix")).status?.drift).toEqual([
      expect.stringMatching(/^Deployment\/hotfix-primary@[0-9a-f]{16}$/),
    ]);
  });

  it("puts back a config copy edited by hand", async () => {
    await app("cfg", {}, { configMap: "cfg-settings" });
    await patchAs(
      "kubectl-edit",
      ref("v1", "ConfigMap", "cfg-settings-primary", { data: { greeting: "hacked" } }),
    );
    await waitFor(
      () =>
        client.get<ConfigMap>({
          apiVersion: "v1",
          kind: "ConfigMap",
          namespace: ns,
          name: "cfg-settings-primary",
        }),
      { description: "the copy restored", until: (c) => c?.data?.greeting === "hello", timeoutMs: 30_000 },
    );
    const event = await oneDriftEvent("cfg");
    expect(event.message).toBe(
      `ConfigMap ${ns}/cfg-settings-primary was changed by kubectl-edit; restored: data.greeting: found "hacked", restored "hello"`,
    );
    await oneDriftAlert("cfg");
    await staysReportedOnce("cfg", { kind: "ConfigMap", times: 1 });
  });

  it("mid-release, puts a config copy edited by hand back from its promoted copy", async () => {
    await app("relconf", {}, { configMap: "relconf-settings" });
    const copy = () =>
      client.get<ConfigMap>({
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: ns,
        name: "relconf-settings-primary",
      });
    // The release changes the config; its canary never schedules, so it stays in progress.
    await client.apply(configMap(ns, "relconf-settings", { greeting: "bonjour" }));
    await client.apply(
      deployment(ns, "relconf", "6.0.1", { configMap: "relconf-settings", unschedulable: true }),
    );
    await waitForPhase(client, ns, "relconf", "Progressing");
    await patchAs(
      "kubectl-edit",
      ref("v1", "ConfigMap", "relconf-settings-primary", { data: { greeting: "hacked" } }),
    );
    await waitFor(copy, {
      description: "the copy back on the promoted config",
      until: (c) => c?.data?.greeting === "hello",
      timeoutMs: 30_000,
    });
    const event = await oneDriftEvent("relconf");
    expect(event.message).toBe(
      `ConfigMap ${ns}/relconf-settings-primary was changed by kubectl-edit; restored: data.greeting: found "hacked", restored "hello"`,
    );
    await oneDriftAlert("relconf");
    await staysReportedOnce("relconf", { kind: "ConfigMap", times: 1 });
    expect((await getCanary(client, ns, "relconf")).status?.phase).toBe("Progressing");
    expect((await copy())?.data?.greeting).toBe("hello");
  });

  it("puts back the primary's replicas set by kubectl scale", async () => {
    await app("scaled");
    const apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
    await apps.patchNamespacedDeploymentScale(
      {
        name: "scaled-primary",
        namespace: ns,
        body: { spec: { replicas: 5 } },
        fieldManager: "kubectl-scale",
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    const event = await oneDriftEvent("scaled");
    expect(event.message).toBe(
      `Deployment ${ns}/scaled-primary was changed by kubectl-scale; restored: spec.replicas: found 5, restored 2`,
    );
    await oneDriftAlert("scaled");
    await staysReportedOnce("scaled", { kind: "Deployment", times: 1 });
    expect((await getDeployment(client, ns, "scaled-primary"))?.spec?.replicas).toBe(2);
  });

  it("puts back a label kanaria sets on a Service and keeps a label someone else added", async () => {
    await app("labels");
    await patchAs(
      "kubectl-label",
      ref("v1", "Service", "labels-primary", {
        metadata: { labels: { app: "hijacked", "mesh.example/injected": "true" } },
      }),
    );
    const restored = await waitFor(
      () => client.get<Service>({ apiVersion: "v1", kind: "Service", namespace: ns, name: "labels-primary" }),
      {
        description: "the label restored",
        until: (s) => s?.metadata.labels?.app === "labels-primary",
        timeoutMs: 30_000,
      },
    );
    expect(restored?.metadata.labels?.["mesh.example/injected"]).toBe("true");
    const event = await oneDriftEvent("labels");
    expect(event.message).toBe(
      `Service ${ns}/labels-primary was changed by kubectl-label; restored: metadata.labels.app: found "hijacked", restored "labels-primary"`,
    );
    await oneDriftAlert("labels");
    await staysReportedOnce("labels", { kind: "Service", times: 1 });
  });

  it("puts back the primary Service's selector and recreates a deleted canary Service", async () => {
    await app("svc");
    const service = (name: string) =>
      client.get<Service>({ apiVersion: "v1", kind: "Service", namespace: ns, name });
    await patchAs(
      "kubectl-patch",
      ref("v1", "Service", "svc-primary", { spec: { selector: { app: "other" } } }),
    );
    await waitFor(() => service("svc-primary"), {
      description: "the selector restored",
      until: (s) => s?.spec?.selector?.app === "svc-primary",
      timeoutMs: 30_000,
    });
    const event = await oneDriftEvent("svc");
    expect(event.message).toBe(
      `Service ${ns}/svc-primary was changed by kubectl-patch; restored: spec.selector.app: found "other", restored "svc-primary"`,
    );
    await oneDriftAlert("svc");

    await client.delete({ apiVersion: "v1", kind: "Service", namespace: ns, name: "svc-canary" });
    await waitFor(() => service("svc-canary"), {
      description: "the canary Service recreated",
      until: (s) => s?.spec?.selector?.app === "svc",
      timeoutMs: 30_000,
    });
    const events = await waitFor(() => driftEvents("svc"), {
      description: "a second Drift Event",
      until: (e) => e.length === 2,
      timeoutMs: 30_000,
    });
    expect(events[1]?.message).toBe(`Service ${ns}/svc-canary was deleted; recreated`);
    await waitFor(() => receiver().delivered("/generic/svc"), {
      description: "a second alert",
      until: (m) => m.length === 2,
      timeoutMs: 30_000,
    });
  });

  it("puts back a weight set by hand on the nginx canary Ingress", async () => {
    await client.apply(ingress(ns, "web"));
    await app("web", {
      provider: "nginx",
      ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "web" },
    });
    await initializationConverged(client, ns, "web");
    const annotation = "nginx.ingress.kubernetes.io/canary-weight";
    await patchAs(
      "kubectl-annotate",
      ref("networking.k8s.io/v1", "Ingress", "web-canary", {
        metadata: { annotations: { [annotation]: "30" } },
      }),
    );
    await waitFor(() => canaryIngressWeight(client, ns, "web"), {
      description: "the weight restored",
      until: (w) => w === "0",
      timeoutMs: 30_000,
    });
    const event = await oneDriftEvent("web");
    expect(event.message).toBe(
      `Ingress ${ns}/web-canary was changed by kubectl-annotate; restored: metadata.annotations["${annotation}"]: ` +
        `found "primary 70% / canary 30%", restored "primary 100% / canary 0%"`,
    );
    await oneDriftAlert("web");
    await staysReportedOnce("web", { kind: "Ingress", times: 1 });
  });

  it("puts back HTTPRoute weights edited by hand", async () => {
    await app("route", {
      provider: "gatewayapi",
      service: { port: 80, targetPort: 9898, gatewayRefs: [GATEWAY], hosts: ["route.example.test"] },
    });
    const get = () =>
      client.get<HTTPRoute>({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        namespace: ns,
        name: "route",
      });
    const route = await waitFor(get, { description: "the HTTPRoute", until: (r) => r !== undefined });
    const rules = (route?.spec?.rules ?? []).map((r) => ({
      ...r,
      backendRefs: r.backendRefs?.map((b) => ({ ...b, weight: b.name === "route-canary" ? 50 : 50 })),
    }));
    await patchAs(
      "kubectl-edit",
      ref("gateway.networking.k8s.io/v1", "HTTPRoute", "route", { spec: { rules } }),
    );
    const weights = (r: HTTPRoute | undefined) =>
      r?.spec?.rules?.[0]?.backendRefs?.map((b) => [b.name, b.weight]);
    await waitFor(get, {
      description: "the weights restored",
      until: (r) =>
        JSON.stringify(weights(r)) ===
        JSON.stringify([
          ["route-primary", 100],
          ["route-canary", 0],
        ]),
      timeoutMs: 30_000,
    });
    const event = await oneDriftEvent("route");
    expect(event.message).toBe(
      `HTTPRoute ${ns}/route was changed by kubectl-edit; restored: spec.rules: ` +
        `found "primary 50% / canary 50%", restored "primary 100% / canary 0%"`,
    );
    await oneDriftAlert("route");
    await staysReportedOnce("route", { kind: "HTTPRoute", times: 1 });
  });

  it("puts back App Mesh VirtualRouter weights edited by hand", async () => {
    await app("mesh", { provider: "appmesh", service: { port: 80, targetPort: 9898, meshName: "global" } });
    const get = () =>
      client.get<VirtualRouter>({
        apiVersion: APPMESH_API_VERSION,
        kind: "VirtualRouter",
        namespace: ns,
        name: "mesh",
      });
    const weights = (r: VirtualRouter | undefined) =>
      JSON.stringify(
        r?.spec.routes[0]?.httpRoute?.action.weightedTargets.map((t) => [t.virtualNodeRef.name, t.weight]),
      );
    const router = await waitFor(get, {
      description: "the VirtualRouter mesh",
      until: (r) =>
        weights(r) ===
        JSON.stringify([
          ["mesh-canary", 0],
          ["mesh-primary", 100],
        ]),
    });
    const routes = (router?.spec.routes ?? []).map((r) => ({
      ...r,
      httpRoute: r.httpRoute && {
        ...r.httpRoute,
        action: { weightedTargets: r.httpRoute.action.weightedTargets.map((t) => ({ ...t, weight: 50 })) },
      },
    }));
    await patchAs("kubectl-edit", ref(APPMESH_API_VERSION, "VirtualRouter", "mesh", { spec: { routes } }));
    await waitFor(get, {
      description: "the weights restored",
      until: (r) =>
        weights(r) ===
        JSON.stringify([
          ["mesh-canary", 0],
          ["mesh-primary", 100],
        ]),
      timeoutMs: 30_000,
    });
    const event = await oneDriftEvent("mesh");
    expect(event.message).toBe(
      `VirtualRouter ${ns}/mesh was changed by kubectl-edit; restored: spec.routes: ` +
        `found "primary 50% / canary 50%", restored "primary 100% / canary 0%"`,
    );
    await oneDriftAlert("mesh");
    await staysReportedOnce("mesh", { kind: "VirtualRouter", times: 1 });
  });

  it("warn mode reports App Mesh weights edited by hand once and leaves them", async () => {
    await app(
      "quietmesh",
      { provider: "appmesh", service: { port: 80, targetPort: 9898, meshName: "global" } },
      { annotations: { "kanaria.dev/drift": "warn" } },
    );
    const get = () =>
      client.get<VirtualRouter>({
        apiVersion: APPMESH_API_VERSION,
        kind: "VirtualRouter",
        namespace: ns,
        name: "quietmesh",
      });
    const canaryWeight = (r: VirtualRouter | undefined) =>
      r?.spec.routes[0]?.httpRoute?.action.weightedTargets.find(
        (t) => t.virtualNodeRef.name === "quietmesh-canary",
      )?.weight;
    const router = await waitFor(get, {
      description: "the VirtualRouter quietmesh",
      until: (r) => canaryWeight(r) === 0,
    });
    const routes = (router?.spec.routes ?? []).map((r) => ({
      ...r,
      httpRoute: r.httpRoute && {
        ...r.httpRoute,
        action: {
          weightedTargets: r.httpRoute.action.weightedTargets.map((t) => ({
            ...t,
            weight: t.virtualNodeRef.name === "quietmesh-canary" ? 20 : 80,
          })),
        },
      },
    }));
    await patchAs(
      "kubectl-edit",
      ref(APPMESH_API_VERSION, "VirtualRouter", "quietmesh", { spec: { routes } }),
    );
    const event = await oneDriftEvent("quietmesh");
    expect(event.message).toBe(
      `VirtualRouter ${ns}/quietmesh was changed by kubectl-edit; left as found (kanaria.dev/drift: warn): spec.routes: ` +
        `found "primary 80% / canary 20%", kanaria's value "primary 100% / canary 0%"`,
    );
    await oneDriftAlert("quietmesh");
    await staysReportedOnce("quietmesh", { kind: "VirtualRouter", times: 0 });
    expect(canaryWeight(await get())).toBe(20);
  });
});
