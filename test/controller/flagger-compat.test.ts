// Flagger's forms on the real controller: a DaemonSet target through a release and a rollback (the
// canary DaemonSet parked with Flagger's node selector between releases, its pods on KWOK nodes run by
// the real DaemonSet controller), and a release under Flagger's gatewayapi:v1 spelling.
import { describe, expect, it } from "vitest";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import type { HTTPRoute } from "../../src/routers/gatewayapi/types.ts";
import type { DaemonSet } from "../../src/workloads/meta.ts";
import {
  canaryEvents,
  getCanary,
  recordChanges,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE } from "../support/manifests.ts";

const ns = useNamespace("flagger-compat");
const client = testClient();
useController(ns);

const PARKED = "flagger.app/scale-to-zero";
const dsRef = (name: string) => ({ apiVersion: "apps/v1", kind: "DaemonSet", namespace: ns, name });
const getDaemonSet = (name: string) => client.get<DaemonSet>(dsRef(name));
const imageOfDs = (d: DaemonSet | undefined) => d?.spec?.template.spec?.containers[0]?.image;
const parked = (d: DaemonSet | undefined) => d?.spec?.template.spec?.nodeSelector?.[PARKED] === "true";

function daemonSet(name: string, tag: string, nodeSelector?: Record<string, string>): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...(nodeSelector ? { nodeSelector } : {}),
          containers: [
            {
              name: "podinfod",
              image: `${IMAGE}:${tag}`,
              ports: [{ name: "http", containerPort: 9898, protocol: "TCP" }],
            },
          ],
        },
      },
    },
  } as KubeObject;
}

/** The release's image, as a user changes it: the template's container, the parking selector untouched. */
async function releaseDs(name: string, tag: string, nodeSelector?: Record<string, string>): Promise<void> {
  await client.mergePatch(dsRef(name), {
    spec: {
      template: {
        spec: {
          containers: [{ name: "podinfod", image: `${IMAGE}:${tag}` }],
          ...(nodeSelector ? { nodeSelector } : {}),
        },
      },
    },
  });
}

const settled = (name: string, what: string, until: (d: DaemonSet | undefined) => boolean) =>
  waitFor(() => getDaemonSet(name), {
    description: `DaemonSet ${ns}/${name} ${what}`,
    until,
    timeoutMs: 90_000,
  });

