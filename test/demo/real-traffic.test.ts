// `make demo` on real traffic, without running it: when it picks the data plane and when the simulator
// (and what it says then), the example it applies there, and the release patches.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { canary as canarySchema } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { isBuiltinMetric } from "../../src/metrics/builtin.ts";
import { createRouter } from "../../src/routers/factory.ts";
import { validatePaths } from "../../src/validate/index.ts";
import { FakeKubeClient } from "../helpers/fake-client.ts";
import { loadExample, RELEASES } from "./example.ts";
import {
  chooseTraffic,
  dataplaneImpossible,
  MESSAGE_ENV,
  REAL_BEHAVIOUR,
  RELEASE_ARGS,
  realTrafficExample,
  releasePatch,
} from "./real-traffic.ts";

const NO_NS = "no network namespace: the data plane needs root (...)";

describe("the demo's choice of traffic", () => {
  const possible = () => undefined;
  const impossible = () => NO_NS;

  it("runs on real traffic through the Gateway API by default where a network namespace can be made", () => {
    expect(chooseTraffic({}, possible)).toEqual({ real: true, provider: "gatewayapi" });
    expect(chooseTraffic({ provider: "gatewayapi" }, possible)).toEqual({
      real: true,
      provider: "gatewayapi",
    });
    expect(chooseTraffic({ dataplane: "traefik" }, possible)).toEqual({ real: true, provider: "gatewayapi" });
  });

  it("falls back to the simulator elsewhere and says why in one line", () => {
    expect(chooseTraffic({}, impossible)).toEqual({
      real: false,
      provider: "nginx",
      simulatorBecause: `${NO_NS}: metrics come from the simulator`,
    });
    expect(chooseTraffic({ provider: "gatewayapi" }, impossible).provider).toBe("gatewayapi");
  });

  it("takes KANARIA_DATAPLANE empty or off as the simulator, without asking the machine", () => {
    const never = () => {
      throw new Error("must not be asked");
    };
    expect(chooseTraffic({ dataplane: "" }, never)).toEqual({
      real: false,
      provider: "nginx",
      simulatorBecause: "KANARIA_DATAPLANE is empty: metrics come from the simulator",
    });
    expect(chooseTraffic({ dataplane: "off", provider: "gatewayapi" }, never)).toEqual({
      real: false,
      provider: "gatewayapi",
      simulatorBecause: "KANARIA_DATAPLANE is off: metrics come from the simulator",
    });
  });

  it("keeps the simulator for an explicit nginx provider (real traffic goes through an HTTPRoute)", () => {
    expect(chooseTraffic({ provider: "nginx" }, possible)).toMatchObject({
      real: false,
      provider: "nginx",
      simulatorBecause: expect.stringMatching(
        /^KANARIA_DEMO_PROVIDER=nginx, and the demo's real traffic goes through the Gateway API .*: metrics come from the simulator$/,
      ),
    });
  });

  it("refuses what it cannot do, naming the variable and the way out", () => {
    expect(() => chooseTraffic({ dataplane: "traefik" }, impossible)).toThrow(
      `KANARIA_DATAPLANE=traefik, but ${NO_NS}; unset it to run on the simulator`,
    );
    expect(() => chooseTraffic({ dataplane: "traefik", provider: "nginx" }, possible)).toThrow(
      /KANARIA_DATAPLANE=traefik needs KANARIA_DEMO_PROVIDER=gatewayapi or unset/,
    );
    expect(() => chooseTraffic({ dataplane: "envoy" }, possible)).toThrow(
      'KANARIA_DATAPLANE must be traefik, off or empty (unset: real traffic where a network namespace can be made), got "envoy"',
    );
    expect(() => chooseTraffic({ provider: "istio" }, possible)).toThrow(/KANARIA_DEMO_PROVIDER/);
  });

  it("asks cluster.sh, which answers for this machine", () => {
    const why = dataplaneImpossible();
    if (process.getuid?.() === 0) {
      // Root: possible unless the kernel or a container forbids namespaces, and then it says so.
      expect(why === undefined || why.startsWith("no network namespace: unshare --net failed")).toBe(true);
    } else {
      expect(why).toMatch(/^no network namespace: the data plane needs root .* uid \d+$/);
    }
  });
});

