// The reconciler tick by tick over the in-memory client: what it writes, in which order, and what a
// crash between two writes leaves for the next tick. The real API server runs the same scenarios in
// test/controller/*.test.ts; this one pins the order of writes and the clock exactly.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import {
  canaryFixture,
  configMapFixture,
  deploymentFixture,
  NS,
  secretFixture,
} from "../../test/helpers/fixtures.ts";
import type { Canary, CanaryStatus } from "../api/canary.ts";
import type { KubeObject, ObjectRef } from "../kube/types.ts";
import { createRouter } from "../routers/factory.ts";
import type { Deployment } from "../workloads/meta.ts";
import { type ReconcilerDeps, reconcileCanary } from "./reconciler.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");

const canaryRef: ObjectRef = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "Canary",
  namespace: NS,
  name: "podinfo",
};
const ingressRef = (name: string): ObjectRef => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  namespace: NS,
  name,
});
const deploymentRef = (name: string): ObjectRef => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  namespace: NS,
  name,
});

function ingress(): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: "podinfo", namespace: NS },
    spec: {
      rules: [
        {
          host: "app.example.test",
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "podinfo", port: { number: 9898 } } },
              },
            ],
          },
        },
      ],
    },
  } as KubeObject;
}

class Harness {
  readonly client: FakeKubeClient;
  nowMs = T0;
  readonly deps: ReconcilerDeps;

  constructor() {
    const canary: Canary = canaryFixture({
      provider: "nginx",
      ingressRef: { name: "podinfo" },
      analysis: { interval: "10s", threshold: 1, stepWeight: 20, maxWeight: 40 },
    });
    this.client = new FakeKubeClient([
      canary as KubeObject,
      deploymentFixture(),
      configMapFixture(),
      secretFixture(),
      ingress(),
    ]);
    const client = this.client;
    this.deps = {
      client,
      logger: pino({ level: "silent" }),
      now: () => new Date(this.nowMs),
      defaultProvider: "kubernetes",
      router: (provider) => createRouter(provider, { client }),
      runChecks: async () => [],
      offlineProviders: async () => [],
      listCanaries: async () => [(await client.get(canaryRef)) as Canary & KubeObject],
    };
  }

  /** Plays the Deployment controller: every replica of every Deployment updated and available. */
  async rollOut(): Promise<void> {
    for (const name of ["podinfo", "podinfo-primary"]) {
      const d = await this.client.get<Deployment>(deploymentRef(name));
      if (!d) continue;
      const replicas = d.spec?.replicas ?? 1;
      this.client.seed({
        ...d,
        status: {
          observedGeneration: d.metadata.generation,
          replicas,
          updatedReplicas: replicas,
          availableReplicas: replicas,
          readyReplicas: replicas,
        },
      });
    }
  }

  async tick(seconds = 0): Promise<void> {
    this.nowMs += seconds * 1000;
    await reconcileCanary(this.deps, NS, "podinfo");
    await this.rollOut();
  }

  async status(): Promise<CanaryStatus> {
    return ((await this.client.get<Canary & KubeObject>(canaryRef))?.status ?? {}) as CanaryStatus;
  }

  async ingressWeight(): Promise<string | undefined> {
    const canaryIngress = await this.client.get(ingressRef("podinfo-canary"));
    return canaryIngress?.metadata.annotations?.["nginx.ingress.kubernetes.io/canary-weight"];
  }

  async release(image: string): Promise<void> {
    const target = await this.client.get<Deployment>(deploymentRef("podinfo"));
    const container = target?.spec?.template?.spec?.containers?.[0];
    if (!target || !container) throw new Error("fixture has no container");
    container.image = image;
    this.client.seed(target);
  }
}

async function initialized(): Promise<Harness> {
  const h = new Harness();
  for (let i = 0; i < 4 && (await h.status()).phase !== "Initialized"; i++) await h.tick();
  await h.tick();
  expect((await h.status()).phase).toBe("Initialized");
  expect(await h.ingressWeight()).toBe("0");
  return h;
}

