// A DaemonSet target tick by tick over the in-memory client (the cluster run is
// test/controller/flagger-compat.test.ts): the -primary DaemonSet, the target parked with Flagger's
// node selector between releases, a release and a rollback.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { canaryFixture, NS } from "../../test/helpers/fixtures.ts";
import type { Canary, CanaryStatus } from "../api/canary.ts";
import type { KubeObject, ObjectRef } from "../kube/types.ts";
import { createRouter } from "../routers/factory.ts";
import type { DaemonSet } from "../workloads/meta.ts";
import { type ReconcilerDeps, reconcileCanary } from "./reconciler.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const NODES = 3;
const PARKED = "flagger.app/scale-to-zero";
const canaryRef: ObjectRef = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "Canary",
  namespace: NS,
  name: "agent",
};
const dsRef = (name: string): ObjectRef => ({
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  namespace: NS,
  name,
});

function daemonSet(): DaemonSet {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "agent", namespace: NS },
    spec: {
      selector: { matchLabels: { app: "agent" } },
      template: {
        metadata: { labels: { app: "agent" } },
        spec: { containers: [{ name: "agent", image: "agent:1", ports: [{ containerPort: 9898 }] }] },
      },
    },
  };
}

class Harness {
  readonly client: FakeKubeClient;
  nowMs = T0;
  readonly deps: ReconcilerDeps;
  /** Set to make the target's pods never become available (a bad revision). */
  broken = false;

  constructor() {
    const canary: Canary = {
      ...canaryFixture({
        provider: "kubernetes",
        targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" },
        progressDeadlineSeconds: 60,
        analysis: { interval: "10s", iterations: 2 },
      }),
      metadata: { name: "agent", namespace: NS, uid: "canary-uid-1", generation: 1 },
    };
    this.client = new FakeKubeClient([canary as KubeObject, daemonSet()]);
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

  /** Plays the DaemonSet controller: a parked DaemonSet runs nowhere, any other on every node. */
  async rollOut(): Promise<void> {
    for (const name of ["agent", "agent-primary"]) {
      const d = await this.client.get<DaemonSet>(dsRef(name));
      if (!d) continue;
      const parked = d.spec?.template.spec?.nodeSelector?.[PARKED] !== undefined;
      const desired = parked ? 0 : NODES;
      const available = name === "agent" && this.broken ? 0 : desired;
      this.client.seed({
        ...d,
        status: {
          observedGeneration: d.metadata.generation,
          desiredNumberScheduled: desired,
          currentNumberScheduled: desired,
          updatedNumberScheduled: desired,
          numberAvailable: available,
          numberReady: available,
          numberMisscheduled: 0,
        },
      });
    }
  }

  async tick(seconds = 0): Promise<void> {
    this.nowMs += seconds * 1000;
    await reconcileCanary(this.deps, NS, "agent");
    await this.rollOut();
  }

  async status(): Promise<CanaryStatus> {
    return ((await this.client.get<Canary & KubeObject>(canaryRef))?.status ?? {}) as CanaryStatus;
  }

  get = (name: string) => this.client.get<DaemonSet>(dsRef(name));

  async release(image: string): Promise<void> {
    const target = await this.get("agent");
    const container = target?.spec?.template.spec?.containers[0];
    if (!target || !container) throw new Error("fixture has no container");
    container.image = image;
    this.client.seed(target);
  }

  async until(phase: string, seconds: number): Promise<void> {
    for (let i = 0; i < 40 && (await this.status()).phase !== phase; i++) await this.tick(seconds);
    expect((await this.status()).phase).toBe(phase);
  }
}

const parked = (d: DaemonSet | undefined) => d?.spec?.template.spec?.nodeSelector?.[PARKED] === "true";
const image = (d: DaemonSet | undefined) => d?.spec?.template.spec?.containers[0]?.image;

describe("a DaemonSet target, tick by tick", () => {
  it("initializes a -primary DaemonSet, parks the target, releases and rolls back", async () => {
    const h = new Harness();
    await h.until("Initialized", 0);
    await h.tick();
    const primary = await h.get("agent-primary");
    expect(primary?.spec?.selector).toEqual({ matchLabels: { app: "agent-primary" } });
    expect(image(primary)).toBe("agent:1");
    expect(parked(await h.get("agent"))).toBe(true);
    expect((await h.status()).router).toBe("kubernetes");

    // Parked and unparked do not change the revision: idle ticks start no release.
    const revision = (await h.status()).lastAppliedSpec;
    for (let i = 0; i < 3; i++) await h.tick(10);
    expect(await h.status()).toMatchObject({ phase: "Initialized", lastAppliedSpec: revision });

    await h.release("agent:2");
    await h.tick();
    expect(parked(await h.get("agent")), "unparked for the analysis").toBe(false);
    await h.until("Succeeded", 10);
    expect(image(await h.get("agent-primary"))).toBe("agent:2");
    expect(parked(await h.get("agent"))).toBe(true);
    expect((await h.get("agent-primary"))?.spec?.template.spec?.nodeSelector).toBeUndefined();

    h.broken = true;
    await h.release("agent:3");
    await h.until("Failed", 10);
    expect(image(await h.get("agent-primary"))).toBe("agent:2");
    expect(parked(await h.get("agent")), "drains after the rollback before it is parked").toBe(false);
    await h.tick(10);
    await h.tick(10);
    expect((await h.status()).drainedTime).toBeDefined();
    expect(parked(await h.get("agent"))).toBe(true);
  });
});
