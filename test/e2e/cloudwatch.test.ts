// Metric analysis end to end through a CloudWatch MetricTemplate: the traffic simulator pushes its
// per-variant figures (Kanaria/Simulator: RequestCount, ErrorCount, LatencyP99 by Namespace, Target,
// Variant) to moto, and the real controller judges the canary's errors with GetMetricData.
//
// The check sums the canary's ErrorCount over the window instead of computing an error rate with
// metric math ("100 * errors / requests"): moto 5.2.5 evaluates no metric math (an Expression only
// resolves when it is the bare Id of another query, anything else returns no datapoints), so a rate
// would be "no data" against moto however healthy the canary is.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  recordChanges,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";
import { startTraffic } from "../support/traffic.ts";

const endpoint = inject("cloudwatchEndpoint");
const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const HEALTHY = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };

const ns = useNamespace("e2e-cloudwatch");
let client: KubeClient;
let controller: ControllerProcess;
const stoppers: (() => Promise<void>)[] = [];

const b64 = (s: string) => Buffer.from(s).toString("base64");

// Dimensions come from the template variables, so one template serves every Canary.
const ERRORS_QUERY = JSON.stringify([
  {
    Id: "errors",
    MetricStat: {
      Metric: {
        Namespace: "Kanaria/Simulator",
        MetricName: "ErrorCount",
        Dimensions: [
          { Name: "Namespace", Value: "{{ namespace }}" },
          { Name: "Target", Value: "{{ target }}" },
          { Name: "Variant", Value: "canary" },
        ],
      },
      Period: 60,
      Stat: "Sum",
    },
  },
]);

beforeAll(async () => {
  client = testClient();
  if (!endpoint) return;
  controller = startControllerProcess(ns);
  await client.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "aws", namespace: ns },
    // moto accepts any keys; these only exercise the secretRef path.
    data: { aws_access_key_id: b64("AKIDKANARIATEST"), aws_secret_access_key: b64("kanaria-dummy-secret") },
  } as KubeObject);
  await client.apply({
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "MetricTemplate",
    metadata: { name: "canary-errors", namespace: ns },
    spec: {
      provider: { type: "cloudwatch", address: endpoint, region: "us-east-1", secretRef: { name: "aws" } },
      query: ERRORS_QUERY,
      reduce: "sum",
    },
  } as KubeObject);
});
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  if (controller)
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
});

async function setUp(name: string, successRate: number): Promise<void> {
  const analysis = {
    interval: "10s",
    threshold: 2,
    stepWeight: 25,
    maxWeight: 50,
    metrics: [
      {
        name: "canary-errors",
        templateRef: { name: "canary-errors" },
        interval: "30s",
        thresholdRange: { max: 0 },
      },
    ],
  };
  for (const o of nginxApp(ns, name, analysis)) await client.apply(o);
  const traffic = await startTraffic(ns, name, {
    rps: 200,
    profiles: { [OLD]: HEALTHY, [NEW]: { ...HEALTHY, successRate } },
    cloudwatch: { intervalMs: 2_000 },
  });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, name, "Initialized");
  await initializationConverged(client, ns, name);
}

const release = (name: string) => setImage(client, ns, name, NEW);
const ingressWeight = (name: string) => canaryIngressWeight(client, ns, name);

describe.skipIf(!endpoint)("metric analysis through a CloudWatch MetricTemplate (moto)", () => {
  describe.concurrent("judging the new version by its errors", () => {
    it("promotes a version without errors", async () => {
      await setUp("cw-healthy", 1);
      const weights = recordChanges(() => ingressWeight("cw-healthy"));
      const steps = recordChanges(
        async () => (await getCanary(client, ns, "cw-healthy")).status?.checks ?? [],
      );
      await release("cw-healthy");
      const done = await waitForPhase(client, ns, "cw-healthy", "Succeeded", 120_000);

      expect(await weights.stop()).toEqual(["0", "25", "50", "0"]);
      const judged = (await steps.stop()).filter((checks) => checks.length > 0);
      expect(judged).toHaveLength(2);
      for (const checks of judged) {
        expect(checks).toEqual([
          expect.objectContaining({
            name: "canary-errors",
            result: "pass",
            value: 0,
            provider: "cloudwatch",
            message: "canary-errors 0.00 is within the range (maximum 0) (cloudwatch)",
          }),
        ]);
      }
      expect(done.status?.failedChecks).toBe(0);
      expect(imageOf(await getDeployment(client, ns, "cw-healthy-primary"))).toBe(NEW);
    }, 150_000);

    it("rolls back a version with 10 % errors, naming the metric", async () => {
      await setUp("cw-errors", 0.9);
      const weights = recordChanges(() => ingressWeight("cw-errors"));
      await release("cw-errors");
      const failed = await waitForPhase(client, ns, "cw-errors", "Failed", 120_000);
      await waitFor(() => ingressWeight("cw-errors"), {
        description: "the canary weight back at 0 after the rollback",
        until: (w) => w === "0",
        timeoutMs: 15_000,
      });

      expect(await weights.stop()).toEqual(["0", "25", "0"]);
      expect(failed.status?.failedChecks).toBe(2);
      const check = failed.status?.checks?.[0];
      expect(check).toMatchObject({ name: "canary-errors", result: "fail", provider: "cloudwatch" });
      // ~50 of 200 rps reach the canary at 25 %, a tenth of them fail: dozens of errors in 30 s.
      expect(check?.value).toBeGreaterThan(5);
      const rolledBack = (await canaryEvents(client, ns, "cw-errors")).filter(
        (e) => e.reason === "RolledBack",
      );
      expect(rolledBack.map((e) => e.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Canary failed! Rolling back cw-errors\\.${ns}: failed checks threshold reached 2/2: ` +
              "canary-errors \\d+\\.\\d+ is above the maximum 0 \\(cloudwatch\\)$",
          ),
        ),
      ]);
      expect(imageOf(await getDeployment(client, ns, "cw-errors-primary"))).toBe(OLD);
    }, 150_000);
  });
});