describe.concurrent("Flagger's forms on the real controller", () => {
  it("releases a DaemonSet through a -primary DaemonSet and rolls a bad one back, parked between releases", async () => {
    await client.apply(daemonSet("agent", "6.0.0"));
    const spec: Partial<CanarySpec> & Pick<CanarySpec, "analysis"> = {
      provider: "kubernetes",
      targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "agent" },
      progressDeadlineSeconds: 20,
      analysis: { interval: "10s", iterations: 2 },
    };
    await client.apply(canary(ns, "agent", spec));
    const initialized = await waitForPhase(client, ns, "agent", "Initialized");
    expect(initialized.status?.router).toBe("kubernetes");
    const primary = await settled(
      "agent-primary",
      "running on both nodes",
      (d) => (d?.status?.numberAvailable ?? 0) === 2,
    );
    expect(imageOfDs(primary)).toBe(`${IMAGE}:6.0.0`);
    expect(primary?.spec?.selector?.matchLabels).toEqual({ app: "agent-primary" });
    expect(primary?.spec?.template.spec?.nodeSelector ?? {}).not.toHaveProperty(PARKED);
    // Parked: the node selector no node carries, and the DaemonSet controller runs no pod of it.
    await settled(
      "agent",
      "parked with no pods",
      (d) =>
        parked(d) &&
        (d?.status?.currentNumberScheduled ?? 1) === 0 &&
        (d?.status?.numberAvailable ?? 0) === 0,
    );
    const apex = await client.get<KubeObject & { spec?: { selector?: Record<string, string> } }>({
      apiVersion: "v1",
      kind: "Service",
      namespace: ns,
      name: "agent",
    });
    expect(apex?.spec?.selector).toEqual({ app: "agent-primary" });

    // A release: unparked, analysed, promoted, parked again.
    const parkings = recordChanges(async () => parked(await getDaemonSet("agent")));
    await releaseDs("agent", "6.0.1");
    const done = await waitForPhase(client, ns, "agent", "Succeeded", 120_000);
    expect(done.status?.iterations).toBe(2);
    await settled(
      "agent-primary",
      "promoted to 6.0.1 on both nodes",
      (d) =>
        imageOfDs(d) === `${IMAGE}:6.0.1` &&
        (d?.status?.updatedNumberScheduled ?? 0) === 2 &&
        (d?.status?.numberAvailable ?? 0) === 2,
    );
    await settled("agent", "parked again", parked);
    expect(await parkings.stop()).toEqual([true, false, true]);

    // A revision that never becomes ready (no node matches its node selector): rolled back at the deadline.
    await releaseDs("agent", "6.0.2", { "kanaria.dev/test": "no-such-node" });
    const failed = await waitForPhase(client, ns, "agent", "Failed", 120_000);
    expect(failed.status?.conditions?.find((c) => c.type === "Stalled")?.message).toMatch(
      /not ready after \d+s \(progressDeadlineSeconds 20\)/,
    );
    expect(imageOfDs(await getDaemonSet("agent-primary"))).toBe(`${IMAGE}:6.0.1`);
    const target = await settled("agent", "parked after the rollback", parked);
    expect(target?.spec?.template.spec?.nodeSelector).toEqual({
      "kanaria.dev/test": "no-such-node",
      [PARKED]: "true",
    });
    const events = await canaryEvents(client, ns, "agent");
    expect(events.find((e) => e.reason === "RolledBack")?.type).toBe("Warning");
  });

  it("restores a -primary DaemonSet whose promoted revision never becomes ready from its ControllerRevisions", async () => {
    await client.apply(daemonSet("dsfail", "6.0.0"));
    await client.apply(
      canary(ns, "dsfail", {
        provider: "kubernetes",
        targetRef: { apiVersion: "apps/v1", kind: "DaemonSet", name: "dsfail" },
        progressDeadlineSeconds: 20,
        analysis: { interval: "10s", iterations: 1 },
      }),
    );
    const initialized = await waitForPhase(client, ns, "dsfail", "Initialized");
    await settled("dsfail", "parked", parked);
    // 6.0.1 keeps away from pods labelled app=dsfail: the canary's pods run (one per node), but the
    // primary's copy of the template cannot schedule beside them, so the promotion never becomes ready.
    await client.mergePatch(dsRef("dsfail"), {
      spec: {
        template: {
          spec: {
            containers: [{ name: "podinfod", image: `${IMAGE}:6.0.1` }],
            affinity: {
              podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [
                  {
                    labelSelector: { matchLabels: { app: "dsfail" } },
                    topologyKey: "kubernetes.io/hostname",
                  },
                ],
              },
            },
          },
        },
      },
    });
    await waitForPhase(client, ns, "dsfail", "Promoting", 90_000);
    const failed = await waitForPhase(client, ns, "dsfail", "Failed", 150_000);
    expect(failed.status?.lastPromotedSpec).toBe(initialized.status?.lastPromotedSpec);
    expect(failed.status?.restoring).toBeUndefined();
    const primary = await settled(
      "dsfail-primary",
      "back on 6.0.0 on both nodes",
      (d) => imageOfDs(d) === `${IMAGE}:6.0.0` && (d?.status?.numberAvailable ?? 0) === 2,
    );
    expect(primary?.metadata.annotations?.["kanaria.dev/revision"]).toBe(failed.status?.lastPromotedSpec);
    expect(primary?.spec?.template.spec?.affinity).toBeUndefined();
    await settled("dsfail", "parked after the rollback", parked);
  });

  it("runs Flagger's gatewayapi:v1 as the gatewayapi router, and warns once that iterations win over stepWeight", async () => {
    await client.apply(deployment(ns, "gw", "6.0.0"));
    await client.apply(
      canary(ns, "gw", {
        provider: "gatewayapi:v1",
        service: {
          port: 80,
          targetPort: 9898,
          gatewayRefs: [
            { group: "gateway.networking.k8s.io", kind: "Gateway", name: "public", namespace: "gateways" },
          ],
        },
        analysis: { interval: "10s", iterations: 2, stepWeight: 20 },
      }),
    );
    const initialized = await waitForPhase(client, ns, "gw", "Initialized");
    expect(initialized.status?.router).toBe("gatewayapi");
    const route = () =>
      client.get<HTTPRoute>({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        namespace: ns,
        name: "gw",
      });
    const weights = recordChanges(async () =>
      (await route())?.spec?.rules?.[0]?.backendRefs?.map((b) => `${b.name}=${b.weight}`).join(","),
    );
    await setImage(client, ns, "gw", `${IMAGE}:6.0.1`);
    const done = await waitForPhase(client, ns, "gw", "Succeeded", 120_000);
    expect(done.status?.iterations).toBe(2);
    // Blue/green: all traffic to the canary for the promotion, never a 20 % step.
    expect(await weights.stop()).toEqual([
      "gw-primary=100,gw-canary=0",
      "gw-primary=0,gw-canary=100",
      "gw-primary=100,gw-canary=0",
    ]);
    const ignored = (await canaryEvents(client, ns, "gw")).filter((e) => e.reason === "SettingsIgnored");
    expect(ignored).toEqual([
      expect.objectContaining({
        type: "Warning",
        message: "As in Flagger: analysis.stepWeight ignored: analysis.iterations selects blue/green",
      }),
    ]);
    expect((await getCanary(client, ns, "gw")).status?.router).toBe("gatewayapi");
  });
});
