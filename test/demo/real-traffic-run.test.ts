// `make demo`'s real-traffic path on the test cluster's data plane (KANARIA_DATAPLANE=traefik; skipped
// without it): the demo's own example (realTrafficExample), release patches, load and count
// (load.ts), with a controller process whose built-in checks (examples/podinfo's, as they are) read
// Traefik's series because the Gateway's class is Traefik's. The good release is promoted with the
// split measured at each step near its weight and no failed request; the bad one (podinfo
// --random-error) is rolled back on the 5xx rate Traefik measured, and the failures the demo's
// requests met came from it.
import { PatchStrategy } from "@kubernetes/client-node";
import { afterAll, describe, expect, inject, it } from "vitest";
import { parseDuration } from "../../src/api/common.ts";
import { KubeRest } from "../../src/kube/rest.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import {
  canaryEvents,
  getCanary,
  getDeployment,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";
import { realDataPlane } from "../support/real-traffic.ts";
import { type Example, IMAGE_REPO, loadExample, RPS } from "./example.ts";
import { type Load, sendOne, startLoad, TrafficMeter } from "./load.ts";
import { realTrafficExample, releasePatch } from "./real-traffic.ts";

const dataplane = realDataPlane();
const prometheusUrl = inject("prometheusUrl");
const ns = useNamespace("demo-real");
// As the demo starts it: the built-in checks go to --metrics-server.
useController(ns, () => ["--metrics-server", prometheusUrl]);
const client = testClient();

/** examples/podinfo moved into this file's namespace, with a host of its own on the shared Gateway. */
function exampleHere(): Example {
  const example = loadExample();
  for (const { obj } of example.objects) {
    if (obj.metadata.namespace !== undefined) obj.metadata.namespace = ns;
    const rules = (obj as { spec?: { rules?: { host?: string }[] } }).spec?.rules;
    if (obj.kind === "Ingress") for (const r of rules ?? []) r.host = `podinfo.${ns}.test`;
  }
  return realTrafficExample({ ...example, namespace: ns }, dataplane?.gateway ?? "");
}

interface RouteObject extends KubeObject {
  spec?: { rules?: { backendRefs?: { name?: string; weight?: number }[] }[] };
}

interface Seen {
  at: number;
  weight: number;
  progressing: boolean;
}

