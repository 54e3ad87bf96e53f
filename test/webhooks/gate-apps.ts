// What the webhook and CLI tests share: a namespace with its controller, local gate services, and
// podinfo releases under blue/green Canaries (kubernetes provider, no metrics) with webhooks.
import { afterAll, beforeAll } from "vitest";
import type { CanarySpec, CanaryWebhook } from "../../src/api/canary.ts";
import {
  canaryEvents,
  getDeployment,
  imageOf,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { type GateServer, startGateServer } from "../support/gate-server.ts";
import { useNamespace } from "../support/k8s.ts";
import { canary, deployment } from "../support/manifests.ts";

export function useGateApps(prefix: string) {
  const ns = useNamespace(prefix);
  const client = testClient();
  useController(ns);
  let server: GateServer | undefined;
  beforeAll(async () => {
    server = await startGateServer();
  });
  afterAll(() => server?.close());
  const gates = (): GateServer => {
    if (!server) throw new Error("useGateApps: the gate server starts in beforeAll");
    return server;
  };
  return {
    ns,
    client,
    gates,
    hook: (name: string, type: CanaryWebhook["type"], extra: Partial<CanaryWebhook> = {}): CanaryWebhook => ({
      name,
      type,
      url: gates().url(`/${name}`),
      timeout: "2s",
      ...extra,
    }),
    /** A podinfo Deployment at 6.0.0 and its Canary with these hooks, Initialized. */
    async app(name: string, webhooks: CanaryWebhook[], analysis: Partial<CanarySpec["analysis"]> = {}) {
      await client.apply(deployment(ns, name, "6.0.0"));
      await client.apply(
        canary(ns, name, {
          provider: "kubernetes",
          analysis: { interval: "10s", iterations: 1, webhooks, ...analysis },
        }),
      );
      await waitForPhase(client, ns, name, "Initialized");
    },
    // The whole Deployment, as a GitOps tool applies it (a merge patch of the image would drop the ports).
    release: (name: string) => client.apply(deployment(ns, name, "6.0.1")),
    primaryImage: async (name: string) => imageOf(await getDeployment(client, ns, `${name}-primary`)),
    messages: async (name: string) =>
      (await canaryEvents(client, ns, name)).map((e) => `${e.reason}: ${e.message}`),
  };
}
