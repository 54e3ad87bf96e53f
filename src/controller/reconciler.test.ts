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
