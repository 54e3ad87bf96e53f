// `make demo` on real traffic: where this machine can make a network namespace, the demo's cluster runs
// the data plane (cluster.sh with KANARIA_DATAPLANE=traefik): Traefik routes the demo's own requests by
// the HTTPRoute weights kanaria writes to real podinfo processes, and kanaria judges each release on
// what Traefik measured: examples/podinfo's built-in checks, which read Traefik's traefik_service_*
// series because the Gateway's GatewayClass is Traefik's (the controller says so in a BuiltinMetrics
// Event). Elsewhere the demo runs on the traffic simulator, as before, and says why.
import { spawnSync } from "node:child_process";
import type { CanarySpec } from "../../src/api/canary.ts";
import { tagOf } from "../../src/cli/view.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import type { Example } from "./example.ts";
import { type DemoProvider, demoProvider } from "./gatewayapi.ts";
import { CLUSTER_SH, REPO_ROOT } from "./processes.ts";

/** How the demo's traffic is made, and the one line that says why when it is the simulator. */
export interface TrafficChoice {
  /** true: the data plane (Traefik, podinfo processes); false: the simulator. */
  real: boolean;
  provider: DemoProvider;
  /** Why the simulator makes the metrics (undefined on real traffic). */
  simulatorBecause?: string;
}

/**
 * KANARIA_DATAPLANE unset: real traffic where a network namespace can be made (`possible` returns
 * undefined), else the simulator. "" or "off": the simulator. "traefik": real traffic or an error.
 * Real traffic goes through Traefik's Gateway API provider, so it needs the gatewayapi provider; an
 * explicit KANARIA_DEMO_PROVIDER=nginx keeps the simulator (the demo's real traffic goes through an
 * HTTPRoute; the nginx router on real traffic is test/e2e/real-traffic-nginx.test.ts's).
 */
export function chooseTraffic(
  env: { dataplane?: string | undefined; provider?: string | undefined },
  possible: () => string | undefined,
): TrafficChoice {
  const explicit = env.provider ? demoProvider(env.provider) : undefined;
  const simulator = (because: string): TrafficChoice => ({
    real: false,
    provider: explicit ?? "nginx",
    simulatorBecause: `${because}: metrics come from the simulator`,
  });
  const nginxOnly =
    "KANARIA_DEMO_PROVIDER=nginx, and the demo's real traffic goes through the Gateway API (an HTTPRoute on the data plane's Traefik)";
  switch (env.dataplane) {
    case undefined: {
      if (explicit === "nginx") return simulator(nginxOnly);
      const reason = possible();
      return reason ? simulator(reason) : { real: true, provider: "gatewayapi" };
    }
    case "":
    case "off":
      return simulator(`KANARIA_DATAPLANE is ${env.dataplane === "" ? "empty" : "off"}`);
    case "traefik": {
      if (explicit === "nginx")
        throw new Error(
          `KANARIA_DATAPLANE=traefik needs KANARIA_DEMO_PROVIDER=gatewayapi or unset: ${nginxOnly}`,
        );
      const reason = possible();
      if (reason)
        throw new Error(`KANARIA_DATAPLANE=traefik, but ${reason}; unset it to run on the simulator`);
      return { real: true, provider: "gatewayapi" };
    }
    default:
      throw new Error(
        `KANARIA_DATAPLANE must be traefik, off or empty (unset: real traffic where a network namespace can be made), got "${env.dataplane}"`,
      );
  }
}

