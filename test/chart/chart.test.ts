// The Helm chart: helm lint, values.schema.json, what the templates render, and the real API server
// accepting every rendered object (server-side dry run) for the default and for non-default values.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { KubeObject } from "../../src/kube/types.ts";
import { useNamespace } from "../support/k8s.ts";
import {
  chartDir,
  helm,
  helmTemplate,
  releaseName,
  repoRoot,
  rest,
  runHelm,
  serverSideApply,
} from "./support.ts";

const ns = useNamespace("chart");
const watched = useNamespace("chart-watched");

interface Container {
  args: string[];
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
  resources: Record<string, unknown>;
}
interface PodSpec {
  securityContext: Record<string, unknown>;
  serviceAccountName: string;
  containers: Container[];
}
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

const find = (objects: KubeObject[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const podSpec = (objects: KubeObject[]) =>
  (find(objects, "Deployment")[0] as unknown as { spec: { replicas: number; template: { spec: PodSpec } } })
    .spec;
const args = (objects: KubeObject[]) => podSpec(objects).template.spec.containers[0]?.args ?? [];

/** Kinds whose CRDs come from other projects; the dry run needs them installed. */
const MONITORING_KINDS = new Set(["ServiceMonitor", "PodMonitor"]);
let monitoringCrds = false;

beforeAll(async () => {
  await helm();
  monitoringCrds = await rest()
    .request(
      "GET",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com",
    )
    .then(
      () => true,
      () => false,
    );
}, 25 * 60_000);

async function dryRunAll(objects: KubeObject[]): Promise<string[]> {
  const accepted: string[] = [];
  for (const o of objects) {
    if (MONITORING_KINDS.has(o.kind) && !monitoringCrds) continue;
    const result = await serverSideApply(o, true);
    expect(result.metadata.name).toBe(o.metadata.name);
    accepted.push(`${o.kind}/${o.metadata.name}`);
  }
  return accepted;
}

const nonDefault = (release: string) => ({
  replicaCount: 3,
  logLevel: "debug",
  provider: "nginx",
  metricsServer: "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-0123",
  metricsServerSigv4: { region: "us-west-2", roleArn: "arn:aws:iam::123456789012:role/amp-query" },
  alertProvider: `${ns}/slack`,
  clusterName: "prod-eu-1",
  workers: 8,
  watchNamespaces: [watched, ns],
  extraArgs: ["--leader-election-id=kanaria-blue"],
  leaderElection: {
    enabled: true,
    leaseName: `${release}-lease`,
    leaseDuration: "30s",
    renewDeadline: "20s",
    retryPeriod: "5s",
  },
  serviceAccount: {
    create: true,
    name: `${release}-sa`,
    annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/kanaria" },
  },
  metrics: {
    port: 9090,
    serviceMonitor: { enabled: true, labels: { release: "prom" } },
    podMonitor: { enabled: true },
  },
  podDisruptionBudget: { enabled: true, minAvailable: 2 },
  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } },
  podLabels: { team: "platform" },
  nodeSelector: { "kubernetes.io/os": "linux" },
  tolerations: [{ key: "dedicated", operator: "Equal", value: "platform", effect: "NoSchedule" }],
});

