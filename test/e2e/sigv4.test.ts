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
  mintCredentials as mint,
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
const mintCredentials = async (ttlSeconds: number) => {
  const c = await mint(ttlSeconds);
  minted.push(c);
  return c;
};
const client = testClient();
const stoppers: (() => Promise<void>)[] = [];
let controller: ControllerProcess | undefined;
let expired: MintedCredentials;
/** Every credential the test minted, none of which may appear in a message. */
const minted: MintedCredentials[] = [];
const wrongSecret = `wrong-${Date.now()}-secret-value`;

beforeAll(async () => {
  if (!sigv4Url) return;
  const env = await podIdentityEnv(POD_IDENTITY, CREDENTIAL_TTL_S);
  controller = startControllerProcess(
    ns,
    ["--metrics-server", sigv4Url, "--metrics-server-sigv4-region", sigv4Region],
    env,
  );
  expired = await mintCredentials(-60);
});
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  if (controller)
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
});

type Metrics = NonNullable<CanarySpec["analysis"]["metrics"]>;

async function setUp(
  name: string,
  profile: typeof HEALTHY,
  metrics: Metrics,
  overrides: Partial<CanarySpec["analysis"]> = {},
): Promise<void> {
  const analysis = { interval: "10s", threshold: 2, stepWeight: 25, maxWeight: 50, metrics, ...overrides };
  for (const o of nginxApp(ns, name, analysis)) await client.apply(o);
  const traffic = await startTraffic(ns, name, { rps: 200, profiles: { [OLD]: HEALTHY, [NEW]: profile } });
  stoppers.push(traffic.stop);
  await waitForPhase(client, ns, name, "Initialized");
  await initializationConverged(client, ns, name);
}

async function applySecret(name: string, data: Record<string, string>): Promise<void> {
  await client.apply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    stringData: data,
  } as KubeObject);
}

/** One Secret and one signed MetricTemplate (vector(1), passing min 1) per name. */
async function useSignedTemplates(secrets: Record<string, Record<string, string>>): Promise<void> {
  for (const [name, data] of Object.entries(secrets)) {
    await applySecret(name, data);
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
}

const templateMetrics = (names: string[]): Metrics =>
  names.map((name) => ({ name, templateRef: { name }, interval: "1m", thresholdRange: { min: 1 } }));

const events = async (name: string, reason: string) =>
  (await canaryEvents(client, ns, name)).filter((e) => e.reason === reason).map((e) => e.message);

/** No secret, session token or signature in the Canary's status, its events or the controller's log. */
async function expectNoCredentials(name: string): Promise<void> {
  const everything = [
    JSON.stringify((await getCanary(client, ns, name)).status),
    JSON.stringify(await canaryEvents(client, ns, name)),
    readFileSync(controller?.logFile ?? "", "utf8"),
  ].join("\n");
  for (const secret of [wrongSecret, ...minted.flatMap((c) => [c.SecretAccessKey, c.Token])]) {
    expect(everything).not.toContain(secret);
  }
  expect(everything).not.toMatch(/Signature=[0-9a-f]{64}/);
  // Every token the proxy issues (minted, Pod Identity) starts so.
  expect(everything).not.toMatch(/FQoGZXIvYXdz[A-Za-z0-9+/]{8}/);
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

    it("holds the step when a template's credentials go bad mid-release (wrong secret, expired token)", async () => {
      const [first, second] = [await mintCredentials(3600), await mintCredentials(3600)];
      await useSignedTemplates({ "amp-wrong": secretData(first), "amp-expired": secretData(second) });
      // Many small steps: the Secrets change at the first, long before the release could finish.
      await setUp("denied", HEALTHY, templateMetrics(["amp-wrong", "amp-expired"]), {
        threshold: 10,
        stepWeight: 10,
        maxWeight: 90,
      });
      await setImage(client, ns, "denied", NEW);
      await waitFor(() => getCanary(client, ns, "denied"), {
        description: "the first step (canary weight 10), judged with good credentials",
        until: (c) => c.status?.canaryWeight === 10,
        timeoutMs: 90_000,
        intervalMs: 200,
      });
      await applySecret("amp-wrong", secretData(first, { aws_secret_access_key: wrongSecret }));
      await applySecret("amp-expired", secretData(expired));

      const held = await waitFor(() => events("denied", "ChecksInconclusive"), {
        description: "ChecksInconclusive events naming both causes",
        until: (list) =>
          list.some((m) => m.includes("does not match the signature")) &&
          list.some((m) => m.includes("security token included in the request is expired")),
        timeoutMs: 60_000,
      });
      expect(held[0]).toMatch(/^holding denied\.\S+ at canary weight 10: /);
      expect(held.join("\n")).toMatch(
        /amp-wrong: MetricTemplate \S+\/amp-wrong \(prometheus\): Prometheus at http:\/\/127\.0\.0\.1:\d+: HTTP 403: The request signature we calculated does not match the signature you provided/,
      );
      expect(held.join("\n")).toMatch(
        /amp-expired: MetricTemplate \S+\/amp-expired \(prometheus\): Prometheus at http:\/\/127\.0\.0\.1:\d+: HTTP 403: The security token included in the request is expired/,
      );
      const canary = await getCanary(client, ns, "denied");
      expect(canary.status?.canaryWeight, "held, never advanced on an error").toBe(10);
      expect(canary.status?.checks?.map((c) => c.result)).toEqual(["error", "error"]);
      await expectNoCredentials("denied");
    });

    it("waits at weight 0 when a template's credentials are refused from the start, naming why", async () => {
      const keys = await mintCredentials(3600);
      await useSignedTemplates({ "amp-refused": secretData(keys, { aws_secret_access_key: wrongSecret }) });
      await setUp("refused", HEALTHY, templateMetrics(["amp-refused"]));
      await setImage(client, ns, "refused", NEW);
      const unavailable = await waitFor(() => events("refused", "MetricsUnavailable"), {
        description: "a MetricsUnavailable event",
        until: (list) => list.length > 0,
        timeoutMs: 60_000,
      });
      expect(unavailable[0]).toMatch(
        /^holding refused\.\S+ at weight 0: metric providers unreachable: prometheus at http:\/\/127\.0\.0\.1:\d+ \(secret \S+\/amp-refused\): .*HTTP 403: The request signature we calculated does not match/,
      );
      expect((await getCanary(client, ns, "refused")).status?.canaryWeight ?? 0).toBe(0);
      await expectNoCredentials("refused");
    });
  });
});
