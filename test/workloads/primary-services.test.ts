// The primary and the Services against the real API server: the primary Deployment becomes Ready on the
// fake (KWOK) nodes, its ConfigMap is copied as -primary, and the Services select the right pods.
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient } from "../../src/kube/types.ts";
import type { ConfigMap, Deployment, Service } from "../../src/workloads/meta.ts";
import {
  ensurePrimary,
  isReady,
  observeWorkload,
  REVISION_ANNOTATION,
  scaleTarget,
} from "../../src/workloads/primary.ts";
import { resolveRevision } from "../../src/workloads/revision.ts";
import { ensureServices } from "../../src/workloads/services.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { canary as canaryManifest, configMap, deployment } from "../support/manifests.ts";

const ns = useNamespace("workloads-primary");
const logger = pino({ level: process.env.KANARIA_TEST_LOG ?? "silent" });
const name = "podinfo";

const ref = (apiVersion: string, kind: string, objectName: string) => ({
  apiVersion,
  kind,
  namespace: ns,
  name: objectName,
});
const deploymentRef = (n: string) => ref("apps/v1", "Deployment", n);

describe("primary and services on a real cluster", () => {
  let client: KubeClient;
  let canary: Canary;

  beforeAll(async () => {
    client = createKubeClient(kubeConnection(), logger);
    await client.apply(configMap(ns, "podinfo-config", { color: "blue" }));
    await client.apply(deployment(ns, name, "6.0.0", { replicas: 2, configMap: "podinfo-config" }));
    // A real Canary: the garbage collector deletes objects whose owner uid does not exist.
    canary = (await client.apply(
      canaryManifest(ns, name, { provider: "kubernetes", analysis: { interval: "10s", iterations: 2 } }),
    )) as unknown as Canary;
  });

  const target = async () => {
    const d = await client.get<Deployment>(deploymentRef(name));
    if (!d) throw new Error(`Deployment ${ns}/${name} is missing`);
    return d;
  };

  const primaryRolledOut = (revision: string) =>
    waitFor(() => client.get<Deployment>(deploymentRef("podinfo-primary")), {
      description: `Deployment ${ns}/podinfo-primary to run revision ${revision} with every pod ready`,
      timeoutMs: 90_000,
      until: (d) => {
        const state = observeWorkload(d);
        return state.revision === revision && state.rolloutComplete && isReady(state, 100);
      },
    });

  it("creates the primary with a -primary copy of the ConfigMap, and it becomes ready", async () => {
    const revision = await resolveRevision(client, await target());
    expect(Object.keys(revision.trackedConfigs)).toEqual(["configmap/podinfo-config"]);
    await ensurePrimary(client, canary, await target(), revision);

    const primary = await primaryRolledOut(revision.hash);
    expect(primary?.spec?.selector?.matchLabels).toEqual({ app: "podinfo-primary" });
    expect(primary?.spec?.replicas).toBe(2);
    expect(primary?.spec?.template.spec?.volumes?.[0]?.configMap?.name).toBe("podinfo-config-primary");
    expect(primary?.metadata.ownerReferences?.[0]).toMatchObject({
      kind: "Canary",
      name,
      uid: canary.metadata.uid,
    });

    const copy = await client.get<ConfigMap>(ref("v1", "ConfigMap", "podinfo-config-primary"));
    expect(copy?.data).toEqual({ color: "blue" });
    expect(copy?.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Canary", controller: true });
  });

  it("re-applying the same revision changes nothing", async () => {
    const before = await client.get<Deployment>(deploymentRef("podinfo-primary"));
    await ensurePrimary(client, canary, await target(), await resolveRevision(client, await target()));
    const after = await client.get<Deployment>(deploymentRef("podinfo-primary"));
    expect(after?.metadata.generation).toBe(before?.metadata.generation);
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  });

  it("creates Services that select the primary's and the target's pods", async () => {
    await ensureServices(client, canary, await target());
    const get = (n: string) => client.get<Service>(ref("v1", "Service", n));
    const [apex, primary, canarySvc] = await Promise.all([
      get(name),
      get("podinfo-primary"),
      get("podinfo-canary"),
    ]);
    expect(apex?.spec?.selector).toEqual({ app: "podinfo-primary" });
    expect(primary?.spec?.selector).toEqual({ app: "podinfo-primary" });
    expect(canarySvc?.spec?.selector).toEqual({ app: name });
    expect(apex?.spec?.ports).toEqual([{ name: "http", protocol: "TCP", port: 80, targetPort: 9898 }]);
    expect(apex?.spec?.clusterIP).toBeTruthy();
    expect(canarySvc?.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Canary", name });
  });

  it("rolls the primary when only the ConfigMap changes (new revision, same names)", async () => {
    const old = await resolveRevision(client, await target());
    await client.mergePatch(ref("v1", "ConfigMap", "podinfo-config"), { data: { color: "green" } });
    const revision = await resolveRevision(client, await target());
    expect(revision.hash).not.toBe(old.hash);

    await ensurePrimary(client, canary, await target(), revision);
    const primary = await primaryRolledOut(revision.hash);
    expect(primary?.spec?.template.metadata?.annotations?.[REVISION_ANNOTATION]).toBe(revision.hash);
    const copy = await client.get<ConfigMap>(ref("v1", "ConfigMap", "podinfo-config-primary"));
    expect(copy?.data).toEqual({ color: "green" });
  });

  it("scales the target to zero while the primary keeps its replicas", async () => {
    await scaleTarget(client, await target(), 0);
    const scaled = await waitFor(() => target(), {
      description: `Deployment ${ns}/${name} to have no pods`,
      until: (d) => observeWorkload(d).rolloutComplete && (d.status?.replicas ?? 0) === 0,
    });
    expect(observeWorkload(scaled).readyPercent).toBe(0);

    const revision = await resolveRevision(client, scaled);
    const primary = await ensurePrimary(client, canary, scaled, revision);
    expect(primary?.spec?.replicas).toBe(2);
  });
});
