// The reconciler's paths beside a release, over the in-memory client: a Canary it cannot read, the
// revertOnDeletion finalizer, deletion, blockers found while observing or while converging, and a target
// deleted mid-analysis. The real API server runs them in test/controller/{blockers,lifecycle}.test.ts;
// here the writes, the status and the Events of each are pinned exactly.
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
import type { Canary, CanarySpec, CanaryStatus } from "../api/canary.ts";
import type { KubeObject, ObjectRef } from "../kube/types.ts";
import { createRouter } from "../routers/factory.ts";
import type { Deployment } from "../workloads/meta.ts";
import { type ReconcilerDeps, reconcileCanary } from "./reconciler.ts";

const NOW = new Date("2026-01-01T00:00:00Z");
const FINALIZER = "finalizers.kanaria.dev";

const ref = (apiVersion: string, kind: string, name: string): ObjectRef => ({
  apiVersion,
  kind,
  namespace: NS,
  name,
});
const canaryRef = (name = "podinfo") => ref("kanaria.dev/v1alpha1", "Canary", name);
const deploymentRef = (name: string) => ref("apps/v1", "Deployment", name);
const serviceRef = (name: string) => ref("v1", "Service", name);

function setup(canaries: KubeObject[], others: KubeObject[] = []) {
  const client = new FakeKubeClient([
    ...canaries,
    deploymentFixture(),
    configMapFixture(),
    secretFixture(),
    ...others,
  ]);
  const deps: ReconcilerDeps = {
    client,
    logger: pino({ level: "silent" }),
    now: () => NOW,
    defaultProvider: "kubernetes",
    router: (provider) => createRouter(provider, { client }),
    runChecks: async () => [],
    offlineProviders: async () => [],
    listCanaries: (namespace) =>
      client.list<Canary & KubeObject>("kanaria.dev/v1alpha1", "Canary", namespace),
  };
  /** One reconcile of `name`, and what it wrote (in order) and recorded. */
  const tick = async (name = "podinfo") => {
    const [writes, events] = [client.writes.length, client.events.length];
    const result = await reconcileCanary(deps, NS, name);
    return {
      result,
      writes: client.writes.slice(writes).map((w) => `${w.op} ${w.ref.kind}/${w.ref.name}`),
      events: client.events.slice(events).map(({ type, reason, message }) => ({ type, reason, message })),
    };
  };
  return { client, tick };
}

function canary(spec: Partial<CanarySpec> = {}, metadata: Partial<KubeObject["metadata"]> = {}): KubeObject {
  const c = canaryFixture(spec) as KubeObject;
  return { ...c, metadata: { ...c.metadata, ...metadata } };
}

async function stored(client: FakeKubeClient, name = "podinfo"): Promise<Canary & KubeObject> {
  const c = await client.get<Canary & KubeObject>(canaryRef(name));
  if (!c) throw new Error(`Canary ${name} is gone`);
  return c;
}

/** The conditions as [type, status, reason, message]: what Flux, Argo CD and kubectl wait on. */
const conditions = (status: CanaryStatus | undefined) =>
  (status?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message]);

/** The conditions of a Canary that waits for its owner while in phase Initializing. */
const stalledInitializing = (reason: string, message: string) => [
  ["Promoted", "Unknown", "Initializing", message],
  ["Ready", "False", reason, message],
  ["Reconciling", "False", "Initializing", ""],
  ["Stalled", "True", reason, message],
];

