// Canaries that cannot proceed get a clear Stalled condition and a Warning event; the controller keeps
// running and nothing else happens to the cluster.
import { describe, expect, it } from "vitest";
import type { Canary } from "../../src/api/canary.ts";
import {
  canaryEvents,
  canaryIngressWeight,
  getCanary,
  getDeployment,
  setImage,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment, IMAGE, nginxApp } from "../support/manifests.ts";

const ns = useNamespace("blockers");
const client = testClient();
useController(ns);

const blueGreen = { provider: "kubernetes" as const, analysis: { interval: "10s", iterations: 1 } };

function stalled(name: string): Promise<Canary> {
  return waitFor(() => getCanary(client, ns, name), {
    description: `Canary ${ns}/${name} to report Stalled`,
    until: (c) => c.status?.conditions?.some((x) => x.type === "Stalled" && x.status === "True") ?? false,
  });
}

const stalledCondition = (c: Canary) => c.status?.conditions?.find((x) => x.type === "Stalled");

describe.concurrent("blocked Canaries", () => {
  it("report a missing target and pick it up once it exists", async () => {
    await client.apply(canary(ns, "later", blueGreen));
    const c = await stalled("later");
    expect(stalledCondition(c)).toMatchObject({ reason: "TargetNotFound" });
    expect(stalledCondition(c)?.message).toContain("spec.targetRef.name");
    await client.apply(deployment(ns, "later", "6.0.0"));
    await waitForPhase(client, ns, "later", "Initialized");
  });

  it("let only the first of two Canaries on one Deployment act", async () => {
    await client.apply(deployment(ns, "shared", "6.0.0"));
    await client.apply(canary(ns, "shared", blueGreen));
    await waitForPhase(client, ns, "shared", "Initialized");
    await client.apply(
      canary(ns, "second", {
        ...blueGreen,
        targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "shared" },
      }),
    );
    const c = await stalled("second");
    expect(stalledCondition(c)).toMatchObject({ reason: "ConflictingCanary" });
    expect(stalledCondition(c)?.message).toContain("already the target of Canary shared");
    const events = await canaryEvents(client, ns, "second");
    expect(events.filter((e) => e.reason === "ConflictingCanary").map((e) => e.type)).toEqual(["Warning"]);
    expect((await getCanary(client, ns, "shared")).status?.phase).toBe("Initialized");
  });

  it("report a Deployment without a selector label kanaria knows", async () => {
    const d = deployment(ns, "unlabelled", "6.0.0") as never as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        template: { metadata: { labels: Record<string, string> } };
      };
    };
    d.spec.selector.matchLabels = { tier: "web" };
    d.spec.template.metadata.labels = { tier: "web" };
    await client.apply(d as never);
    await client.apply(canary(ns, "unlabelled", blueGreen));
    const c = await stalled("unlabelled");
    expect(stalledCondition(c)).toMatchObject({ reason: "MissingSelectorLabel" });
    expect(await getDeployment(client, ns, "unlabelled-primary")).toBeUndefined();
  });

  it("stall a mirrored release on the default kubernetes router before any traffic moves", async () => {
    await client.apply(deployment(ns, "mirror", "6.0.0"));
    // No spec.provider: the controller's default (kubernetes) cannot mirror requests. (Step weights it
    // drops, as Flagger does: test/controller/flagger-compat.test.ts.)
    await client.apply(canary(ns, "mirror", { analysis: { interval: "10s", iterations: 2, mirror: true } }));
    const c = await stalled("mirror");
    expect(stalledCondition(c)).toMatchObject({ reason: "UnsupportedRouting" });
    expect(stalledCondition(c)?.message).toBe(
      "spec.analysis.mirror is set, but provider kubernetes cannot mirror requests to the canary; " +
        "remove it, or use provider gatewayapi",
    );
    expect(c.status?.canaryWeight ?? 0).toBe(0);
    expect(await getDeployment(client, ns, "mirror-primary")).toBeUndefined();
  });

  it("stall a spec.service field the default kubernetes router does not act on, naming it and the fix", async () => {
    await client.apply(deployment(ns, "timeout", "6.0.0"));
    // No spec.provider, so the CRD cannot tell that nothing would read service.timeout: the controller,
    // whose --provider (kubernetes) ignores it as Flagger's kubernetes router does, says so.
    await client.apply(
      canary(ns, "timeout", {
        ...blueGreen,
        provider: undefined,
        service: { port: 80, targetPort: 9898, timeout: "30s" },
      }),
    );
    const c = await stalled("timeout");
    expect(stalledCondition(c)).toMatchObject({ reason: "UnsupportedRouting" });
    expect(stalledCondition(c)?.message).toBe(
      "spec.service.timeout is set, but provider kubernetes cannot use it: it sets the request timeout of the " +
        "generated route (HTTPRoute timeouts.request, App Mesh route timeout), which only provider gatewayapi or " +
        "appmesh writes (Flagger ignores it on kubernetes and nginx too); remove it or use provider gatewayapi or appmesh",
    );
    expect(await getDeployment(client, ns, "timeout-primary")).toBeUndefined();
  });

  it("report a numeric targetPort none of the declared container ports has", async () => {
    await client.apply(deployment(ns, "numport", "6.0.0"));
    await client.apply(canary(ns, "numport", { ...blueGreen, service: { port: 80, targetPort: 8080 } }));
    const c = await stalled("numport");
    expect(stalledCondition(c)).toMatchObject({ reason: "InvalidServicePort" });
    expect(stalledCondition(c)?.message).toContain("spec.service.targetPort 8080 is not a container port");
    expect(await getDeployment(client, ns, "numport-primary")).toBeUndefined();
  });

  it("send the traffic back to the primary when the target is deleted mid-analysis", async () => {
    for (const o of nginxApp(ns, "deleted", {
      interval: "10s",
      threshold: 1,
      stepWeight: 20,
      maxWeight: 60,
    })) {
      await client.apply(o);
    }
    await waitForPhase(client, ns, "deleted", "Initialized");
    await setImage(client, ns, "deleted", `${IMAGE}:6.0.1`);
    await waitFor(() => canaryIngressWeight(client, ns, "deleted"), {
      description: "canary weight 20",
      until: (w) => w === "20",
    });
    await client.delete({ apiVersion: "apps/v1", kind: "Deployment", namespace: ns, name: "deleted" });
    await waitFor(() => canaryIngressWeight(client, ns, "deleted"), {
      description: "canary weight back to 0 once the target is gone",
      until: (w) => w === "0",
      timeoutMs: 30_000,
    });
    const c = await stalled("deleted");
    expect(stalledCondition(c)).toMatchObject({ reason: "TargetNotFound" });
    expect(c.status).toMatchObject({ phase: "Progressing", canaryWeight: 0 });
  });

  it("report a targetPort the Deployment does not have", async () => {
    await client.apply(deployment(ns, "badport", "6.0.0"));
    await client.apply(canary(ns, "badport", { ...blueGreen, service: { port: 80, targetPort: "grpc" } }));
    const c = await stalled("badport");
    expect(stalledCondition(c)).toMatchObject({ reason: "InvalidServicePort" });
    expect(stalledCondition(c)?.message).toContain("spec.service.targetPort");
    expect(await getDeployment(client, ns, "badport-primary")).toBeUndefined();
  });
});