describe("charts/kanaria", () => {
  it("passes helm lint --strict, with default and non-default values", async () => {
    const { stdout } = await runHelm(["lint", "--strict", chartDir]);
    expect(stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    const set = Object.entries(nonDefault("lint")).flatMap(([k, v]) => [
      "--set-json",
      `${k}=${JSON.stringify(v)}`,
    ]);
    const withValues = await runHelm(["lint", "--strict", chartDir, ...set]);
    expect(withValues.stdout).toContain("0 chart(s) failed");
  });

  it("follows package.json: appVersion and version", () => {
    const chart = parse(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as {
      version: string;
      appVersion: string;
    };
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
    expect(chart.version).toBe(pkg.version);
  });

  it("values.schema.json rejects a bad value, naming it", async () => {
    const fails = async (set: string) => {
      const err = await runHelm(["template", "x", chartDir, "--set", set]).then(
        () => undefined,
        (e: { stderr?: string }) => e.stderr ?? String(e),
      );
      expect(err, `helm template --set ${set} must fail`).toBeDefined();
      return err as string;
    };
    expect(await fails("logLevel=loud")).toMatch(/logLevel/);
    expect(await fails("provider=istio")).toMatch(/provider/);
    expect(await fails("leaderElection.leaseDuration=soon")).toMatch(/leaseDuration/);
    expect(await fails("alertProvider=slack")).toMatch(/alertProvider/);
    expect(await fails("replicas=2")).toMatch(/replicas/);
    expect(await fails("metricsServerSigv4.roleArn=kanaria")).toMatch(/roleArn/);
  });

  it("renders a hardened Deployment with leader election, probes and resources by default", async () => {
    const objects = await helmTemplate({ release: "kanaria", namespace: ns });
    const spec = podSpec(objects);
    expect(spec.replicas).toBe(2);
    const pod = spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const container = pod.containers[0] as Container;
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.resources).toMatchObject({ requests: { cpu: "50m", memory: "128Mi" } });
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--metrics-bind-address=0.0.0.0:8080",
        "--leader-elect",
        `--leader-election-namespace=${ns}`,
        "--leader-election-id=kanaria-leader",
      ]),
    );
    expect(container.args.some((a) => a.startsWith("--namespace"))).toBe(false);
    expect(find(objects, "ClusterRole")).toHaveLength(1);
    expect(find(objects, "PodDisruptionBudget")).toHaveLength(1);
    expect(find(objects, "ServiceMonitor")).toHaveLength(0);
  });

  it("renders the non-default values into flags, Roles per watched namespace and monitors", async () => {
    const release = releaseName();
    const objects = await helmTemplate({ release, namespace: ns, set: nonDefault(release) });
    expect(podSpec(objects).replicas).toBe(3);
    expect(args(objects)).toEqual(
      expect.arrayContaining([
        "--metrics-bind-address=0.0.0.0:9090",
        "--log-level=debug",
        "--provider=nginx",
        "--workers=8",
        "--metrics-server=https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-0123",
        "--metrics-server-sigv4-region=us-west-2",
        "--metrics-server-sigv4-role-arn=arn:aws:iam::123456789012:role/amp-query",
        `--alert-provider=${ns}/slack`,
        "--cluster-name=prod-eu-1",
        `--namespace=${watched},${ns}`,
        `--leader-election-id=${release}-lease`,
        "--leader-election-lease-duration=30s",
        "--leader-election-renew-deadline=20s",
        "--leader-election-retry-period=5s",
        "--leader-election-id=kanaria-blue",
      ]),
    );
    expect(podSpec(objects).template.spec.serviceAccountName).toBe(`${release}-sa`);
    // IRSA: the EKS webhook reads the role from this annotation.
    expect(find(objects, "ServiceAccount", `${release}-sa`)[0]?.metadata.annotations).toEqual({
      "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/kanaria",
    });
    expect(find(objects, "ClusterRole")).toHaveLength(0);
    expect(
      find(objects, "Role")
        .map((r) => r.metadata.namespace)
        .sort(),
    ).toEqual([ns, ns, watched].sort());
    expect(find(objects, "ServiceMonitor")).toHaveLength(1);
    expect(find(objects, "PodMonitor")).toHaveLength(1);
  });

  it.each([
    ["values-irsa.yaml", { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/kanaria" }],
    ["values-pod-identity.yaml", undefined],
  ])(
    "renders examples/amp/%s: SigV4 flags for AMP, and the IRSA annotation where asked",
    async (file, annotations) => {
      const values = parse(readFileSync(join(repoRoot, "examples/amp", file), "utf8")) as Record<
        string,
        unknown
      >;
      const objects = await helmTemplate({ release: "kanaria", namespace: ns, set: values });
      expect(args(objects)).toEqual(
        expect.arrayContaining([
          "--metrics-server=https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0123456789abcdef",
          "--metrics-server-sigv4-region=eu-west-1",
        ]),
      );
      expect(find(objects, "ServiceAccount", "kanaria")[0]?.metadata.annotations).toEqual(annotations);
    },
  );

  it("without leader election: no Lease Role, no flag", async () => {
    const objects = await helmTemplate({
      release: "kanaria",
      namespace: ns,
      set: { leaderElection: { enabled: false }, replicaCount: 1 },
    });
    expect(args(objects)).not.toContain("--leader-elect");
    expect(find(objects, "Role")).toHaveLength(0);
    expect(find(objects, "PodDisruptionBudget"), "one replica: a PDB would block every drain").toHaveLength(
      0,
    );
  });

  it("grants no wildcard, escalate, bind, impersonate or exec in any mode", async () => {
    for (const set of [{}, { watchNamespaces: [watched] }]) {
      const objects = await helmTemplate({ release: "kanaria", namespace: ns, set });
      const rules = objects
        .filter((o) => o.kind === "ClusterRole" || o.kind === "Role")
        .flatMap((o) => (o as unknown as { rules: Rule[] }).rules);
      expect(rules.length).toBeGreaterThan(5);
      for (const rule of rules) {
        const all = [...rule.apiGroups, ...rule.resources, ...rule.verbs];
        expect(all, JSON.stringify(rule)).not.toContain("*");
        expect(rule.verbs).not.toEqual(expect.arrayContaining(["escalate"]));
        expect(
          rule.verbs.filter((v) => ["escalate", "bind", "impersonate", "deletecollection"].includes(v)),
        ).toEqual([]);
        expect(
          rule.resources.filter(
            (r) => r.startsWith("pods") || r.includes("roles") || r === "serviceaccounts/token",
          ),
        ).toEqual([]);
      }
    }
  });

  it("is accepted by the API server (server-side dry run) with the default values and the CRDs", async () => {
    const objects = await helmTemplate({ release: "kanaria", namespace: ns, includeCrds: true });
    const accepted = await dryRunAll(objects);
    expect(accepted).toEqual(
      expect.arrayContaining([
        "CustomResourceDefinition/canaries.kanaria.dev",
        "ServiceAccount/kanaria",
        "ClusterRole/kanaria",
        "ClusterRoleBinding/kanaria",
        "Role/kanaria-leader-election",
        "Deployment/kanaria",
        "Service/kanaria-metrics",
        "PodDisruptionBudget/kanaria",
      ]),
    );
  });

  it("is accepted by the API server with non-default values (the monitors need the Prometheus Operator CRDs)", async () => {
    const release = releaseName();
    const objects = await helmTemplate({ release, namespace: ns, set: nonDefault(release) });
    const accepted = await dryRunAll(objects);
    const expected = objects.filter((o) => monitoringCrds || !MONITORING_KINDS.has(o.kind));
    expect(accepted).toHaveLength(expected.length);
    expect(accepted).toEqual(
      expect.arrayContaining([`Role/${release}`, `RoleBinding/${release}`, `Deployment/${release}`]),
    );
  });

  it("ServiceMonitor and PodMonitor are accepted where the Prometheus Operator CRDs exist", async (ctx) => {
    if (!monitoringCrds) {
      ctx.skip("the Prometheus Operator CRDs (monitoring.coreos.com/v1) are not installed on this cluster");
    }
    const release = releaseName();
    const objects = await helmTemplate({ release, namespace: ns, set: nonDefault(release) });
    for (const o of objects.filter((o) => MONITORING_KINDS.has(o.kind))) await serverSideApply(o, true);
  });
});
