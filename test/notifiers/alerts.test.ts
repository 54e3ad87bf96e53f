// Alerts end to end: the real API server, the real controller process, and a local receiver on
// 127.0.0.1 playing Slack (incoming webhook and chat.postMessage), Teams Workflows and a generic
// webhook. One bad release judged by Prometheus over the traffic simulator; quick blue/green
// releases without metrics for the delivery cases; then a controller restart that must send nothing.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { AlertRecord } from "../../src/api/alert-outbox.ts";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { type Received, useAlertReceiver } from "../support/alert-receiver.ts";
import {
  canaryEvents,
  getCanary,
  initializationConverged,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE, nginxApp } from "../support/manifests.ts";
import { startTraffic } from "../support/traffic.ts";

const prometheusUrl = inject("prometheusUrl");
const OLD = `${IMAGE}:6.0.0`;
const NEW = `${IMAGE}:6.0.1`;
const CLUSTER = "kind-eu-test-1";

const ns = useNamespace("alerts");
const client = testClient();
const receiver = useAlertReceiver();
let controller: ControllerProcess | undefined;
const stoppers: (() => Promise<void>)[] = [];

const controllerArgs = () => [
  ...(prometheusUrl ? ["--metrics-server", prometheusUrl] : []),
  "--cluster-name",
  CLUSTER,
  "--alert-provider",
  `${ns}/default-teams`,
];

beforeAll(async () => {
  for (const o of providers()) await client.apply(o);
  controller = startControllerProcess(ns, controllerArgs());
});
afterAll(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  const code = await controller?.stop();
  expect(code, `controller exit code (log: ${controller?.logFile})`).toBe(0);
});

const secret = (name: string, data: Record<string, string>): KubeObject =>
  ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
  }) as KubeObject;

const provider = (name: string, spec: Record<string, unknown>): KubeObject =>
  ({ apiVersion: API_VERSION, kind: "AlertProvider", metadata: { name, namespace: ns }, spec }) as KubeObject;

/** Each scenario posts to its own path, so the receiver tells them apart. */
function providers(): KubeObject[] {
  return [
    secret("slack-errors", { address: receiver().slackWebhook("T0/B0/errors-secret-path") }),
    provider("slack-errors", { type: "slack", secretRef: { name: "slack-errors" } }),
    provider("generic-all", { type: "generic", address: receiver().genericWebhook("all") }),
    secret("slack-flaky", { address: receiver().slackWebhook("T0/B0/flaky") }),
    provider("slack-flaky", { type: "slack", secretRef: { name: "slack-flaky" } }),
    secret("slack-bot", { token: "xoxb-wrong-0000-secret", address: receiver().postMessageUrl }),
    provider("slack-bot", { type: "slack", channel: "#releases", secretRef: { name: "slack-bot" } }),
    provider("default-teams", { type: "msteams", address: receiver().teamsWebhook("hanging") }),
  ];
}

const alertsOf = async (name: string): Promise<AlertRecord[]> =>
  (await getCanary(client, ns, name)).status?.alerts ?? [];
const kinds = (messages: Received[]) => messages.map((m) => (m.body as { kind?: string }).kind);
const slackText = (m: Received | undefined) => JSON.stringify(m?.body ?? "");

async function quickApp(
  name: string,
  alerts: { name: string; severity?: "info" | "warn" | "error"; provider: string }[],
) {
  await client.apply(deployment(ns, name, "6.0.0"));
  await client.apply(
    canary(ns, name, {
      provider: "kubernetes",
      progressDeadlineSeconds: 15,
      analysis: {
        interval: "10s",
        iterations: 1,
        ...(alerts.length > 0
          ? {
              alerts: alerts.map((a) => ({
                name: a.name,
                ...(a.severity ? { severity: a.severity } : {}),
                providerRef: { name: a.provider },
              })),
            }
          : {}),
      },
    }),
  );
  await waitForPhase(client, ns, name, "Initialized");
}