/** The canary's weight on the HTTPRoute and whether the Canary is Progressing, each time either changed. */
function recordSteps(name: string): { stop: () => Promise<Seen[]> } {
  const seen: Seen[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const [route, canary] = await Promise.all([
        client.get<RouteObject>({
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          namespace: ns,
          name,
        }),
        getCanary(client, ns, name),
      ]);
      const weighted = route?.spec?.rules?.find((r) => r.backendRefs?.length === 2);
      const weight = weighted?.backendRefs?.find((b) => b.name === `${name}-canary`)?.weight;
      const progressing = canary.status?.phase === "Progressing";
      const last = seen.at(-1);
      if (weight !== undefined && (last?.weight !== weight || last.progressing !== progressing))
        seen.push({ at: Date.now(), weight, progressing });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

let load: Load | undefined;
afterAll(async () => {
  await load?.stop();
});

describe.skipIf(!dataplane)("make demo on real traffic (the data plane's Traefik)", () => {
  it("promotes the good release with the measured split near each weight and no failed request, and rolls the bad one back on Traefik's 5xx rate", async () => {
    const example = exampleHere();
    const { name, container } = example;
    const host = example.canary.spec.service.hosts?.[0] ?? "";
    for (const { obj } of example.objects) if (obj.kind !== "Namespace") await client.apply(obj);
    await waitForPhase(client, ns, name, "Initialized", 60_000);
    await waitFor(() => sendOne(dataplane?.proxyUrl ?? "", host), {
      description: `Traefik serving ${host} from podinfo 6.0.0`,
      until: (o) => "release" in o && o.release === "6.0.0",
      timeoutMs: 30_000,
    });
    const meter = new TrafficMeter();
    load = startLoad({
      url: dataplane?.proxyUrl ?? "",
      host,
      rps: RPS,
      onOutcome: (at, o) => meter.record(at, o),
    });
    const rest = new KubeRest(kubeConnection());
    const deploymentPath = await rest.resourcePath({
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace: ns,
      name,
    });
    const release = async (tag: string) =>
      rest.request("PATCH", deploymentPath, {
        body: releasePatch(container, `${IMAGE_REPO}:${tag}`),
        contentType: PatchStrategy.StrategicMergePatch,
      });

    // The good release: each step's requests (from 1.5 s after the weight was seen, as the demo
    // counts them) split like the weight.
    const goodStart = Date.now();
    const recorder = recordSteps(name);
    await release("6.0.1");
    await waitForPhase(client, ns, name, "Succeeded", 150_000);
    const goodEnd = Date.now();
    const seen = await recorder.stop();
    const analysis = example.canary.spec.analysis;
    // A step: a weight held while Progressing, until the weight or the phase changed (Promoting: the
    // primary rolls out 6.0.1 too, so answers no longer tell the canary's share).
    const steps = seen.flatMap((s, i) => {
      const next = seen[i + 1];
      if (!s.progressing || s.weight === 0 || !next) return [];
      const t = meter.between(s.at + 1_500, next.at);
      const answered = t.byRelease.find(([r]) => r === "6.0.1")?.[1] ?? 0;
      return [{ weight: s.weight, answered, total: t.total, share: (answered / t.total) * 100 }];
    });
    expect(steps.map((s) => s.weight)).toEqual([20, 40, 60]);
    expect(seen.at(-1)?.weight).toBe(0);
    console.info(`[demo real traffic] good release steps: ${JSON.stringify(steps)}`);
    for (const s of steps) {
      // At least 5 s of 50 req/s per step (the interval is 10 s); 8 points is over 3 standard deviations.
      expect(s.total, `requests at weight ${s.weight}`).toBeGreaterThan(200);
      expect(Math.abs(s.share - s.weight), `measured ${s.share}% at weight ${s.weight}%`).toBeLessThanOrEqual(
        8,
      );
    }
    const good = meter.between(goodStart, goodEnd);
    expect(good.byFailure).toEqual([]);
    expect(good.total).toBeGreaterThan(1_000);
    const primary = await getDeployment(client, ns, `${name}-primary`);
    expect(primary?.spec?.template?.spec?.containers?.[0]?.image).toBe(`${IMAGE_REPO}:6.0.1`);

    // The bad release, once the checks' window holds none of the good release's canary requests.
    const windowMs = Math.max(...(analysis.metrics ?? []).map((m) => parseDuration(m.interval ?? "1m")));
    await new Promise((r) => setTimeout(r, windowMs + 2_000));
    const badStart = Date.now();
    await release("6.0.2");
    const failed = await waitForPhase(client, ns, name, "Failed", 150_000);
    // The route goes back to the primary before the phase says Failed; requests in flight end within 5 s.
    await new Promise((r) => setTimeout(r, 5_000));
    const bad = meter.between(badStart, Date.now());
    const check = failed.status?.checks?.find((c) => c.name === "request-success-rate");
    console.info(
      `[demo real traffic] bad release: ${check?.value} % success on Traefik's series; the demo's requests: ${JSON.stringify(bad)}`,
    );
    expect(check?.result).toBe("fail");
    expect(check?.value).toBeLessThan(99);
    expect(check?.value).toBeGreaterThan(50);
    const events = await canaryEvents(client, ns, name);
    // Told once: the built-ins read Traefik's series, and why (the demo shows this event as it comes).
    expect(events.filter((e) => e.reason === "BuiltinMetrics").map((e) => `${e.type}: ${e.message}`)).toEqual(
      [
        "Normal: the built-in metrics read Traefik's series: GatewayClass " +
          `${dataplane?.gatewayClass} (traefik.io/gateway-controller) of Gateway ${dataplane?.gateway}`,
      ],
    );
    const rolledBack = events.filter((e) => e.reason === "RolledBack");
    expect(rolledBack.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /failed checks threshold reached 2\/2: request-success-rate \d+(\.\d+)? is below the minimum 99 \(prometheus, Traefik's series\)$/,
      ),
    ]);
    // podinfo --random-error answers 500, 400 or 409 with no body; every good answer said who gave it.
    expect(bad.failed).toBeGreaterThan(0);
    expect(bad.byFailure.filter(([why]) => !/^HTTP (500|400|409)$/.test(why))).toEqual([]);
    expect(new Set(bad.byRelease.map(([r]) => r))).toEqual(new Set(["6.0.1", "6.0.2"]));
    // After the rollback only the primary (6.0.1) answers, without failures.
    const after = meter.between(Date.now() - 3_000, Date.now());
    expect(after.byFailure).toEqual([]);
    expect(after.byRelease.map(([r]) => r)).toEqual(["6.0.1"]);
  }, 420_000);
});
