import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Problem, type SourceFile, validateSources } from "./index.ts";

const FLAGGER = join(import.meta.dirname, "../../test/fixtures/flagger");

/** A file of Flagger's (test/fixtures/flagger), with only apiVersion changed, as a migrating user would. */
function flagger(dir: "manifests" | "autoscalers", file: string): SourceFile {
  const text = readFileSync(join(FLAGGER, dir, file), "utf8");
  return {
    file: `flagger/${file}`,
    text: text.replace(/^apiVersion: flagger\.app\/v1beta1$/m, "apiVersion: kanaria.dev/v1alpha1"),
  };
}

/** The problems of the autoscaler checks (all of them sit at spec.autoscalerRef), as one line each. */
function scalerProblems(...files: (string | SourceFile)[]): string[] {
  const sources = files.map((f, i) => (typeof f === "string" ? { file: `f${i}.yaml`, text: f } : f));
  return validateSources(sources)
    .problems.filter((p: Problem) => p.path.startsWith("spec.autoscalerRef"))
    .map((p) => `${p.severity} ${p.file}:${p.line} ${p.path}: ${p.message}`);
}

describe("autoscalerRef against Flagger's own manifests", () => {
  it("accepts the HPA e2e test's Canary and HPA as Flagger runs them", () => {
    const canary = flagger("manifests", "test-kubernetes-test-hpa-l47-canary-podinfo.yaml");
    const hpa = flagger("autoscalers", "test-kubernetes-test-hpa-l10-horizontalpodautoscaler-podinfo.yaml");
    expect(scalerProblems(canary, hpa)).toEqual([]);
    // The tutorials apply kustomize/podinfo's HPA, which has no namespace: it counts as the Canary's.
    const nginx = flagger(
      "manifests",
      "docs-gitbook-tutorials-nginx-progressive-delivery-l94-canary-podinfo.yaml",
    );
    const kustomize = flagger("autoscalers", "kustomize-podinfo-hpa-l1-horizontalpodautoscaler-podinfo.yaml");
    expect(scalerProblems(nginx, kustomize)).toEqual([]);
  });

  it("shows the query the KEDA e2e test's primary ScaledObject gets, and nothing else", () => {
    const canary = flagger("manifests", "test-keda-test-scaledobject-l48-canary-podinfo.yaml");
    const so = flagger("autoscalers", "test-keda-test-scaledobject-l10-scaledobject-podinfo-so.yaml");
    expect(scalerProblems(canary, so)).toEqual([
      'note flagger/test-keda-test-scaledobject-l48-canary-podinfo.yaml:12 spec.autoscalerRef: triggers[0] (type prometheus) of ScaledObject "podinfo-so" (flagger/test-keda-test-scaledobject-l10-scaledobject-podinfo-so.yaml:1): the primary\'s copy runs "sum(rate(http_requests_total{ app=\\"podinfo-primary\\" }[30s]))" (the target\'s name changed to "podinfo-primary", as Flagger guesses it); if that is not the primary\'s query, name the trigger and set primaryScalerQueries',
    ]);
  });

  it("finds the KEDA tutorial's trigger name written under metadata, where primaryScalerQueries cannot match it", () => {
    const canary = flagger("manifests", "docs-gitbook-tutorials-keda-scaledobject-l81-canary-podinfo.yaml");
    const so = flagger(
      "autoscalers",
      "docs-gitbook-tutorials-keda-scaledobject-l56-scaledobject-podinfo-so.yaml",
    );
    const found = scalerProblems(canary, so).filter((p) => p.startsWith("error"));
    expect(found).toEqual([
      'error flagger/docs-gitbook-tutorials-keda-scaledobject-l81-canary-podinfo.yaml:22 spec.autoscalerRef.primaryScalerQueries.prom-trigger: names trigger "prom-trigger", but ScaledObject "podinfo-so" (flagger/docs-gitbook-tutorials-keda-scaledobject-l56-scaledobject-podinfo-so.yaml:1) has no trigger of that name (its named triggers: none); the Canary would stall (AutoscalerInvalid); its triggers[0] has "prom-trigger" as metadata.name (as Flagger\'s KEDA tutorial writes it), where KEDA does not read it as the trigger\'s name: move it to triggers[0].name',
    ]);
    // Moved where KEDA reads it, the key matches and the primary's query is the one given.
    const fixed = {
      ...so,
      text: so.text.replace(
        "  - type: prometheus\n    metadata:\n      name: prom-trigger\n",
        "  - type: prometheus\n    name: prom-trigger\n    metadata:\n",
      ),
    };
    expect(fixed.text).not.toBe(so.text);
    expect(scalerProblems(canary, fixed)).toEqual([]);
  });
});