describe("routing the router cannot do", () => {
  it("reports an nginx Canary whose Ingress is missing", async () => {
    await client.apply(deployment(ns, "noingress", "6.0.0"));
    await client.apply(
      canary(ns, "noingress", {
        provider: "nginx",
        ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "missing" },
        analysis: { interval: "10s", stepWeight: 50 },
      }),
    );
    const c = await stalled("noingress");
    expect(stalledCondition(c)?.reason).toBe("InvalidRouting");
    expect(stalledCondition(c)?.message).toContain("missing");
  });
});

describe("metrics that cannot be read", () => {
  it("holds a new revision at weight 0 while its metric provider does not answer", async () => {
    await client.apply(deployment(ns, "unmeasured", "6.0.0"));
    await client.apply(
      canary(ns, "unmeasured", {
        provider: "kubernetes",
        // Nothing listens on port 1 of the loopback address: the connection is refused at once.
        metricsServer: "http://127.0.0.1:1",
        analysis: {
          interval: "10s",
          iterations: 1,
          metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }],
        },
      }),
    );
    await waitForPhase(client, ns, "unmeasured", "Initialized");
    await setImage(client, ns, "unmeasured", `${IMAGE}:6.0.1`);
    const held = await waitFor(() => canaryEvents(client, ns, "unmeasured"), {
      description: "a MetricsUnavailable event",
      until: (events) => events.some((e) => e.reason === "MetricsUnavailable"),
      timeoutMs: 60_000,
    });
    expect(held.find((e) => e.reason === "MetricsUnavailable")?.message).toMatch(
      /^holding unmeasured\.\S+ at weight 0: metric providers unreachable: prometheus at http:\/\/127\.0\.0\.1:1: /,
    );
    const c = await getCanary(client, ns, "unmeasured");
    expect(c.status).toMatchObject({ phase: "Progressing", canaryWeight: 0 });
    expect(c.status?.lastStepTime).toBeUndefined();
  });
});
