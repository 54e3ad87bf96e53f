// Releases judged on a SigV4-signed Prometheus (the AMP stand-in: test/cluster/sigv4_proxy.py, which
// checks every signature with botocore), as on EKS: the controller gets its AWS credentials from an
// EKS Pod Identity endpoint whose credentials live only 8 s, so they expire during every release, and
// signs the built-in nginx checks (--metrics-server-sigv4-region). The traffic simulator feeds
// Prometheus; a healthy version is promoted, a failing one rolled back, and a MetricTemplate signed
// with a wrong secret or an expired session token holds its step without a credential in any message.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { IMAGE, nginxApp } from "../support/manifests.ts";
import {
  type MintedCredentials,
  mintCredentials,
  podIdentityEnv,
  proxyLog,
  secretData,
  sigv4Region,
  sigv4Url,
} from "../support/sigv4-proxy.ts";
import { startTraffic } from "../support/traffic.ts";

const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const HEALTHY = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };
/** Shorter than a release: the SDK must fetch new credentials while it runs. */
const CREDENTIAL_TTL_S = 8;
const POD_IDENTITY = `e2e-${Date.now()}`;

const ns = useNamespace("e2e-sigv4");
const client = testClient();
const stoppers: (() => Promise<void>)[] = [];
let controller: ControllerProcess | undefined;
let wrong: MintedCredentials;
let expired: MintedCredentials;

beforeAll(async () => {
  if (!sigv4Url) return;
  const env = await podIdentityEnv(POD_IDENTITY, CREDENTIAL_TTL_S);
  controller = startControllerProcess(
    ns,
    ["--metrics-server", sigv4Url, "--metrics-server-sigv4-region", sigv4Region],
    env,
  );
  wrong = await mintCredentials(3600);
  expired = await mintCredentials(-60);
});
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  if (controller)
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
});

type Metrics = NonNullable<CanarySpec["analysis"]["metrics"]>;

async function setUp(name: string, profile: typeof HEALTHY, metrics: Metrics, threshold = 2): Promise<void> {
  const analysis = { interval: "10s", threshold, stepWeight: 25, maxWeight: 50, metrics };
  for (const o of nginxApp(ns, name, analysis)) await client.apply(o);
  const traffic = await startTraffic(ns, name, { rps: 200, profiles: { [OLD]: HEALTHY, [NEW]: profile } });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, name, "Initialized");
  await initializationConverged(client, ns, name);
}

const BUILT_IN: Metrics = [
  { name: "request-success-rate", interval: "15s", thresholdRange: { min: 99 } },
  { name: "request-duration", interval: "15s", thresholdRange: { max: 500 } },
];

describe.skipIf(!sigv4Url)("releases on a SigV4-signed Prometheus with EKS Pod Identity credentials", () => {
  describe.concurrent("judging the new version", () => {
    it("promotes a healthy version; every query signed with unexpired, refreshed credentials", async () => {
      await setUp("healthy", HEALTHY, BUILT_IN);
      const started = Date.now();
      await setImage(client, ns, "healthy", NEW);
      const done = await waitForPhase(client, ns, "healthy", "Succeeded", 120_000);
      expect(done.status?.failedChecks).toBe(0);
      expect(imageOf(await getDeployment(client, ns, "healthy-primary"))).toBe(NEW);
      expect(done.status?.checks?.map((c) => [c.name, c.result])).toEqual([
        ["request-success-rate", "pass"],
        ["request-duration", "pass"],
      ]);

      const signed = (await proxyLog()).filter((r) => r.source === `pod-identity:${POD_IDENTITY}`);
      expect(signed.length).toBeGreaterThanOrEqual(4);
      // The proxy refuses credentials past their expiry: all accepted means none was used expired.
      expect(signed.filter((r) => r.status !== 200)).toEqual([]);
      const keys = new Set(signed.map((r) => r.accessKeyId));
      const seconds = (Date.now() - started) / 1000;
      expect(seconds).toBeGreaterThan(CREDENTIAL_TTL_S);
      expect(
        keys.size,
        `credentials refreshed during a ${seconds.toFixed(0)} s release`,
      ).toBeGreaterThanOrEqual(2);
    });

    it("rolls back a version that fails its checks", async () => {
      await setUp("failing", { successRate: 0.5, latencyMs: { p50: 20, p99: 80 } }, BUILT_IN);
      await setImage(client, ns, "failing", NEW);
      const failed = await waitForPhase(client, ns, "failing", "Failed", 120_000);
      expect(failed.status?.checks?.find((c) => c.name === "request-success-rate")?.result).toBe("fail");
      expect(imageOf(await getDeployment(client, ns, "failing-primary"))).toBe(OLD);
      const events = await canaryEvents(client, ns, "failing");
      expect(events.some((e) => e.reason === "RolledBack")).toBe(true);
    });

    it("holds the step when a template signs with a wrong secret or an expired token, naming why", async () => {
      const secrets = {
        "amp-wrong": secretData(wrong, {
          aws_secret_access_key: `${wrong.SecretAccessKey.slice(0, -4)}XXXX`,
        }),
        "amp-expired": secretData(expired),
      };
      for (const [name, data] of Object.entries(secrets)) {
        await client.apply({
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name, namespace: ns },
          stringData: data,
        } as KubeObject);
        await client.apply({
          apiVersion: "kanaria.dev/v1alpha1",
          kind: "MetricTemplate",
          metadata: { name, namespace: ns },
          spec: {
            provider: {
              type: "prometheus",
              address: sigv4Url,
              secretRef: { name },
              sigv4: { region: sigv4Region },
            },
            query: "vector(1)",
          },
        } as KubeObject);
      }
      const metrics: Metrics = Object.keys(secrets).map((name) => ({
        name,
        templateRef: { name },
        interval: "1m",
        thresholdRange: { min: 1 },
      }));
      // A high threshold: the held steps are what is judged here, not the rollback errors lead to.
      await setUp("denied", HEALTHY, metrics, 10);
      await setImage(client, ns, "denied", NEW);
      const held = await waitFor(
        async () =>
          (await canaryEvents(client, ns, "denied")).filter((e) => e.reason === "ChecksInconclusive"),
        {
          description: "a ChecksInconclusive event for the denied queries",
          until: (events) => events.length > 0,
          timeoutMs: 90_000,
        },
      );
      const message = held[0]?.message ?? "";
      expect(message).toMatch(/^holding denied\.\S+ at canary weight 25: /);
      expect(message).toContain("amp-wrong: ");
      expect(message).toContain("The request signature we calculated does not match");
      expect(message).toContain("amp-expired: ");
      expect(message).toContain("The security token included in the request is expired");

      const canary = await getCanary(client, ns, "denied");
      expect(canary.status?.phase).not.toBe("Succeeded");
      expect(canary.status?.checks?.map((c) => c.result)).toEqual(["error", "error"]);
      const everything = [
        JSON.stringify(canary.status),
        JSON.stringify(await canaryEvents(client, ns, "denied")),
        readFileSync(controller?.logFile ?? "", "utf8"),
      ].join("\n");
      for (const secret of [wrong.SecretAccessKey, wrong.Token, expired.SecretAccessKey, expired.Token]) {
        expect(everything).not.toContain(secret);
      }
      expect(everything).not.toMatch(/Signature=[0-9a-f]{64}/);
      expect(everything).not.toMatch(/FQoGZXIvYXdz[A-Za-z0-9_-]{8}/);
    });
  });
});