const canary = (autoscalerRef: string, extra = "") => `apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
${autoscalerRef}  service:
    port: 80
  analysis:
    stepWeight: 10
${extra}`;

const hpaRef = (name = "web", more = "") =>
  `  autoscalerRef:\n    apiVersion: autoscaling/v2\n    kind: HorizontalPodAutoscaler\n    name: ${name}\n${more}`;
const soRef = (more = "") =>
  `  autoscalerRef:\n    apiVersion: keda.sh/v1alpha1\n    kind: ScaledObject\n    name: web\n${more}`;

const hpa = (
  opts: {
    name?: string;
    target?: string;
    apiVersion?: string | null;
    min?: number;
    max?: number;
    owner?: boolean;
  } = {},
) => `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ${opts.name ?? "web"}
  namespace: shop
${opts.owner ? "  ownerReferences:\n    - {apiVersion: kanaria.dev/v1alpha1, kind: Canary, name: web, uid: u, controller: true}\n" : ""}spec:
  scaleTargetRef:
${opts.apiVersion === null ? "" : `    apiVersion: ${opts.apiVersion ?? "apps/v1"}\n`}    kind: Deployment
    name: ${opts.target ?? "web"}
${opts.min === undefined ? "" : `  minReplicas: ${opts.min}\n`}  maxReplicas: ${opts.max ?? 10}
`;

const scaledObject = (
  opts: { apiVersion?: string; target?: string; min?: number | null; triggers?: string } = {},
) => `apiVersion: ${opts.apiVersion ?? "keda.sh/v1alpha1"}
kind: ScaledObject
metadata:
  name: web
  namespace: shop
spec:
  scaleTargetRef:
    name: ${opts.target ?? "web"}
${opts.min === null ? "" : `  minReplicaCount: ${opts.min ?? 1}\n`}  maxReplicaCount: 5
  triggers:
${
  opts.triggers ??
  `    - type: prometheus
      name: rps
      metadata:
        serverAddress: http://prometheus:9090
        query: sum(rate(http_requests_total{app="web-canary"}[1m]))
        threshold: "5"`
}
`;

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          ports:
            - containerPort: 80
