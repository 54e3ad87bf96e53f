// `KANARIA_DEMO_PROVIDER=gatewayapi make demo`: the same story on Gateway API. The example's nginx
// Canary becomes a gatewayapi Canary in generated-route mode (kanaria creates the HTTPRoute "podinfo",
// attached to the Gateway "demo", for the Ingress' host); the simulator reads the split from that
// HTTPRoute and serves the application's own histogram, which the built-in gatewayapi checks read behind
// Envoy Gateway (as Flagger's). No Gateway controller runs, so the GatewayClass and Gateway are only
// there for the route to name.
import { spawnSync } from "node:child_process";
import path from "node:path";
import type { CanarySpec } from "../../src/api/canary.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import type { Example } from "./example.ts";
import { REPO_ROOT } from "./processes.ts";

export type DemoProvider = "nginx" | "gatewayapi";

/** KANARIA_DEMO_PROVIDER: nginx (default) or gatewayapi. */
export function demoProvider(value = process.env.KANARIA_DEMO_PROVIDER): DemoProvider {
  if (value === undefined || value === "" || value === "nginx") return "nginx";
  if (value === "gatewayapi") return "gatewayapi";
  throw new Error(`KANARIA_DEMO_PROVIDER must be nginx or gatewayapi, got "${value}"`);
}

const GATEWAY_NAME = "demo";

function hostsOf(ingress: KubeObject | undefined): string[] {
  const rules = (ingress as { spec?: { rules?: { host?: string }[] } } | undefined)?.spec?.rules ?? [];
  return rules.flatMap((r) => (r.host ? [r.host] : []));
}

/** The example for a provider: as written for nginx; for gatewayapi the Canary routes with an HTTPRoute. */
export function exampleFor(example: Example, provider: DemoProvider): Example {
  if (provider === "nginx") return example;
  const { namespace } = example;
  const ingressName = example.canary.spec.ingressRef?.name;
  const ingress = example.objects.find(
    (o) => o.obj.kind === "Ingress" && o.obj.metadata.name === ingressName,
  );
  const { ingressRef: _, ...rest } = example.canary.spec;
  const hosts = hostsOf(ingress?.obj);
  const spec: CanarySpec = {
    ...rest,
    provider: "gatewayapi",
    service: {
      ...rest.service,
      gatewayRefs: [{ name: GATEWAY_NAME, namespace }],
      ...(hosts.length > 0 && { hosts }),
    },
  };
  const canary = { ...example.canary, spec };
  const file = ingress?.file ?? example.objects[0]?.file ?? "";
  const gateway: { file: string; obj: KubeObject }[] = [
    {
      file,
      obj: {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GatewayClass",
        metadata: { name: GATEWAY_NAME },
        spec: { controllerName: "gateway.envoyproxy.io/gatewayclass-controller" },
      } as KubeObject,
    },
    {
      file,
      obj: {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: { name: GATEWAY_NAME, namespace },
        spec: {
          gatewayClassName: GATEWAY_NAME,
          listeners: [
            { name: "http", protocol: "HTTP", port: 80, allowedRoutes: { namespaces: { from: "Same" } } },
          ],
        },
      } as KubeObject,
    },
  ];
  const objects = example.objects.flatMap((o) => {
    if (o === ingress) return gateway;
    if (o.obj === example.canary) return [{ file: o.file, obj: canary as KubeObject }];
    return [o];
  });
  return { ...example, objects, canary };
}

/** The Gateway API CRDs (HTTPRoute, Gateway, ...) from the Go module cache, as the test setup installs them. */
export function gatewayApiCrdFiles(): string[] {
  const res = spawnSync("bash", [path.join(REPO_ROOT, "test/cluster/cluster.sh"), "third-party-crds"], {
    encoding: "utf8",
  });
  if (res.status !== 0) throw new Error(`cluster.sh third-party-crds failed:\n${res.stderr}`);
  return res.stdout.split("\n").filter((f) => f.includes("gateway.networking.k8s.io_"));
}