/** Plays the Deployment controller: every replica of every Deployment updated and available. */
async function rollOut(client: FakeKubeClient): Promise<void> {
  for (const name of ["podinfo", "podinfo-primary"]) {
    const d = await client.get<Deployment>(deploymentRef(name));
    const replicas = d?.spec?.replicas ?? 1;
    if (d)
      client.seed({
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

describe("a Canary the API server accepted but kanaria cannot read", () => {
  it("is marked Failed and Stalled with InvalidSpec once, and nothing else is written", async () => {
    const { client, tick } = setup([canary({ analysis: { interval: "ten seconds", iterations: 5 } })]);
    const message =
      'Canary shop/podinfo is invalid: spec.analysis.interval: must be a duration such as "30s", "1m" or "1h30m"; ' +
      "fix the manifest (kanaria validate shows where)";
    expect(await tick()).toEqual({
      result: { requeueAfterMs: undefined },
      writes: ["replaceStatus Canary/podinfo"],
      events: [{ type: "Warning", reason: "InvalidSpec", message }],
    });
    const { status } = await stored(client);
    expect(status?.phase).toBeUndefined();
    expect(conditions(status)).toEqual([
      ["Promoted", "False", "Failed", message],
      ["Ready", "False", "InvalidSpec", message],
      ["Reconciling", "False", "Failed", ""],
      ["Stalled", "True", "InvalidSpec", message],
    ]);
    expect(await tick(), "the watch event of its own write changes nothing").toEqual({
      result: { requeueAfterMs: undefined },
      writes: [],
      events: [],
    });
  });
});

describe("the revertOnDeletion finalizer", () => {
  it("is added before anything else is written; the next tick goes on", async () => {
    const { client, tick } = setup([canary({ revertOnDeletion: true })]);
    expect(await tick()).toEqual({
      result: { requeueAfterMs: 0 },
      writes: ["mergePatch Canary/podinfo"],
      events: [],
    });
    const added = await stored(client);
    expect(added.metadata.finalizers).toEqual([FINALIZER]);
    expect(added.status).toBeUndefined();
    const next = await tick();
    expect(next.writes).not.toContain("mergePatch Canary/podinfo");
    expect((await stored(client)).status?.phase).toBe("Initializing");
  });

  it("is removed once revertOnDeletion is unset, leaving the finalizers of others", async () => {
    const { client, tick } = setup([canary({}, { finalizers: ["example.com/keep", FINALIZER] })]);
    expect(await tick()).toEqual({
      result: { requeueAfterMs: 0 },
      writes: ["mergePatch Canary/podinfo"],
      events: [],
    });
    expect((await stored(client)).metadata.finalizers).toEqual(["example.com/keep"]);
  });
});

describe("deletion", () => {
  /** An Initialized Canary, then deleted (held by its finalizers). */
  async function deleted(spec: Partial<CanarySpec>, finalizers: string[] = []) {
    const h = setup([canary(spec)]);
    for (let i = 0; i < 6 && (await stored(h.client)).status?.phase !== "Initialized"; i++) {
      await h.tick();
      await rollOut(h.client);
    }
    const c = await stored(h.client);
    expect(c.status?.phase).toBe("Initialized");
    const held = [...(c.metadata.finalizers ?? []), ...finalizers];
    h.client.seed({
      ...c,
      // As the API server's JSON has it: a string (client-node's type says Date).
      metadata: { ...c.metadata, finalizers: held, deletionTimestamp: NOW.toISOString() as never },
    });
    return h;
  }
  const replicas = async (client: FakeKubeClient) =>
    (await client.get<Deployment>(deploymentRef("podinfo")))?.spec?.replicas;
  const apexSelector = async (client: FakeKubeClient) =>
    (await client.get<KubeObject & { spec?: { selector?: unknown } }>(serviceRef("podinfo")))?.spec?.selector;

  it("with revertOnDeletion: scales the target up, waits for it, gives it the apex Service, then lets go", async () => {
    const { client, tick } = await deleted({ revertOnDeletion: true });
    expect(await replicas(client)).toBe(0);
    expect(await tick()).toEqual({
      result: { requeueAfterMs: 30_000 },
      writes: ["replaceStatus Canary/podinfo", "mergePatch Deployment/podinfo"],
      events: [
        {
          type: "Normal",
          reason: "Terminating",
          message: "Canary deleted: restoring podinfo.shop and its Service",
        },
      ],
    });
    expect(await replicas(client)).toBe(3);
    const terminating = await stored(client);
    expect(terminating.status?.phase).toBe("Terminating");
    expect(conditions(terminating.status)[0]).toEqual([
      "Promoted",
      "Unknown",
      "Terminating",
      "restoring podinfo.shop",
    ]);
    expect(terminating.metadata.finalizers).toEqual([FINALIZER]);

    expect(await tick(), "the target's pods are not ready yet").toEqual({
      result: { requeueAfterMs: 30_000 },
      writes: [],
      events: [],
    });
    expect(await apexSelector(client)).toEqual({ app: "podinfo-primary" });

    await rollOut(client);
    expect(await tick()).toEqual({
      result: { requeueAfterMs: undefined },
      writes: ["mergePatch Service/podinfo", "mergePatch Canary/podinfo"],
      events: [],
    });
    expect(await apexSelector(client)).toEqual({ app: "podinfo" });
    expect((await stored(client)).metadata.finalizers).toEqual([]);
  });

  it("without revertOnDeletion: writes nothing, and leaves the target as it is", async () => {
    const { client, tick } = await deleted({}, ["example.com/keep"]);
    const before = await stored(client);
    expect(await tick()).toEqual({ result: { requeueAfterMs: undefined }, writes: [], events: [] });
    expect(await stored(client)).toEqual(before);
    expect(await replicas(client)).toBe(0);
    expect(await apexSelector(client)).toEqual({ app: "podinfo-primary" });
  });
});

describe("blockers", () => {
  it("found while observing (a second Canary on the Deployment): Stalled, one Warning, nothing converged", async () => {
    const first = canary({}, { creationTimestamp: "2025-12-01T00:00:00Z" } as never);
    const second = canary({}, { name: "second", creationTimestamp: "2025-12-02T00:00:00Z" } as never);
    const { client, tick } = setup([first, second]);
    const message =
      "Deployment shop/podinfo is already the target of Canary podinfo: delete one of the two Canaries or point spec.targetRef at another Deployment";
    expect(await tick("second")).toEqual({
      result: { requeueAfterMs: 100 },
      writes: ["replaceStatus Canary/second"],
      events: [{ type: "Warning", reason: "ConflictingCanary", message }],
    });
    const { status } = await stored(client, "second");
    expect(status?.phase).toBe("Initializing");
    expect(conditions(status)).toEqual(stalledInitializing("ConflictingCanary", message));
    expect(await tick("second"), "reported once").toEqual({
      result: { requeueAfterMs: 30_000 },
      writes: [],
      events: [],
    });
    expect(
      (await tick("podinfo")).events.map((e) => e.reason),
      "the older one goes on",
    ).toEqual(["Initializing"]);
  });

  it("a target kind kanaria does not release: refused with the schema's message (Stalled, InvalidSpec), nothing read or written but the status", async () => {
    const { client, tick } = setup([
      canary({ targetRef: { apiVersion: "apps/v1", kind: "StatefulSet", name: "podinfo" } }),
    ]);
    const message =
      "Canary shop/podinfo is invalid: spec.targetRef.kind: kanaria releases a Deployment or a DaemonSet: " +
      "set targetRef.kind to Deployment or DaemonSet (Flagger's Service targets are not supported); " +
      "fix the manifest (kanaria validate shows where)";
    expect(await tick()).toEqual({
      result: { requeueAfterMs: undefined },
      writes: ["replaceStatus Canary/podinfo"],
      events: [{ type: "Warning", reason: "InvalidSpec", message }],
    });
    expect(conditions((await stored(client)).status)).toContainEqual([
      "Stalled",
      "True",
      "InvalidSpec",
      message,
    ]);
  });

  it("found while converging (a primary it does not own): stops there, Stalled, retried in 30s", async () => {
    const foreign = deploymentFixture();
    foreign.metadata.name = "podinfo-primary";
    const { client, tick } = setup([canary()], [foreign]);
    const primaryBefore = await client.get(deploymentRef("podinfo-primary"));
    const message =
      "Canary shop/podinfo: Deployment shop/podinfo-primary exists and is not controlled by this Canary; " +
      "delete it (kanaria creates it) or point spec.targetRef at another Deployment";
    expect(await tick()).toEqual({
      result: { requeueAfterMs: 30_000 },
      writes: [
        "replaceStatus Canary/podinfo",
        "apply Service/podinfo",
        "apply Service/podinfo-primary",
        "apply Service/podinfo-canary",
        "replaceStatus Canary/podinfo",
      ],
      events: [
        {
          type: "Normal",
          reason: "Initializing",
          message: "Creating podinfo-primary.shop and the Services for podinfo.shop",
        },
        { type: "Warning", reason: "PrimaryNotOwned", message },
      ],
    });
    const { status } = await stored(client);
    expect(status?.phase).toBe("Initializing");
    expect(conditions(status)).toEqual(stalledInitializing("PrimaryNotOwned", message));
    expect(await client.get(deploymentRef("podinfo-primary")), "the foreign primary is left alone").toEqual(
      primaryBefore,
    );
  });
});

describe("a target deleted mid-analysis", () => {
  const ingress = {
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
  const weight = async (client: FakeKubeClient) =>
    (await client.get(ref("networking.k8s.io/v1", "Ingress", "podinfo-canary")))?.metadata.annotations?.[
      "nginx.ingress.kubernetes.io/canary-weight"
    ];

  it("routes all traffic back to the primary and reports TargetNotFound, converging nothing else", async () => {
    const spec: Partial<CanarySpec> = {
      provider: "nginx",
      ingressRef: { name: "podinfo" },
      analysis: { interval: "10s", threshold: 1, stepWeight: 20, maxWeight: 40 },
    };
    const { client, tick } = setup([canary(spec)], [ingress]);
    for (let i = 0; i < 6 && (await stored(client)).status?.phase !== "Initialized"; i++) {
      await tick();
      await rollOut(client);
    }
    const target = await client.get<Deployment>(deploymentRef("podinfo"));
    const container = target?.spec?.template?.spec?.containers?.[0];
    if (!target || !container) throw new Error("fixture has no container");
    container.image = "ghcr.io/stefanprodan/podinfo:6.0.1";
    client.seed(target);
    for (let i = 0; i < 6 && (await weight(client)) !== "20"; i++) {
      await tick();
      await rollOut(client);
    }
    expect(await weight(client)).toBe("20");
    await client.delete(deploymentRef("podinfo"));

    const message = "Deployment podinfo.shop not found: create it or fix spec.targetRef.name";
    expect(await tick()).toEqual({
      result: { requeueAfterMs: 100 },
      writes: ["replaceStatus Canary/podinfo", "apply Ingress/podinfo-canary"],
      events: [{ type: "Warning", reason: "TargetNotFound", message }],
    });
    expect(await weight(client)).toBe("0");
    const { status } = await stored(client);
    expect(status).toMatchObject({ phase: "Progressing", canaryWeight: 0 });
    expect(conditions(status).at(-1)).toEqual(["Stalled", "True", "TargetNotFound", message]);
    expect(await tick(), "reported and routed once").toEqual({
      result: { requeueAfterMs: 10_000 },
      writes: [],
      events: [],
    });
  });
});