`;

/** [case, files, expected problems: each "severity path: a part of the message"]. */
const cases: [string, string[], string[]][] = [
  ["an HPA that scales the target", [canary(hpaRef()), hpa()], []],
  [
    "autoscalerRef naming an HPA that is a ScaledObject in the files",
    [canary(hpaRef()), scaledObject()],
    [
      'error spec.autoscalerRef.kind: autoscalerRef names a HorizontalPodAutoscaler, but "web" (f1.yaml:1) is a ScaledObject (keda.sh/v1alpha1): set autoscalerRef.kind to ScaledObject and apiVersion to keda.sh/v1alpha1',
    ],
  ],
  [
    "a ScaledObject at a version KEDA does not serve",
    [canary(soRef()), scaledObject({ apiVersion: "keda.sh/v1beta1" })],
    [
      "note spec.autoscalerRef: triggers[0]",
      'error spec.autoscalerRef.name: ScaledObject "web" (f1.yaml:1) is at apiVersion keda.sh/v1beta1, which KEDA does not serve: set its apiVersion to keda.sh/v1alpha1',
    ],
  ],
  [
    "an HPA of another Deployment",
    [canary(hpaRef()), hpa({ target: "api" })],
    [
      'error spec.autoscalerRef.name: HorizontalPodAutoscaler "web" (f1.yaml:1) scales apps/v1 Deployment "api" (f1.yaml:7), not the Canary\'s target Deployment "web": the canary would not be autoscaled during analysis: set its scaleTargetRef to apiVersion apps/v1, kind Deployment, name web',
    ],
  ],
  [
    "an HPA aimed at the primary",
    [canary(hpaRef()), hpa({ target: "web-primary" })],
    [
      'error spec.autoscalerRef.name: HorizontalPodAutoscaler "web" (f1.yaml:1) scales apps/v1 Deployment "web-primary" (f1.yaml:7), the primary, which kanaria\'s copy "web-primary" scales',
    ],
  ],
  [
    "an HPA without scaleTargetRef.apiVersion (FailedGetScale)",
    [canary(hpaRef()), hpa({ apiVersion: null })],
    [
      'error spec.autoscalerRef.name: HorizontalPodAutoscaler "web" (f1.yaml:1) scales Deployment "web" (f1.yaml:7) without apiVersion: the HPA controller looks Deployment up in the core group and fails (FailedGetScale)',
    ],
  ],
  [
    "an HPA at an old Deployment group",
    [canary(hpaRef()), hpa({ apiVersion: "extensions/v1beta1" })],
    [
      'error spec.autoscalerRef.name: HorizontalPodAutoscaler "web" (f1.yaml:1) scales extensions/v1beta1 Deployment "web"',
    ],
  ],
  [
    "a ScaledObject that defaults to an apps/v1 Deployment",
    [
      canary(
        soRef(
          '    primaryScalerQueries:\n      rps: sum(rate(http_requests_total{app="web-primary"}[1m]))\n',
        ),
      ),
      scaledObject(),
    ],
    [],
  ],
  [
    "primaryScalerReplicas.minReplicas above the HPA's maxReplicas",
    [canary(hpaRef("web", "    primaryScalerReplicas:\n      minReplicas: 12\n")), hpa({ max: 10 })],
    [
      "error spec.autoscalerRef.primaryScalerReplicas.minReplicas: minReplicas 12 is above maxReplicas 10 of HorizontalPodAutoscaler \"web\" (f1.yaml:1), which the primary's copy takes: kanaria would cap the primary's minimum at 10 (Flagger's copy is refused by the API server): set primaryScalerReplicas.maxReplicas too, or lower minReplicas",
    ],
  ],
  [
    "primaryScalerReplicas with both bounds, whatever the HPA's",
    [
      canary(hpaRef("web", "    primaryScalerReplicas:\n      minReplicas: 12\n      maxReplicas: 20\n")),
      hpa({ min: 1, max: 10 }),
    ],
    [],
  ],
  [
    "primaryScalerReplicas.maxReplicas below the HPA's minReplicas",
    [canary(hpaRef("web", "    primaryScalerReplicas:\n      maxReplicas: 2\n")), hpa({ min: 3 })],
    [
      "warning spec.autoscalerRef.primaryScalerReplicas.maxReplicas: maxReplicas 2 is below minReplicas 3 of HorizontalPodAutoscaler \"web\" (f1.yaml:1), which the primary's copy takes: kanaria lowers the primary's minimum to 2",
    ],
  ],
  [
    "primaryScalerReplicas.maxReplicas below a ScaledObject's default maxReplicaCount",
    [
      canary(soRef("    primaryScalerReplicas:\n      minReplicas: 101\n")),
      scaledObject({ min: 1 }).replace("  maxReplicaCount: 5\n", ""),
    ],
    [
      "note spec.autoscalerRef: triggers[0]",
      'error spec.autoscalerRef.primaryScalerReplicas.minReplicas: minReplicas 101 is above maxReplicaCount 100 of ScaledObject "web"',
    ],
  ],
  [
    "an HPA with minReplicas 0",
    [canary(hpaRef()), hpa({ min: 0 })],
    [
      'warning spec.autoscalerRef.name: HorizontalPodAutoscaler "web" (f1.yaml:1) has minReplicas 0, which the API server refuses unless the alpha feature gate HPAScaleToZero is on, and the primary\'s copy would take it too: set its minReplicas to 1 or more',
    ],
  ],
  [
    "a ScaledObject without minReplicaCount (the primary could go to zero)",
    [canary(soRef()), scaledObject({ min: null })],
    [
      "note spec.autoscalerRef: the primary's copy of ScaledObject \"web\" (f1.yaml:1) takes its minReplicaCount 0 (KEDA's default): KEDA scales the primary",
      "note spec.autoscalerRef: triggers[0]",
    ],
  ],
  [
    "a primaryScalerQueries key naming no trigger",
    [canary(soRef("    primaryScalerQueries:\n      requests: up\n")), scaledObject()],
    [
      "note spec.autoscalerRef: triggers[0]",
      'error spec.autoscalerRef.primaryScalerQueries.requests: names trigger "requests", but ScaledObject "web" (f1.yaml:1) has no trigger of that name (its named triggers: rps); the Canary would stall (AutoscalerInvalid): set spec.triggers[].name in the ScaledObject, or fix the key',
    ],
  ],
  [
    "a primaryScalerQueries key naming a trigger without a query",
    [
      canary(soRef("    primaryScalerQueries:\n      cpu: up\n")),
      scaledObject({
        triggers:
          '    - type: cpu\n      name: cpu\n      metricType: Utilization\n      metadata:\n        value: "60"',
      }),
    ],
    [
      'error spec.autoscalerRef.primaryScalerQueries.cpu: triggers[0] "cpu" (type cpu) of ScaledObject "web" (f1.yaml:1) has no metadata.query, the only field kanaria replaces, so this query could not be used; the Canary would stall (AutoscalerInvalid): remove the key',
    ],
  ],
  [
    "a trigger whose query does not mention the target",
    [
      canary(soRef()),
      scaledObject({
        triggers:
          '    - type: prometheus\n      metadata:\n        query: sum(queue_depth)\n        threshold: "5"',
      }),
    ],
    [
      'note spec.autoscalerRef: triggers[0] (type prometheus) of ScaledObject "web" (f1.yaml:1): the primary\'s copy runs its query unchanged, as it does not mention "web" (the name kanaria changes to "web-primary"); if it measures the canary, name the trigger and set primaryScalerQueries',
    ],
  ],
  [
    "a trigger named like a property every object has",
    [
      canary(soRef()),
      scaledObject({
        triggers:
          '    - type: prometheus\n      name: constructor\n      metadata:\n        query: up{app="web"}\n        threshold: "5"',
      }),
    ],
    [
      'note spec.autoscalerRef: triggers[0] "constructor" (type prometheus) of ScaledObject "web" (f1.yaml:1): the primary\'s copy runs "up{app=\\"web-primary\\"}"',
    ],
  ],
  [
    "a trigger that names the canary outside metadata.query",
    [
      canary(soRef()),
      scaledObject({
        triggers:
          '    - type: kubernetes-workload\n      name: pods\n      metadata:\n        podSelector: app=web\n        value: "2"',
      }),
    ],
    [
      'warning spec.autoscalerRef: triggers[0] "pods" (type kubernetes-workload) of ScaledObject "web" (f1.yaml:1) names "web" in metadata.podSelector, which the primary\'s copy keeps as it is (only metadata.query is rewritten, as in Flagger)',
    ],
  ],
  [
    "a trigger value that only starts with the target's name",
    [
      canary(soRef()),
      scaledObject({
        triggers:
          '    - type: kafka\n      name: events\n      metadata:\n        topic: web-events\n        lagThreshold: "5"',
      }),
    ],
    [],
  ],
  [
    "a referenced HPA missing while the target Deployment is in the files",
    [canary(hpaRef()), deployment],
    [
      'warning spec.autoscalerRef.name: HorizontalPodAutoscaler "shop/web" is not among the validated files, while the target Deployment "web" is (f1.yaml:1): add its manifest (scaling Deployment "web"), or ignore this if it is applied to the cluster some other way; until it exists the Canary waits (AutoscalerNotFound)',
    ],
  ],
  ["a referenced HPA missing, with no target in the files either", [canary(hpaRef())], []],
  [
    "a referenced HPA in another namespace",
    [canary(hpaRef()), deployment, hpa().replace("namespace: shop", "namespace: ops")],
    [
      'warning spec.autoscalerRef.name: HorizontalPodAutoscaler "shop/web" is not among the validated files, while the target Deployment "web" is (f1.yaml:1); there is one in namespace "ops" (f2.yaml:1), but autoscalerRef has no namespace: the autoscaler must be in the Canary\'s',
    ],
  ],
  [
    "an HPA of the target while the Canary has no autoscalerRef",
    [canary(""), hpa()],
    [
      'error spec.autoscalerRef: HorizontalPodAutoscaler "web" (f1.yaml:1) scales the target Deployment "web", but the Canary has no autoscalerRef: kanaria runs the canary at the primary\'s replica count during each analysis, fighting it, and the primary is never autoscaled: add autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web}',
    ],
  ],
  [
    "a ScaledObject of the target while the Canary has no autoscalerRef",
    [canary(""), scaledObject()],
    [
      'error spec.autoscalerRef: ScaledObject "web" (f1.yaml:1) scales the target Deployment "web", but the Canary has no autoscalerRef: kanaria runs the canary at the primary\'s replica count during each analysis, fighting it (and KEDA scales it up between releases, when kanaria holds it at zero), and the primary is never autoscaled: add autoscalerRef: {apiVersion: keda.sh/v1alpha1, kind: ScaledObject, name: web}',
    ],
  ],
  [
    "an HPA of the primary while the Canary has no autoscalerRef (Flagger's two-HPA layout)",
    [canary(""), hpa({ name: "web-primary", target: "web-primary" })],
    [
      'error spec.autoscalerRef: HorizontalPodAutoscaler "web-primary" (f1.yaml:1) scales the primary "web-primary", but the Canary has no autoscalerRef: kanaria owns the primary\'s replica count and puts it back when it drifts (unless the Canary has kanaria.dev/drift: warn), fighting it: aim it at the target Deployment "web" and add autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: web-primary}',
    ],
  ],
  [
    "a second autoscaler of the target besides the referenced one",
    [canary(hpaRef()), hpa(), hpa({ name: "web-cpu" })],
    [
      'error spec.autoscalerRef: HorizontalPodAutoscaler "web-cpu" (f2.yaml:1) scales the target Deployment "web", besides the HorizontalPodAutoscaler "web" autoscalerRef names: two autoscalers of one Deployment fight over its replicas: remove one, or point autoscalerRef at this one',
    ],
  ],
  [
    "a user's autoscaler of the primary besides autoscalerRef",
    [canary(hpaRef()), hpa(), hpa({ name: "web-primary", target: "web-primary" })],
    [
      'error spec.autoscalerRef: HorizontalPodAutoscaler "web-primary" (f2.yaml:1) scales the primary "web-primary", which kanaria\'s copy "web-primary" of autoscalerRef\'s HorizontalPodAutoscaler scales: two autoscalers of one Deployment fight over its replicas: remove this one (kanaria makes and keeps the primary\'s)',
    ],
  ],
  [
    "kanaria's own copy of the primary's HPA in a dump of the cluster",
    [canary(hpaRef()), hpa(), hpa({ name: "web-primary", target: "web-primary", owner: true })],
    [],
  ],
  [
    "an autoscaler of the target in another namespace",
    [canary(""), hpa().replace("namespace: shop", "namespace: other")],
    [],
  ],
];

describe("kanaria validate: autoscalerRef against the autoscalers among the files", () => {
  it.each(cases)("%s", (_, files, expected) => {
    const found = scalerProblems(...files);
    expect(found).toHaveLength(expected.length);
    expected.forEach((want, i) => {
      const [severity, path, ...rest] = want.split(" ");
      const message = rest.join(" ");
      expect(found[i]).toMatch(new RegExp(`^${severity} f\\d\\.yaml:\\d+ ${literal(path as string)} `));
      expect(found[i]).toContain(message);
    });
  });

  it("skips autoscalers and Canaries without namespace in other directories (other kustomizations)", () => {
    const bare = (text: string) => text.replace(/\n {2}namespace: shop/, "");
    const files = [
      { file: "apps/web/canary.yaml", text: bare(canary("")) },
      { file: "apps/other/hpa.yaml", text: bare(hpa()) },
    ];
    expect(scalerProblems(...files)).toEqual([]);
    files[1] = { file: "apps/web/hpa.yaml", text: bare(hpa()) };
    expect(scalerProblems(...files)).toHaveLength(1);
  });

  it("leaves a DaemonSet target to the schema check (it refuses autoscalerRef there)", () => {
    const ds = canary(hpaRef()).replace("kind: Deployment", "kind: DaemonSet");
    expect(scalerProblems(ds, hpa({ target: "api" }))).toEqual([
      "error f0.yaml:11 spec.autoscalerRef: a DaemonSet runs one pod per node and has no replicas to autoscale: remove autoscalerRef or target a Deployment",
    ]);
  });

  it("leaves to the schema check what the Canary alone shows (kind, apiVersion, minReplicas above maxReplicas)", () => {
    const v1 = validateSources([
      { file: "c.yaml", text: canary(hpaRef().replace("autoscaling/v2", "apps/v1")) },
    ]);
    expect(v1.problems.map((p) => `${p.severity} ${p.path}: ${p.message}`)).toContain(
      "error spec.autoscalerRef.apiVersion: a HorizontalPodAutoscaler is in the autoscaling group: set autoscalerRef.apiVersion to autoscaling/v2",
    );
    const bounds = validateSources([
      {
        file: "c.yaml",
        text: canary(
          hpaRef("web", "    primaryScalerReplicas:\n      minReplicas: 5\n      maxReplicas: 2\n"),
        ),
      },
    ]);
    expect(bounds.problems.map((p) => `${p.severity} ${p.path}: ${p.message}`)).toEqual([
      "error spec.autoscalerRef.primaryScalerReplicas.minReplicas: minReplicas must not be above maxReplicas",
    ]);
    const vpa = validateSources([
      { file: "c.yaml", text: canary(hpaRef().replace("HorizontalPodAutoscaler", "VerticalPodAutoscaler")) },
    ]);
    expect(vpa.problems).toEqual([
      expect.objectContaining({
        severity: "error",
        path: "spec.autoscalerRef.kind",
        message: expect.stringContaining("HorizontalPodAutoscaler"),
      }),
    ]);
  });
});

function literal(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
