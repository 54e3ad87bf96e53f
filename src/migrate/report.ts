/**
 * What `kanaria migrate appmesh-to-gatewayapi` tells the user: per Canary, what changed, what could
 * not be mapped and what to review; then what to create next to the manifests (the Gateway, the
 * AWS Gateway API Controller's IAM and security group, ServiceExport/ServiceImport) and what to remove
 * once traffic runs through VPC Lattice.
 */
import { stringify } from "yaml";
import type { MigratedCanary, MigratedFile } from "./index.ts";

const LATTICE_CLASS = "amazon-vpc-lattice";

function canaryTitle(c: MigratedCanary): string {
  return `Canary ${c.namespace ? `${c.namespace}/` : ""}${c.name}`;
}

/** A Gateway with an HTTP listener on each Canary's service port, so clients keep the port they called. */
function gatewayManifest(name: string, namespace: string | undefined, ports: number[]): string {
  const listeners = (ports.length > 0 ? ports : [80]).map((port) => ({
    name: port === 80 ? "http" : `http-${port}`,
    protocol: "HTTP",
    port,
    // Routes of other namespaces may attach when the Gateway sits in a shared one.
    ...(namespace && { allowedRoutes: { namespaces: { from: "All" } } }),
  }));
  const manifest = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name, ...(namespace && { namespace }) },
    spec: { gatewayClassName: LATTICE_CLASS, listeners },
  };
  return stringify(manifest, { lineWidth: 0 });
}

/** Per file and Canary: FILE:LINE: FIELD: what happened. */
export function formatCanaries(files: MigratedFile[]): string {
  const out: string[] = [];
  for (const f of files) {
    for (const e of f.syntaxErrors) out.push(`${f.file}:${e} (YAML syntax error: file left alone)`);
    for (const c of f.canaries) {
      if (c.error !== undefined) {
        out.push(`${f.file}: ${canaryTitle(c)}: not converted: ${c.error}`);
        continue;
      }
      const gw = c.gateway;
      out.push(
        `${f.file}: ${canaryTitle(c)}: provider gatewayapi, Gateway ${gw?.namespace ? `${gw.namespace}/` : ""}${gw?.name}`,
      );
      for (const n of [...c.notes].sort((a, b) => a.line - b.line))
        out.push(
          `  ${f.file}:${n.line}: ${n.field}: ${n.kind === "unmapped" ? "not mapped: " : ""}${n.message}`,
        );
      for (const p of c.problems)
        out.push(`  ${f.file}:${p} (the controller would not accept this: fix it before applying)`);
    }
  }
  return out.length > 0 ? `${out.join("\n")}\n` : "";
}

/** The objects and settings outside the Canary manifests that VPC Lattice needs, and the App Mesh leftovers. */
export function formatNextSteps(files: MigratedFile[]): string {
  const done = files.flatMap((f) => f.canaries).filter((c) => c.error === undefined);
  if (done.length === 0) return "";
  const gateways = new Map<string, { name: string; namespace: string | undefined; ports: number[] }>();
  for (const c of done) {
    if (!c.gateway) continue;
    const key = `${c.gateway.namespace ?? ""}/${c.gateway.name}`;
    const g = gateways.get(key) ?? { name: c.gateway.name, namespace: c.gateway.namespace, ports: [] };
    if (c.port !== undefined && !g.ports.includes(c.port)) g.ports.push(c.port);
    gateways.set(key, g);
  }
  const steps = [
    "Next, outside these manifests:",
    "1. Install the AWS Gateway API Controller (it brings the amazon-vpc-lattice GatewayClass) with an IAM role for its",
    "   service account (EKS Pod Identity or IRSA) carrying its recommended-inline-policy.json (vpc-lattice:*, the EC2",
    "   describe calls, service-linked roles). kanaria itself needs no AWS permissions for Gateway API.",
    "2. Let VPC Lattice reach the pods: allow the managed prefix lists com.amazonaws.<region>.vpc-lattice (and",
    "   .ipv6.vpc-lattice) into the nodes' or pods' security groups.",
    `3. Create the Gateway${gateways.size > 1 ? "s" : ""} (a VPC Lattice service network of the same name; associate the cluster's VPC with it):`,
    ...[...gateways.values()].map((g) =>
      gatewayManifest(g.name, g.namespace, g.ports).replace(/^/gm, "   ").trimEnd(),
    ),
    "4. Callers in other clusters or VPCs: export the -primary and -canary Services with ServiceExport",
    "   (application-networking.k8s.aws/v1alpha1) and import them where the HTTPRoute lives with ServiceImport;",
    "   former service.backends are VPC Lattice services of their own. Restrict who may call with an IAMAuthPolicy.",
    "5. Once traffic flows through VPC Lattice, remove App Mesh: the sidecar injection label of the namespace",
    "   (appmesh.k8s.aws/sidecarInjectorWebhook), then the objects kanaria's appmesh router made:",
    ...done.map(
      (c) =>
        `   kubectl${c.namespace ? ` -n ${c.namespace}` : ""} delete virtualservice ${c.apex} ${c.apex}-canary; ` +
        `kubectl${c.namespace ? ` -n ${c.namespace}` : ""} delete virtualrouter ${c.apex} ${c.apex}-canary; ` +
        `kubectl${c.namespace ? ` -n ${c.namespace}` : ""} delete virtualnode ${c.apex}-primary ${c.apex}-canary`,
    ),
  ];
  return `${steps.join("\n")}\n`;
}
