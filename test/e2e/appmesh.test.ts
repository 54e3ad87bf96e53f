// App Mesh end to end: a real API server with the App Mesh CRDs, the real controller process with
// provider appmesh, and the traffic simulator playing the Envoy sidecars: it routes by the weights on
// the VirtualRouter <apex> and serves envoy_cluster_upstream_rq(_time) by kubernetes_pod_name to the
// test Prometheus, which the built-in appmesh checks read (as Flagger's App Mesh observer).
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Canary, CanarySpec, CheckStatus } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { APPMESH_API_VERSION, type VirtualRouter } from "../../src/routers/appmesh/spec.ts";
import { meshVersions } from "../support/appmesh.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  imageOf,
  recordChanges,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE } from "../support/manifests.ts";
import { startTraffic } from "../support/traffic.ts";

const prometheusUrl = inject("prometheusUrl");
const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const HEALTHY = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };
const RPS = 200;

const ns = useNamespace("e2e-appmesh");
const client = testClient();
useController(ns, () => ["--metrics-server", prometheusUrl]);
const stoppers: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
});

/** The canary's weight on the VirtualRouter <name>, as "canary/primary" of its catch-all route. */
async function routerWeights(name: string): Promise<string | undefined> {
  const vr = await client.get<VirtualRouter>({
    apiVersion: APPMESH_API_VERSION,
    kind: "VirtualRouter",
    namespace: ns,
    name,
  });
  return vr ? weightsOf(vr, name) : undefined;
}

/** "canary/primary" weights of the VirtualRouter's route without a header match. */
function weightsOf(vr: VirtualRouter, name: string): string {
  const route = vr.spec.routes.find((r) => !r.httpRoute?.match?.headers);
  const targets = route?.httpRoute?.action.weightedTargets ?? [];
  const w = (node: string) => targets.find((t) => t.virtualNodeRef.name === node)?.weight;
  return `${w(`${name}-canary`)}/${w(`${name}-primary`)}`;
}

async function setUp(
  name: string,
  profile: typeof HEALTHY,
  analysis: CanarySpec["analysis"],
  headerShare?: number,
): Promise<void> {
  await client.apply(deployment(ns, name, "6.0.0"));
  await client.apply(
    canary(ns, name, {
      provider: "appmesh",
      service: { port: 80, targetPort: 9898, meshName: "global", timeout: "15s", retries: { attempts: 2 } },
      analysis,
    }) as KubeObject,
  );
  const traffic = await startTraffic(ns, name, {
    rps: RPS,
    router: "appmesh",
    profiles: { [OLD]: HEALTHY, [NEW]: profile },
    ...(headerShare !== undefined && { headerShare }),
  });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, name, "Initialized");
  // Initialized is persisted before the routers are written and the target scaled down: wait for both.
  await waitFor(
    async () => [(await getDeployment(client, ns, name))?.spec?.replicas, await routerWeights(name)],
    {
      description: `${name} scaled to zero and its VirtualRouter at 0/100`,
      until: ([replicas, weights]) => replicas === 0 && weights === "0/100",
      timeoutMs: 30_000,
    },
  );
}

const canaryAnalysis = (): CanarySpec["analysis"] => ({
  interval: "10s",
  threshold: 2,
  stepWeight: 25,
  maxWeight: 50,
  metrics: [
    { name: "request-success-rate", interval: "15s", thresholdRange: { min: 99 } },
    { name: "request-duration", interval: "15s", thresholdRange: { max: 500 } },
  ],
});

const checksOf = (c: Canary) =>
  (c.status?.checks ?? []).map((x: CheckStatus) => [x.name, x.result, x.provider]);