describe.concurrent("alerts from the controller", () => {
  it.skipIf(!prometheusUrl)(
    "sends one error message for a bad release, naming the metric, its value and the threshold",
    async () => {
      const analysis = {
        interval: "10s",
        threshold: 2,
        stepWeight: 25,
        maxWeight: 50,
        metrics: [
          { name: "request-success-rate", interval: "15s", thresholdRange: { min: 99 } },
          { name: "request-duration", interval: "15s", thresholdRange: { max: 500 } },
        ],
        alerts: [
          { name: "errors", severity: "error" as const, providerRef: { name: "slack-errors" } },
          { name: "all", providerRef: { name: "generic-all" } },
        ],
      };
      for (const o of nginxApp(ns, "bad", analysis)) await client.apply(o);
      const healthy = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };
      const traffic = await startTraffic(ns, "bad", {
        rps: 200,
        profiles: { [OLD]: healthy, [NEW]: { successRate: 0.9, latencyMs: { p50: 20, p99: 80 } } },
      });
      stoppers.push(traffic.stop);
      await waitForPhase(client, ns, "bad", "Initialized");
      await initializationConverged(client, ns, "bad");
      await client.apply(deployment(ns, "bad", "6.0.1"));
      const failed = await waitForPhase(client, ns, "bad", "Failed", 120_000);
      const rate = failed.status?.checks?.find((c) => c.name === "request-success-rate")?.value;

      const messages = await waitFor(() => receiver().delivered("/slack/services/T0/B0/errors"), {
        description: "the rollback message in Slack",
        until: (m) => m.length > 0,
        timeoutMs: 20_000,
      });
      expect(messages).toHaveLength(1);
      const text = slackText(messages[0]);
      expect(text).toContain("Rolled back bad.");
      expect(text).toContain(`request-success-rate ${rate?.toFixed(2)}, allowed: at least 99 (prometheus)`);
      expect(text).toContain(CLUSTER);
      expect(text).toContain(`*Rolled back*\\n${NEW}`);
      expect(text).toContain(`*Kept*\\n${OLD}`);
      expect(text).toContain("*Weight reached*\\n25%");
      expect(messages[0]?.body).toMatchObject({ attachments: [{ color: "#e01e5a" }] });

      // The info-level generic hook gets the whole story, each part once.
      const all = await waitFor(() => receiver().delivered("/generic/all"), {
        description: "the generic webhook's messages",
        until: (m) => kinds(m).includes("RolledBack"),
        timeoutMs: 20_000,
      });
      expect(kinds(all)).toEqual(["NewRevision", "Halted", "RolledBack"]);
      const stored = await waitFor(() => alertsOf("bad"), {
        description: "every delivery recorded in the status",
        until: (a) => a.every((x) => x.deliveries.every((d) => d.state === "delivered")),
        timeoutMs: 20_000,
      });
      expect(stored.map((a) => [a.kind, a.deliveries.map((d) => d.provider)])).toEqual([
        ["NewRevision", [`${ns}/generic-all`]],
        ["Halted", [`${ns}/generic-all`]],
        ["RolledBack", [`${ns}/slack-errors`, `${ns}/generic-all`]],
      ]);
    },
    150_000,
  );

  it("delivers once after a 500, on the retry", async () => {
    receiver().script("/slack/services/T0/B0/flaky", [{ status: 500, body: "try later" }]);
    await quickApp("flaky", [{ name: "slack", provider: "slack-flaky" }]);
    await client.apply(deployment(ns, "flaky", "6.0.1"));
    await waitForPhase(client, ns, "flaky", "Succeeded", 90_000);
    const alerts = await waitFor(() => alertsOf("flaky"), {
      description: "both alerts delivered",
      until: (a) => a.length === 2 && a.every((x) => x.deliveries[0]?.state === "delivered"),
      timeoutMs: 20_000,
    });
    expect(alerts.map((a) => [a.kind, a.deliveries[0]?.attempts])).toEqual([
      ["NewRevision", 2],
      ["Promoted", 1],
    ]);
    expect(
      receiver()
        .received("/slack/services/T0/B0/flaky")
        .map((m) => m.status),
    ).toEqual([500, 200, 200]);
    expect(receiver().delivered("/slack/services/T0/B0/flaky")).toHaveLength(2);
  });

  it("rolls back on time while the alert endpoint hangs (the default provider)", async () => {
    receiver().script(
      "/teams/workflows/hanging",
      Array.from({ length: 50 }, () => "hang" as const),
    );
    await quickApp("stuck", []);
    const released = Date.now();
    await client.apply(deployment(ns, "stuck", "6.0.1", { unschedulable: true }));
    await waitForPhase(client, ns, "stuck", "Failed", 60_000);
    const took = Date.now() - released;
    // progressDeadlineSeconds 15, polled every 5 s: the hanging endpoint adds nothing.
    expect(took).toBeLessThan(30_000);
    const alerts = await alertsOf("stuck");
    expect(alerts.map((a) => [a.kind, a.cause, a.deliveries.map((d) => d.provider)])).toEqual([
      ["NewRevision", undefined, [`${ns}/default-teams`]],
      ["RolledBack", "canary-not-ready", [`${ns}/default-teams`]],
    ]);
    expect(receiver().received("/teams/workflows/hanging").length).toBeGreaterThan(0);
    expect(receiver().delivered("/teams/workflows/hanging")).toEqual([]);
  });

  it("treats chat.postMessage's ok:false as a failure: an AlertFailed event, no token anywhere", async () => {
    await quickApp("bot", [{ name: "bot", severity: "error", provider: "slack-bot" }]);
    await client.apply(deployment(ns, "bot", "6.0.1", { unschedulable: true }));
    const failed = await waitFor(() => alertsOf("bot"), {
      description: "the rollback's delivery recorded as failed",
      until: (a) => a[0]?.deliveries[0]?.state === "failed",
      timeoutMs: 30_000,
    });
    expect(failed[0]?.deliveries[0]).toMatchObject({
      provider: `${ns}/slack-bot`,
      attempts: 1,
      error: `Slack chat.postMessage at ${receiver().url}/*** answered ok:false (invalid_auth)`,
    });
    const events = await waitFor(
      async () => (await canaryEvents(client, ns, "bot")).filter((e) => e.reason === "AlertFailed"),
      { description: "the AlertFailed event", until: (e) => e.length > 0, timeoutMs: 10_000 },
    );
    expect(events[0]?.type).toBe("Warning");
    expect(events[0]?.message).toContain(`to AlertProvider ${ns}/slack-bot failed after 1 attempt`);
    const everything = [
      JSON.stringify(events),
      JSON.stringify(await getCanary(client, ns, "bot")),
      readFileSync(controller?.logFile ?? "", "utf8"),
    ].join("\n");
    for (const secretPart of [
      "xoxb-wrong-0000-secret",
      "errors-secret-path",
      "/slack/api/chat.postMessage",
    ]) {
      expect(everything).not.toContain(secretPart);
    }
    expect(failed.map((a) => a.kind)).toEqual(["RolledBack"]);
  });
});

describe("after a controller restart", () => {
  it("sends nothing that was already sent", async () => {
    const before = {
      errors: receiver().received("/slack/services/T0/B0/errors").length,
      generic: receiver().received("/generic/all").length,
      flaky: receiver().received("/slack/services/T0/B0/flaky").length,
      bot: receiver().received("/slack/api/").length,
    };
    await controller?.kill();
    controller = startControllerProcess(ns, controllerArgs());
    const log = () => readFileSync(controller?.logFile ?? "", "utf8");
    await waitFor(log, {
      description: "the new controller started",
      until: (l) => l.includes("kanaria controller started"),
    });
    // The first reconcile of every Canary follows the initial list at once; give them a few ticks.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    expect({
      errors: receiver().received("/slack/services/T0/B0/errors").length,
      generic: receiver().received("/generic/all").length,
      flaky: receiver().received("/slack/services/T0/B0/flaky").length,
      bot: receiver().received("/slack/api/").length,
    }).toEqual(before);
    if (prometheusUrl) expect(before.errors).toBe(1);
    const events = await canaryEvents(client, ns, "bot");
    expect(events.filter((e) => e.reason === "AlertFailed").reduce((n, e) => n + e.count, 0)).toBe(1);
  });
});
