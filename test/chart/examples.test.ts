// examples/gitops and examples/monitoring: `kanaria validate`, a server-side dry run of every object
// whose CRD this cluster has, the Argo CD health script run on the conditions kanaria writes, and
// every PromQL expression of the alert rules and the dashboard parsed by the real Prometheus.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { LuaFactory } from "wasmoon";
import { parse, parseAllDocuments } from "yaml";
import type { Canary, Phase } from "../../src/api/canary.ts";
import { conditionsFor } from "../../src/controller/conditions.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { ControllerMetrics } from "../../src/observability/metrics.ts";
import { useNamespace } from "../support/k8s.ts";
import { repoRoot, rest, serverSideApply } from "./support.ts";

const run = promisify(execFile);
const ns = useNamespace("examples");
const gitops = join(repoRoot, "examples/gitops");
const monitoring = join(repoRoot, "examples/monitoring");

/** Kinds of other projects, with the CRD that must exist for the API server to check them. */
const FOREIGN: Record<string, string> = {
  "source.toolkit.fluxcd.io/GitRepository": "gitrepositories.source.toolkit.fluxcd.io",
  "helm.toolkit.fluxcd.io/HelmRelease": "helmreleases.helm.toolkit.fluxcd.io",
  "kustomize.toolkit.fluxcd.io/Kustomization": "kustomizations.kustomize.toolkit.fluxcd.io",
  "argoproj.io/Application": "applications.argoproj.io",
};
const group = (o: KubeObject) => o.apiVersion.split("/")[0] ?? "";

function gitopsObjects(): { file: string; object: KubeObject }[] {
  const files = readdirSync(gitops, { recursive: true, encoding: "utf8" })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(gitops, f));
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(file, "utf8"))
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null)
      .map((object) => ({ file, object })),
  );
}