describe.skipIf(!prometheusUrl)("App Mesh end to end with the built-in Envoy checks (Prometheus)", () => {
  describe.concurrent("judging the new version", () => {
    it("promotes a healthy version, every weight seen on the VirtualRouter", async () => {
      await setUp("healthy", HEALTHY, canaryAnalysis());
      const weights = recordChanges(() => routerWeights("healthy"));
      await setImage(client, ns, "healthy", NEW);
      const done = await waitForPhase(client, ns, "healthy", "Succeeded", 170_000);

      expect(await weights.stop()).toEqual(["0/100", "25/75", "50/50", "0/100"]);
      expect(checksOf(done)).toEqual([
        ["request-success-rate", "pass", "prometheus"],
        ["request-duration", "pass", "prometheus"],
      ]);
      expect(done.status?.checks?.[0]?.value).toBe(100);
      expect(imageOf(await getDeployment(client, ns, "healthy-primary"))).toBe(NEW);
      const events = await canaryEvents(client, ns, "healthy");
      expect(events.filter((e) => e.message.startsWith("Promotion completed!"))).toHaveLength(1);
      // Idle ticks (interval 10s) rewrite none of the App Mesh objects.
      const before = await meshVersions(client, ns, "healthy");
      expect(Object.keys(before)).toHaveLength(6);
      await new Promise((r) => setTimeout(r, 21_000));
      expect(await meshVersions(client, ns, "healthy")).toEqual(before);
      expect(events.filter((e) => e.reason === "RolledBack")).toEqual([]);
    }, 200_000);

    it("rolls back a version with 10 % errors and routes everything back to the primary", async () => {
      await setUp("errors", { successRate: 0.9, latencyMs: { p50: 20, p99: 80 } }, canaryAnalysis());
      const weights = recordChanges(() => routerWeights("errors"));
      await setImage(client, ns, "errors", NEW);
      const failed = await waitForPhase(client, ns, "errors", "Failed", 170_000);
      await waitFor(() => routerWeights("errors"), {
        description: "the VirtualRouter back at 0/100 after the rollback",
        until: (w) => w === "0/100",
        timeoutMs: 15_000,
      });

      expect(await weights.stop()).toEqual(["0/100", "25/75", "0/100"]);
      expect(failed.status?.failedChecks).toBe(2);
      const rate = failed.status?.checks?.find((c) => c.name === "request-success-rate");
      expect(rate?.result).toBe("fail");
      expect(rate?.value).toBeGreaterThan(80);
      expect(rate?.value).toBeLessThan(99);
      const rolledBack = (await canaryEvents(client, ns, "errors")).filter((e) => e.reason === "RolledBack");
      expect(rolledBack.map((e) => e.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Canary failed! Rolling back errors\\.${ns}: failed checks threshold reached 2/2: request-success-rate \\d+\\.\\d+ is below the minimum 99 \\(prometheus\\)$`,
          ),
        ),
      ]);
      expect(imageOf(await getDeployment(client, ns, "errors-primary"))).toBe(OLD);
      await waitFor(() => getDeployment(client, ns, "errors"), {
        description: "errors scaled to zero after the rollback",
        until: (d) => d?.spec?.replicas === 0,
        timeoutMs: 30_000,
      });
    }, 200_000);

    it("A/B: header routes to the canary during the analysis, a single weighted route after promotion", async () => {
      await setUp(
        "ab",
        HEALTHY,
        {
          interval: "10s",
          threshold: 2,
          iterations: 2,
          match: [{ headers: { "x-canary": { exact: "insider" } } }],
          metrics: [{ name: "request-success-rate", interval: "15s", thresholdRange: { min: 99 } }],
        },
        0.3,
      );
      const routeNames = recordChanges(async () => {
        const vr = await client.get<VirtualRouter>({
          apiVersion: APPMESH_API_VERSION,
          kind: "VirtualRouter",
          namespace: ns,
          name: "ab",
        });
        return vr?.spec.routes.map((r) => r.name).join(",");
      });
      await setImage(client, ns, "ab", NEW);
      await waitForPhase(client, ns, "ab", "Succeeded", 170_000);
      expect(await routeNames.stop()).toEqual(["ab", "ab-a,ab-b", "ab"]);
      expect(imageOf(await getDeployment(client, ns, "ab-primary"))).toBe(NEW);
      expect((await getCanary(client, ns, "ab")).status?.phase).toBe("Succeeded");
    }, 200_000);

    it("restores a hand-edited VirtualRouter at once: the controller watches VirtualRouters", async () => {
      // interval 1m: only the watch, not the next analysis tick, can explain a restore within seconds.
      await setUp("edited", HEALTHY, { interval: "1m", threshold: 2, stepWeight: 25, maxWeight: 50 });
      const ref = { apiVersion: APPMESH_API_VERSION, kind: "VirtualRouter", namespace: ns, name: "edited" };
      const vr = await client.get<VirtualRouter>(ref);
      const route = vr?.spec.routes[0];
      const edited = {
        ...route,
        httpRoute: {
          ...route?.httpRoute,
          action: {
            weightedTargets: [
              { virtualNodeRef: { name: "edited-canary" }, weight: 50 },
              { virtualNodeRef: { name: "edited-primary" }, weight: 50 },
            ],
          },
        },
      };
      // The edit is checked on the PATCH response: the controller may restore it before a GET.
      const started = Date.now();
      const patched = await client.mergePatch<VirtualRouter>(ref, { spec: { routes: [edited] } });
      expect(weightsOf(patched, "edited")).toBe("50/50");
      await waitFor(() => routerWeights("edited"), {
        description: "the VirtualRouter restored to 0/100",
        until: (w) => w === "0/100",
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      // Well under the 1m interval (a watch event, then one reconcile); loose for a loaded machine.
      expect(Date.now() - started).toBeLessThan(10_000);
    }, 120_000);
  });
});