describe("the example on real traffic", () => {
  const example = realTrafficExample(loadExample(), "kanaria-dataplane/traefik");

  it("routes a generated HTTPRoute through the data plane's Gateway, checked on Traefik's series", () => {
    const canary = canarySchema.parse({
      ...example.canary,
      metadata: { ...example.canary.metadata, uid: "u" },
    });
    expect(canary.spec.provider).toBe("gatewayapi");
    expect(canary.spec.ingressRef).toBeUndefined();
    expect(canary.spec.service.gatewayRefs).toEqual([{ name: "traefik", namespace: "kanaria-dataplane" }]);
    expect(canary.spec.service.hosts).toEqual(["podinfo.example.test"]);
    const router = createRouter("gatewayapi", { client: new FakeKubeClient() });
    expect(() => router.check({ canary, resolved: resolveCanary(canary.spec) })).not.toThrow();
    // examples/podinfo's built-in checks as they are: no MetricTemplate, no query. The controller
    // reads them from Traefik's series because the Gateway's class is Traefik's
    // (real-traffic-run.test.ts sees it do so on the data plane).
    expect(canary.spec.analysis.metrics).toEqual([
      { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "30s" },
      { name: "request-duration", thresholdRange: { max: 500 }, interval: "30s" },
    ]);
    expect(canary.spec.analysis.metrics?.every((m) => isBuiltinMetric(m.name))).toBe(true);
    expect(canary.spec.analysis).toEqual(loadExample().canary.spec.analysis);
    expect(example.objects.map((o) => `${o.obj.kind}/${o.obj.metadata.name}`)).toEqual([
      "Namespace/podinfo",
      "Deployment/podinfo",
      "Canary/podinfo",
    ]);
    // Every object is examples/podinfo's (the demo names the files it applies).
    expect(new Set(example.objects.map((o) => path.basename(o.file)))).toEqual(
      new Set(["app.yaml", "canary.yaml"]),
    );
  });

  it("passes `kanaria validate --strict` as the files a user would write", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "kanaria-demo-real-"));
    writeFileSync(path.join(dir, "all.yaml"), example.objects.map((o) => stringify(o.obj)).join("---\n"));
    const result = await validatePaths([dir], { strict: true });
    expect(result.problems).toEqual([]);
    // kanaria.dev objects: the Canary alone (the checks need no MetricTemplate).
    expect(result.objects).toBe(1);
  });

  it("makes each release's podinfo say its tag, and the bad one fail with podinfo's own fault injection", () => {
    const deployment = example.objects.find((o) => o.obj.kind === "Deployment")?.obj as unknown as {
      spec: { template: { spec: { containers: { env?: unknown[] }[] } } };
    };
    expect(deployment.spec.template.spec.containers[0]?.env).toEqual([{ name: MESSAGE_ENV, value: "6.0.0" }]);
    const image = "ghcr.io/stefanprodan/podinfo:6.0.2";
    expect(releasePatch("podinfod", image)).toEqual({
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "podinfod",
                image,
                args: ["--random-error"],
                env: [{ name: MESSAGE_ENV, value: "6.0.2" }],
              },
            ],
          },
        },
      },
    });
    // null removes args in a strategic merge patch: a good release after a bad one drops the fault.
    const good = releasePatch("podinfod", "ghcr.io/stefanprodan/podinfo:6.0.1") as {
      spec: { template: { spec: { containers: { args: unknown }[] } } };
    };
    expect(good.spec.template.spec.containers[0]?.args).toBeNull();
    for (const r of RELEASES) {
      expect(REAL_BEHAVIOUR[r.tag], r.tag).toBeDefined();
      expect(RELEASE_ARGS[r.tag] !== undefined, r.tag).toBe(r.expected === "rolled back");
    }
  });

  it("names what is wrong with a GATEWAY it cannot use", () => {
    expect(() => realTrafficExample(loadExample(), "traefik")).toThrow(
      'GATEWAY in the cluster\'s env file must be namespace/name, got "traefik"',
    );
  });
});