describe("examples/gitops", () => {
  it("passes kanaria validate", async () => {
    const { stdout } = await run(process.execPath, [join(repoRoot, "src/cli/main.ts"), "validate", gitops]);
    expect(stdout).toMatch(/1 kanaria object: 0 errors, 0 warnings/);
  });

  it("is accepted by the API server (server-side dry run), except kinds whose CRDs are not installed", async () => {
    const accepted: string[] = [];
    const skipped = new Map<string, string>();
    for (const { file, object } of gitopsObjects()) {
      // kustomize's own file: read by the kustomize build, never sent to an API server.
      if (object.apiVersion.startsWith("kustomize.config.k8s.io/")) continue;
      const foreign = FOREIGN[`${group(object)}/${object.kind}`];
      if (foreign) {
        const installed = await rest()
          .request("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${foreign}`)
          .then(
            () => true,
            () => false,
          );
        if (!installed) {
          skipped.set(
            `${object.kind} (${file.slice(repoRoot.length + 1)})`,
            `CRD ${foreign} is not installed here`,
          );
          continue;
        }
      }
      // Namespaced objects go to this test's namespace: the dry run needs the namespace to exist.
      const target =
        object.kind === "Namespace" ? object : { ...object, metadata: { ...object.metadata, namespace: ns } };
      const result = await serverSideApply(target, true);
      expect(result.kind).toBe(object.kind);
      accepted.push(`${object.kind}/${object.metadata.name}`);
    }
    expect(accepted).toEqual(
      expect.arrayContaining([
        "Namespace/podinfo",
        "Deployment/podinfo",
        "Ingress/podinfo",
        "Canary/podinfo",
        "ConfigMap/argocd-cm",
      ]),
    );
    if (skipped.size > 0) console.info("dry run skipped:", Object.fromEntries(skipped));
    for (const kind of skipped.keys())
      expect(kind).toMatch(/^(GitRepository|HelmRelease|Kustomization|Application) /);
  });
});

describe("the Argo CD health check", () => {
  const script = readFileSync(join(gitops, "argocd/canary-health.lua"), "utf8");

  it("is the one in argocd-cm.yaml", () => {
    const cm = parse(readFileSync(join(gitops, "argocd/argocd-cm.yaml"), "utf8")) as {
      data: Record<string, string>;
    };
    expect(cm.data["resource.customizations.health.kanaria.dev_Canary"]).toBe(script);
  });

  const canaryIn = (phase: Phase, blocked?: { reason: string; message: string }, generation = 2): Canary =>
    ({
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "Canary",
      metadata: { name: "podinfo", namespace: "podinfo", generation },
      spec: { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" } },
      status: {
        phase,
        observedGeneration: 2,
        conditions: conditionsFor(phase, `phase ${phase}`, 2, "2026-12-01T12:00:00Z", [], blocked),
      },
    }) as Canary;

  async function health(obj: unknown): Promise<{ status: string; message: string }> {
    const lua = await new LuaFactory().createEngine();
    try {
      lua.global.set("obj", obj);
      return (await lua.doString(script)) as { status: string; message: string };
    } finally {
      lua.global.close();
    }
  }

  it.each([
    ["Initializing", "Progressing"],
    ["Initialized", "Healthy"],
    ["Progressing", "Progressing"],
    ["Promoting", "Progressing"],
    ["Succeeded", "Healthy"],
    ["Failed", "Degraded"],
  ] as const)("a Canary %s (conditions as kanaria writes them) is %s", async (phase, expected) => {
    const result = await health(canaryIn(phase));
    expect(result.status).toBe(expected);
    expect(result.message).toBe(`phase ${phase}`);
  });

  it("a blocked Canary is Degraded with the blocker's message", async () => {
    const result = await health(
      canaryIn("Initializing", { reason: "TargetNotFound", message: "Deployment podinfo not found" }),
    );
    expect(result).toEqual({ status: "Degraded", message: "Deployment podinfo not found" });
  });

  it("a spec kanaria has not seen yet, or no status at all, is Progressing", async () => {
    expect((await health(canaryIn("Succeeded", undefined, 3))).status).toBe("Progressing");
    expect((await health({ metadata: { name: "podinfo" } })).status).toBe("Progressing");
  });
});

describe("examples/monitoring", () => {
  const rules = parse(readFileSync(join(monitoring, "kanaria-rules.yaml"), "utf8")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const dashboard = JSON.parse(readFileSync(join(monitoring, "grafana-dashboard.json"), "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const expressions = [
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
    ...dashboard.panels.flatMap((p) =>
      p.targets.map((t) => ({
        where: `panel ${p.title}`,
        // Grafana's variables, as Grafana would substitute them.
        expr: t.expr.replaceAll("$namespace", ".*").replaceAll("$__range", "6h"),
      })),
    ),
  ];

  it("uses only series kanaria exports", async () => {
    const exported = await new ControllerMetrics("test", {
      defaultMetrics: false,
    }).registry.getMetricsAsJSON();
    const names = new Set(
      exported.flatMap((m) =>
        String(m.type) === "histogram" ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name],
      ),
    );
    for (const { where, expr } of expressions) {
      for (const used of expr.match(/kanaria_[a-z_]+/g) ?? [])
        expect(names, `${where} uses ${used}`).toContain(used);
    }
    expect(expressions.length).toBeGreaterThan(15);
  });

  it("every alert rule and dashboard query is valid PromQL for the real Prometheus", async (ctx) => {
    const prometheus = inject("prometheusUrl");
    if (!prometheus)
      ctx.skip("this cluster has no Prometheus (KANARIA_TEST_CLUSTER=existing without PROMETHEUS_URL)");
    for (const { where, expr } of expressions) {
      const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as { status: string; error?: string };
      expect(body, `${where}: ${expr}`).toMatchObject({ status: "success" });
    }
  });
});

describe("examples/amp", () => {
  const amp = join(repoRoot, "examples/amp");

  it("passes kanaria validate --strict", async () => {
    const { stdout } = await run(process.execPath, [
      join(repoRoot, "src/cli/main.ts"),
      "validate",
      "--strict",
      amp,
    ]);
    expect(stdout).toMatch(/7 kanaria objects: 0 errors, 0 warnings/);
  });

  it("is accepted by the API server (server-side dry run)", async () => {
    const objects = ["canary.yaml", "metric-templates.yaml"].flatMap((f) =>
      parseAllDocuments(readFileSync(join(amp, f), "utf8")).map((d) => d.toJS() as KubeObject),
    );
    for (const object of objects) {
      const result = await serverSideApply(
        { ...object, metadata: { ...object.metadata, namespace: ns } },
        true,
      );
      expect(result.kind).toBe(object.kind);
    }
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "Canary",
      "Deployment",
      "Ingress",
      ...Array(6).fill("MetricTemplate"),
    ]);
  });

  it("grants exactly the IAM actions the README names", () => {
    const policy = JSON.parse(readFileSync(join(amp, "iam-policy.json"), "utf8")) as {
      Statement: { Action: string[] }[];
    };
    const actions = policy.Statement.flatMap((s) => s.Action).sort();
    expect(actions).toEqual([
      "aps:GetLabels",
      "aps:GetMetricMetadata",
      "aps:GetSeries",
      "aps:QueryMetrics",
      "cloudwatch:GetMetricData",
      "cloudwatch:ListMetrics",
    ]);
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    for (const action of actions) expect(readme).toContain(`\`${action}\``);
  });
});