describe("reconcileCanary, tick by tick", () => {
  it("releases through every weight, each judged an interval after its route", async () => {
    const h = await initialized();
    await h.release("ghcr.io/stefanprodan/podinfo:6.0.1");
    const seen: (string | undefined)[] = [];
    for (let i = 0; i < 30 && (await h.status()).phase !== "Succeeded"; i++) {
      await h.tick(i === 0 ? 0 : 5);
      const w = await h.ingressWeight();
      if (seen.at(-1) !== w) seen.push(w);
    }
    expect((await h.status()).phase).toBe("Succeeded");
    expect(seen).toEqual(["0", "20", "40", "0"]);
  });

  it("after a crash between the status write and the route change, waits for the route before judging", async () => {
    const h = await initialized();
    await h.release("ghcr.io/stefanprodan/podinfo:6.0.1");
    for (let i = 0; i < 6 && (await h.status()).canaryWeight !== 20; i++) await h.tick(1);
    expect(await h.ingressWeight()).toBe("20");
    await h.tick(10); // the 20% step is judged: status says 40

    // This tick writes weight 40 to the status, then the process dies before the Ingress changes.
    const crashAfterStatus = h.client.replaceStatus.bind(h.client);
    h.client.replaceStatus = async (obj) => {
      await crashAfterStatus(obj);
      throw new Error("killed");
    };
    await h.tick(10).catch(() => undefined);
    h.client.replaceStatus = crashAfterStatus;
    expect((await h.status()).canaryWeight).toBe(40);
    expect(await h.ingressWeight()).toBe("20");

    // The new process comes back long after the step was due: it routes 40 and starts the interval then.
    await h.tick(30);
    expect(await h.ingressWeight()).toBe("40");
    const routed = await h.tick(1).then(() => h.status());
    expect(routed.stepRoutedTime).toBe(new Date(h.nowMs).toISOString());
    await h.tick(9);
    expect((await h.status()).phase, "not judged before an interval of traffic at 40").toBe("Progressing");
    await h.tick(1);
    expect((await h.status()).phase).toBe("Promoting");
  });
});