/** cluster.sh dataplane-possible: undefined when the data plane can run here, else why not. */
export function dataplaneImpossible(): string | undefined {
  const res = spawnSync("bash", [CLUSTER_SH, "dataplane-possible"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (res.status === 0) return undefined;
  const why = res.stdout.trim() || res.stderr.trim();
  return why || `cluster.sh dataplane-possible exited ${res.status ?? res.signal}`;
}

/** podinfo answers with this env var's value as "message": each release says which one it is. */
export const MESSAGE_ENV = "PODINFO_UI_MESSAGE";

/** What makes a release bad on real traffic: podinfo's own fault injection. */
export const RELEASE_ARGS: Readonly<Record<string, string[]>> = {
  "6.0.2": ["--random-error"],
};

/** How each release behaves on real traffic (the intro's and the release step's words). */
export const REAL_BEHAVIOUR: Readonly<Record<string, string>> = {
  "6.0.1": "a good build",
  "6.0.2": "a bad build: podinfo --random-error answers about a third of its requests with 500, 400 or 409",
};

type DeploymentObject = KubeObject & {
  spec: { template: { spec: { containers: { name: string; image?: string; env?: unknown[] }[] } } };
};

/**
 * The example for real traffic through the data plane's Gateway (GATEWAY, "namespace/name"): the
 * Canary routes with an HTTPRoute kanaria generates for the Ingress' host and attaches to that Gateway;
 * its checks are examples/podinfo's built-ins as they are: the controller finds the Gateway's class is
 * Traefik's and reads Traefik's series (the controller's --metrics-server); the Deployment's podinfo
 * says its tag as its message. The Ingress goes: the route is the HTTPRoute.
 */
export function realTrafficExample(example: Example, gateway: string): Example {
  const [gwNamespace, gwName, ...rest] = gateway.split("/");
  if (!gwNamespace || !gwName || rest.length > 0)
    throw new Error(`GATEWAY in the cluster's env file must be namespace/name, got "${gateway}"`);
  const { namespace, name } = example;
  const ingressName = example.canary.spec.ingressRef?.name;
  const ingress = example.objects.find(
    (o) => o.obj.kind === "Ingress" && o.obj.metadata.name === ingressName,
  );
  const hosts = (
    (ingress?.obj as { spec?: { rules?: { host?: string }[] } } | undefined)?.spec?.rules ?? []
  ).flatMap((r) => (r.host ? [r.host] : []));
  if (hosts.length === 0)
    throw new Error(`the Ingress ${namespace}/${ingressName} in examples/podinfo/ names no host to route`);
  const { ingressRef: _, ...specRest } = example.canary.spec;
  const spec: CanarySpec = {
    ...specRest,
    provider: "gatewayapi",
    service: { ...specRest.service, gatewayRefs: [{ name: gwName, namespace: gwNamespace }], hosts },
  };
  const canary = { ...example.canary, spec };
  const objects = example.objects.flatMap((o) => {
    if (o === ingress) return [];
    if (o.obj === example.canary) return [{ file: o.file, obj: canary as KubeObject }];
    if (o.obj.kind === "Deployment" && o.obj.metadata.name === name) {
      return [
        { file: o.file, obj: withMessage(o.obj as DeploymentObject, example.container, example.startImage) },
      ];
    }
    return [o];
  });
  return { ...example, objects, canary };
}

function withMessage(d: DeploymentObject, container: string, image: string): KubeObject {
  const containers = d.spec.template.spec.containers.map((c) =>
    c.name === container ? { ...c, env: [...(c.env ?? []), { name: MESSAGE_ENV, value: tagOf(image) }] } : c,
  );
  const out: DeploymentObject = {
    ...d,
    spec: { ...d.spec, template: { ...d.spec.template, spec: { ...d.spec.template.spec, containers } } },
  };
  return out;
}

/**
 * A release on real traffic, as one strategic merge patch of the Deployment's container: the new
 * image, the message that says which release answered, and the release's podinfo flags (none: args
 * removed).
 */
export function releasePatch(container: string, image: string): Record<string, unknown> {
  const tag = tagOf(image);
  return {
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: container,
              image,
              args: RELEASE_ARGS[tag] ?? null,
              env: [{ name: MESSAGE_ENV, value: tag }],
            },
          ],
        },
      },
    },
  };
}