describe("drift, tick by tick", () => {
  const PROMOTED = "ghcr.io/stefanprodan/podinfo:6.0.0";
  const HANDEDIT = "ghcr.io/stefanprodan/podinfo:HANDEDIT";
  const primaryImage = async (h: Harness) =>
    (await h.client.get<Deployment>(deploymentRef("podinfo-primary")))?.spec?.template?.spec?.containers?.[0]
      ?.image;
  const driftEvents = (h: Harness) => h.client.events.filter((e) => e.reason === "Drift");

  /** `kubectl set image` on the primary: the image field moves to the kubectl-set field manager. */
  async function setPrimaryImage(h: Harness, image: string): Promise<void> {
    const primary = await h.client.get<Deployment>(deploymentRef("podinfo-primary"));
    const container = primary?.spec?.template?.spec?.containers?.[0];
    if (!primary || !container) throw new Error("no primary");
    container.image = image;
    const owned = {
      "f:spec": {
        "f:template": { "f:spec": { "f:containers": { 'k:{"name":"podinfod"}': { "f:image": {} } } } },
      },
    };
    primary.metadata.managedFields = [{ manager: "kubectl-set", operation: "Update", fieldsV1: owned }];
    h.client.seed(primary);
  }

  /** The canary Ingress's weight set by someone (a field manager owning the annotation). */
  async function setWeight(h: Harness, weight: string, manager: string): Promise<void> {
    const ingress = await h.client.get(ingressRef("podinfo-canary"));
    if (!ingress?.metadata.annotations) throw new Error("no canary Ingress");
    const key = "nginx.ingress.kubernetes.io/canary-weight";
    ingress.metadata.annotations[key] = weight;
    const owned = { "f:metadata": { "f:annotations": { [`f:${key}`]: {} } } };
    ingress.metadata.managedFields = [{ manager, operation: "Update", fieldsV1: owned }];
    h.client.seed(ingress);
  }

  it("puts back an image set by hand on the primary, reports it once, then writes nothing more", async () => {
    const h = await initialized();
    await setPrimaryImage(h, HANDEDIT);
    await h.tick();
    expect(await primaryImage(h)).toBe(PROMOTED);
    expect(driftEvents(h).map((e) => [e.type, e.message])).toEqual([
      [
        "Warning",
        `Deployment ${NS}/podinfo-primary was changed by kubectl-set; restored: ` +
          `spec.template.spec.containers[name=podinfod].image: found "${HANDEDIT}", restored "${PROMOTED}"`,
      ],
    ]);
    expect((await h.status()).drift).toEqual([
      expect.stringMatching(/^Deployment\/podinfo-primary@[0-9a-f]{16}$/),
    ]);
    await h.tick();
    expect((await h.status()).drift, "seen gone").toBeUndefined();
    const before = h.client.writes.length;
    await h.tick();
    expect(h.client.writes.slice(before).filter((w) => w.op !== "apply")).toEqual([]);
    expect(driftEvents(h)).toHaveLength(1);
  });

  it("after a crash between the status write and the correction, corrects without reporting again", async () => {
    const h = await initialized();
    await setPrimaryImage(h, HANDEDIT);
    const write = h.client.replaceStatus.bind(h.client);
    h.client.replaceStatus = async (obj) => {
      await write(obj);
      throw new Error("killed");
    };
    await h.tick().catch(() => undefined);
    h.client.replaceStatus = write;
    expect(await primaryImage(h)).toBe(HANDEDIT);
    await h.tick();
    expect(await primaryImage(h)).toBe(PROMOTED);
    expect(driftEvents(h)).toHaveLength(1);
  });

  it("does not fight a change that comes back under kanaria's own name (a mutating webhook)", async () => {
    const h = await initialized();
    await setPrimaryImage(h, HANDEDIT);
    const patch = h.client.mergePatch.bind(h.client);
    // The webhook mutates kanaria's correction back, and the field stays kanaria's.
    h.client.mergePatch = async <T extends KubeObject>(ref: ObjectRef, body: Record<string, unknown>) => {
      const written = await patch<T>(ref, body);
      if (ref.name !== "podinfo-primary") return written;
      await setPrimaryImage(h, HANDEDIT);
      const mutated = await h.client.get<Deployment>(deploymentRef("podinfo-primary"));
      if (mutated)
        h.client.seed({
          ...mutated,
          metadata: {
            ...mutated.metadata,
            managedFields: [
              {
                manager: "kanaria",
                operation: "Update",
                fieldsV1: mutated.metadata.managedFields?.[0]?.fieldsV1,
              },
            ],
          },
        });
      return written;
    };
    for (let i = 0; i < 3; i++) await h.tick(10);
    const corrections = h.client.writes.filter(
      (w) => w.op === "mergePatch" && w.ref.name === "podinfo-primary",
    );
    expect(corrections).toHaveLength(1);
    expect(driftEvents(h)).toHaveLength(1);
    expect((await h.status()).drift).toHaveLength(1);
  });

  /** What the Deployment controller keeps: the primary's current template in a ReplicaSet it owns. */
  async function primaryReplicaSet(h: Harness): Promise<void> {
    const primary = await h.client.get<Deployment>(deploymentRef("podinfo-primary"));
    const template = primary?.spec?.template;
    if (!primary || !template) throw new Error("no primary");
    const labels = { ...template.metadata?.labels, "pod-template-hash": "5d8f7c" };
    h.client.seed({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: "podinfo-primary-5d8f7c",
        namespace: NS,
        labels,
        annotations: { "deployment.kubernetes.io/revision": "1" },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: primary.metadata.name,
            uid: primary.metadata.uid ?? "",
            controller: true,
          },
        ],
      },
      spec: { template: { ...template, metadata: { ...template.metadata, labels } } },
    } as KubeObject);
  }

  it("during a release, puts the primary back to the promoted template and lets the release go on", async () => {
    const h = await initialized();
    await primaryReplicaSet(h);
    await h.release("ghcr.io/stefanprodan/podinfo:6.0.1");
    await h.tick();
    expect((await h.status()).phase).toBe("Progressing");
    await setPrimaryImage(h, HANDEDIT);
    await h.tick();
    expect(await primaryImage(h)).toBe(PROMOTED);
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      `Deployment ${NS}/podinfo-primary was changed by kubectl-set; restored: ` +
        `spec.template.spec.containers[name=podinfod].image: found "${HANDEDIT}", restored "${PROMOTED}"`,
    ]);
    for (let i = 0; i < 30 && (await h.status()).phase !== "Succeeded"; i++) await h.tick(5);
    expect((await h.status()).phase).toBe("Succeeded");
    expect(await primaryImage(h)).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
    expect(driftEvents(h)).toHaveLength(1);
  });

  it("during a release with no copy of the promoted template left, reports the drift and leaves it", async () => {
    const h = await initialized();
    await h.release("ghcr.io/stefanprodan/podinfo:6.0.1");
    await h.tick();
    await setPrimaryImage(h, HANDEDIT);
    await h.tick(1);
    await h.tick(1);
    expect(await primaryImage(h)).toBe(HANDEDIT);
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Deployment ${NS}/podinfo-primary was changed by kubectl-set; left as found .*: spec.template: found "revision [0-9a-f]{16}", kanaria's value "revision [0-9a-f]{16}"$`,
        ),
      ),
    ]);
  });

  it("warn mode reports once and leaves the change as found", async () => {
    const h = await initialized();
    const canary = await h.client.get(canaryRef);
    if (!canary) throw new Error("no Canary");
    h.client.seed({
      ...canary,
      metadata: { ...canary.metadata, annotations: { "kanaria.dev/drift": "warn" } },
    });
    await setPrimaryImage(h, HANDEDIT);
    for (let i = 0; i < 3; i++) await h.tick(10);
    expect(await primaryImage(h)).toBe(HANDEDIT);
    expect(driftEvents(h)).toHaveLength(1);
    expect(driftEvents(h)[0]?.message).toContain("left as found (kanaria.dev/drift: warn)");
  });

  it("a release changes the primary without a word of drift", async () => {
    const h = await initialized();
    await h.release("ghcr.io/stefanprodan/podinfo:6.0.1");
    for (let i = 0; i < 30 && (await h.status()).phase !== "Succeeded"; i++) await h.tick(5);
    expect((await h.status()).phase).toBe("Succeeded");
    expect(await primaryImage(h)).toBe("ghcr.io/stefanprodan/podinfo:6.0.1");
    expect(driftEvents(h).map((e) => e.message)).toEqual([]);
  });

  const configRef = (kind: "ConfigMap" | "Secret", name: string): ObjectRef => ({
    apiVersion: "v1",
    kind,
    namespace: NS,
    name,
  });

  /** `kubectl edit` of a config's data: the data keys move to the kubectl-edit field manager. */
  async function editData(
    h: Harness,
    kind: "ConfigMap" | "Secret",
    name: string,
    data: Record<string, string>,
  ) {
    const found = await h.client.get(configRef(kind, name));
    if (!found) throw new Error(`no ${kind} ${name}`);
    const owned = Object.fromEntries(Object.keys(data).map((k) => [`f:${k}`, {}]));
    h.client.seed({
      ...found,
      data,
      metadata: {
        ...found.metadata,
        managedFields: [{ manager: "kubectl-edit", operation: "Update", fieldsV1: { "f:data": owned } }],
      },
    } as KubeObject);
  }

  const dataOf = async (h: Harness, kind: "ConfigMap" | "Secret", name: string) =>
    ((await h.client.get(configRef(kind, name))) as { data?: Record<string, string> } | undefined)?.data;

  it("during a release that changes the configs, puts hand-edited copies back from the promoted copies", async () => {
    const h = await initialized();
    expect(await dataOf(h, "ConfigMap", "podinfo-config-primary-promoted")).toEqual({ color: "blue" });
    h.client.seed(configMapFixture("podinfo-config", { color: "green" }));
    h.client.seed(secretFixture("podinfo-secret", { token: "bmV3" }));
    await h.tick();
    expect((await h.status()).phase).toBe("Progressing");
    await editData(h, "ConfigMap", "podinfo-config-primary", { color: "red" });
    await editData(h, "Secret", "podinfo-secret-primary", { token: "aGFja2Vk" });
    await h.tick(1);
    expect(await dataOf(h, "ConfigMap", "podinfo-config-primary")).toEqual({ color: "blue" });
    expect(await dataOf(h, "Secret", "podinfo-secret-primary")).toEqual({ token: "czNjcjN0" });
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      `ConfigMap ${NS}/podinfo-config-primary was changed by kubectl-edit; restored: data.color: found "red", restored "blue"`,
      `Secret ${NS}/podinfo-secret-primary was changed by kubectl-edit; restored: data.token: found (hidden), restored (hidden)`,
    ]);
    await h.client.delete(configRef("ConfigMap", "podinfo-config-primary"));
    await h.tick(1);
    expect(await dataOf(h, "ConfigMap", "podinfo-config-primary")).toEqual({ color: "blue" });
    expect(driftEvents(h).map((e) => e.message)[2]).toBe(
      `ConfigMap ${NS}/podinfo-config-primary was deleted; recreated`,
    );
    expect((await h.status()).phase).toBe("Progressing");

    for (let i = 0; i < 30 && (await h.status()).phase !== "Succeeded"; i++) await h.tick(5);
    expect((await h.status()).phase).toBe("Succeeded");
    expect(await dataOf(h, "ConfigMap", "podinfo-config-primary")).toEqual({ color: "green" });
    expect(await dataOf(h, "ConfigMap", "podinfo-config-primary-promoted")).toEqual({ color: "green" });
    expect(await dataOf(h, "Secret", "podinfo-secret-primary-promoted")).toEqual({ token: "bmV3" });
    expect(driftEvents(h)).toHaveLength(3);
  });

  it.each([
    [
      "no promoted copy left",
      async (h: Harness) => h.client.delete(configRef("ConfigMap", "podinfo-config-primary-promoted")),
    ],
    [
      "a promoted copy that does not hash to the promoted revision",
      async (h: Harness) => {
        const kept = await h.client.get(configRef("ConfigMap", "podinfo-config-primary-promoted"));
        h.client.seed({ ...kept, data: { color: "purple" } } as KubeObject);
      },
    ],
  ])("during a release, a hand-edited copy with %s is reported once and left", async (_, spoil) => {
    const h = await initialized();
    await spoil(h);
    h.client.seed(configMapFixture("podinfo-config", { color: "green" }));
    await h.tick();
    await editData(h, "ConfigMap", "podinfo-config-primary", { color: "red" });
    await h.tick(1);
    await h.tick(1);
    expect(await dataOf(h, "ConfigMap", "podinfo-config-primary")).toEqual({ color: "red" });
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Deployment ${NS}/podinfo-primary was changed; left as found .*: spec.template: found "revision [0-9a-f]{16}", kanaria's value "revision [0-9a-f]{16}"$`,
        ),
      ),
    ]);
  });

  /** `kubectl scale` on the primary: spec.replicas through the scale subresource. */
  async function scalePrimary(h: Harness, replicas: number): Promise<void> {
    const primary = await h.client.get<Deployment>(deploymentRef("podinfo-primary"));
    if (!primary?.spec) throw new Error("no primary");
    primary.spec.replicas = replicas;
    primary.metadata.managedFields = [
      {
        manager: "kubectl-scale",
        operation: "Update",
        subresource: "scale",
        fieldsV1: { "f:spec": { "f:replicas": {} } },
      },
    ];
    h.client.seed(primary);
  }

  it("puts back the primary's replicas and strategy changed by hand", async () => {
    const h = await initialized();
    await scalePrimary(h, 5);
    await h.tick();
    const primary = () => h.client.get<Deployment>(deploymentRef("podinfo-primary"));
    expect((await primary())?.spec?.replicas).toBe(3);
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      `Deployment ${NS}/podinfo-primary was changed by kubectl-scale; restored: spec.replicas: found 5, restored 3`,
    ]);
    const edited = await primary();
    if (!edited?.spec) throw new Error("no primary");
    edited.spec.strategy = { type: "Recreate" };
    edited.metadata.managedFields = [
      {
        manager: "kubectl-edit",
        operation: "Update",
        fieldsV1: { "f:spec": { "f:strategy": { "f:type": {} } } },
      },
    ];
    h.client.seed(edited);
    await h.tick();
    expect((await primary())?.spec?.strategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    expect(driftEvents(h).map((e) => e.message)[1]).toBe(
      `Deployment ${NS}/podinfo-primary was changed by kubectl-edit; restored: ` +
        `spec.strategy.rollingUpdate: found (absent), restored {"maxSurge":1,"maxUnavailable":0}; ` +
        `spec.strategy.type: found "Recreate", restored "RollingUpdate"`,
    );
    await h.tick();
    expect(driftEvents(h)).toHaveLength(2);
  });

  it("never fights an autoscaler over the primary's replicas", async () => {
    const h = await initialized();
    const canary = await h.client.get(canaryRef);
    if (!canary) throw new Error("no Canary");
    const spec = (canary as Canary & KubeObject).spec;
    h.client.seed({
      ...canary,
      spec: {
        ...spec,
        autoscalerRef: { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", name: "podinfo" },
      },
    } as KubeObject);
    await scalePrimary(h, 7);
    for (let i = 0; i < 3; i++) await h.tick(10);
    expect((await h.client.get<Deployment>(deploymentRef("podinfo-primary")))?.spec?.replicas).toBe(7);
    expect(driftEvents(h)).toEqual([]);
  });

  it("puts back the labels and annotations kanaria sets on a Service, and leaves others' keys", async () => {
    const h = await initialized();
    const ref = { apiVersion: "v1", kind: "Service", namespace: NS, name: "podinfo-primary" };
    const service = await h.client.get(ref);
    if (!service) throw new Error("no Service");
    service.metadata.labels = { app: "hijacked", "mesh.example/injected": "true" };
    service.metadata.annotations = { "mesh.example/port": "9898" };
    service.metadata.managedFields = [
      {
        manager: "kubectl-label",
        operation: "Update",
        fieldsV1: { "f:metadata": { "f:labels": { "f:app": {} } } },
      },
      {
        manager: "mesh-injector",
        operation: "Update",
        fieldsV1: {
          "f:metadata": {
            "f:labels": { "f:mesh.example/injected": {} },
            "f:annotations": { "f:mesh.example/port": {} },
          },
        },
      },
    ];
    h.client.seed(service);
    await h.tick();
    const after = await h.client.get(ref);
    expect(after?.metadata.labels).toEqual({ app: "podinfo-primary", "mesh.example/injected": "true" });
    expect(after?.metadata.annotations).toEqual({ "mesh.example/port": "9898" });
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      `Service ${NS}/podinfo-primary was changed by kubectl-label; restored: metadata.labels.app: found "hijacked", restored "podinfo-primary"`,
    ]);
    await h.tick();
    expect(driftEvents(h)).toHaveLength(1);
  });

  it("a Service deleted while a reconcile runs is reported by the next one, not recreated silently", async () => {
    const h = await initialized();
    const ref = { apiVersion: "v1", kind: "Service", namespace: NS, name: "podinfo-canary" };
    const get = h.client.get.bind(h.client);
    let armed = true;
    // The drift check reads the Service, then its deletion lands before the Services are applied.
    h.client.get = async <T extends KubeObject>(r: ObjectRef) => {
      const found = await get<T>(r);
      if (armed && r.kind === "Service" && r.name === "podinfo-canary") {
        armed = false;
        await h.client.delete(ref);
      }
      return found;
    };
    await h.tick();
    expect(await h.client.get(ref)).toBeUndefined();
    expect(driftEvents(h)).toEqual([]);
    await h.tick();
    expect(await h.client.get(ref)).toBeDefined();
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      `Service ${NS}/podinfo-canary was deleted; recreated`,
    ]);
  });

  it("puts back a weight set by hand, but kanaria's own unfinished write is no drift", async () => {
    const h = await initialized();
    await setWeight(h, "30", "kubectl-annotate");
    await h.tick();
    expect(await h.ingressWeight()).toBe("0");
    expect(driftEvents(h).map((e) => e.message)).toEqual([
      `Ingress ${NS}/podinfo-canary was changed by kubectl-annotate; restored: ` +
        `metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"]: found "primary 70% / canary 30%", restored "primary 100% / canary 0%"`,
    ]);
    await setWeight(h, "30", "kanaria");
    await h.tick();
    expect(await h.ingressWeight()).toBe("0");
    expect(driftEvents(h)).toHaveLength(1);
  });
});
