import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { CANARY } from "../../test/helpers/validate-fixtures.ts";
import { ROUTER_SERVICE_FIELDS, type RouterServiceField, routerFieldRefusal } from "../api/canary.ts";
import { KINDS } from "../api/kinds.ts";
import { type Problem, validateSources } from "./index.ts";

type Obj = Record<string, unknown>;

const TEMPLATE: Obj = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "MetricTemplate",
  metadata: { name: "latency", namespace: "test" },
  spec: { provider: { type: "prometheus", address: "http://prometheus:9090" }, query: "up" },
};

const PROVIDER: Obj = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "AlertProvider",
  metadata: { name: "slack", namespace: "test" },
  spec: { type: "slack", channel: "general", address: "https://hooks.slack.com/services/X" },
};

/** A copy of `base` with `changes` applied; a value of undefined deletes the key. Paths are dotted. */
function edit(base: Obj, changes: Record<string, unknown>): Obj {
  const copy = structuredClone(base);
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.split(".");
    const last = keys.pop() as string;
    let target = copy;
    for (const key of keys) {
      target[key] ??= {};
      target = target[key] as Obj;
    }
    if (value === undefined) delete target[last];
    else target[last] = value;
  }
  return copy;
}

function problemsOf(...objects: Obj[]): Problem[] {
  const text = objects.map((o) => stringify(o)).join("---\n");
  return validateSources([{ file: "m.yaml", text }]).problems;
}

interface RuleCase {
  rule: string;
  object: Obj;
  path: string;
}

const a = "spec.analysis";

/** A valid value of each spec.service field only some routers act on. */
const SERVICE_VALUES: Record<RouterServiceField, unknown> = {
  timeout: "30s",
  backendTimeout: "5s",
  rewrite: { uri: "/" },
  corsPolicy: { allowOrigin: ["*"] },
  mirror: [{ backendRef: { name: "shadow", port: 80 } }],
  headers: { request: { set: { "x-a": "1" } } },
  match: [{ uri: { prefix: "/" } }],
  hosts: ["app.example.com"],
  gatewayRefs: [{ name: "public" }],
  retries: { attempts: 3 },
  meshName: "global",
  backends: ["backend.test"],
};

/** One manifest per withRules rule in src/api that breaks exactly that rule. */
const RULE_CASES: RuleCase[] = [
  {
    rule: "thresholdRange.min must not be greater than thresholdRange.max",
    object: edit(CANARY, {
      [`${a}.metrics`]: [{ name: "request-duration", thresholdRange: { min: 600, max: 500 } }],
    }),
    path: `${a}.metrics[0].thresholdRange`,
  },
  {
    rule: "thresholdRange needs min, max or both",
    object: edit(CANARY, { [`${a}.metrics`]: [{ name: "request-duration", thresholdRange: {} }] }),
    path: `${a}.metrics[0].thresholdRange`,
  },
  {
    rule: "a metric that is not built in (request-success-rate, request-duration) needs templateRef",
    object: edit(CANARY, { [`${a}.metrics`]: [{ name: "latency", thresholdRange: { max: 1 } }] }),
    path: `${a}.metrics[0].templateRef`,
  },
  {
    rule: "query is an inline query for a metric of its own: remove it, or give the metric a name other than request-success-rate and request-duration and no templateRef",
    object: edit(CANARY, { [`${a}.metrics`]: [{ name: "request-duration", query: "up", threshold: 1 }] }),
    path: `${a}.metrics[0].query`,
  },
  {
    rule: "threshold is Flagger's deprecated form of thresholdRange and is ignored next to it: remove threshold",
    object: edit(CANARY, {
      [`${a}.metrics`]: [{ name: "request-duration", threshold: 500, thresholdRange: { max: 500 } }],
    }),
    path: `${a}.metrics[0].threshold`,
  },
  {
    rule: "kanaria releases a Deployment or a DaemonSet: set targetRef.kind to Deployment or DaemonSet (Flagger's Service targets are not supported)",
    object: edit(CANARY, { "spec.targetRef.kind": "Service" }),
    path: "spec.targetRef.kind",
  },
  {
    rule: "Deployments and DaemonSets are apps/v1: set targetRef.apiVersion to apps/v1 or remove it",
    object: edit(CANARY, { "spec.targetRef.apiVersion": "extensions/v1beta1" }),
    path: "spec.targetRef.apiVersion",
  },
  {
    rule: "ingressRef names an Ingress: set ingressRef.kind to Ingress or remove it",
    object: edit(CANARY, { "spec.ingressRef": { kind: "HTTPProxy", name: "podinfo" } }),
    path: "spec.ingressRef.kind",
  },
  {
    rule: "the nginx router reads networking.k8s.io/v1 Ingresses: set ingressRef.apiVersion to networking.k8s.io/v1 or remove it",
    object: edit(CANARY, {
      "spec.ingressRef": { apiVersion: "extensions/v1beta1", kind: "Ingress", name: "podinfo" },
    }),
    path: "spec.ingressRef.apiVersion",
  },
  {
    rule: "stepWeight and stepWeights are mutually exclusive: keep one",
    object: edit(CANARY, { [`${a}.stepWeights`]: [10, 20] }),
    path: `${a}.stepWeights`,
  },
  {
    rule: "set stepWeight or stepWeights (canary) or iterations (blue/green, A/B)",
    object: edit(CANARY, { [`${a}.stepWeight`]: undefined }),
    path: `${a}.stepWeight`,
  },
  {
    rule: "stepWeights must be in ascending order",
    object: edit(CANARY, { [`${a}.stepWeight`]: undefined, [`${a}.stepWeights`]: [10, 50, 20] }),
    path: `${a}.stepWeights`,
  },
  {
    rule: "match (A/B testing) needs iterations",
    object: edit(CANARY, { [`${a}.match`]: [{ headers: { "x-canary": { exact: "insider" } } }] }),
    path: `${a}.match`,
  },
  {
    rule: "provider nginx needs ingressRef (the Ingress to clone for the canary)",
    object: edit(CANARY, { "spec.provider": "nginx" }),
    path: "spec.ingressRef",
  },
  {
    rule: "provider gatewayapi needs routeRef (an existing HTTPRoute) or service.gatewayRefs",
    object: edit(CANARY, { "spec.provider": "gatewayapi" }),
    path: "spec.routeRef",
  },
  {
    rule: "provider appmesh needs service.meshName; or write provider appmesh:v1beta2, which takes the mesh of the namespace",
    object: edit(CANARY, { "spec.provider": "appmesh" }),
    path: "spec.service.meshName",
  },
  {
    rule: "a DaemonSet runs one pod per node and has no replicas to autoscale: remove autoscalerRef or target a Deployment",
    object: edit(CANARY, {
      "spec.targetRef.kind": "DaemonSet",
      "spec.autoscalerRef": {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        name: "podinfo",
      },
    }),
    path: "spec.autoscalerRef",
  },
  {
    rule: "corsPolicy.allowOrigins (string patterns) cannot be written as a Gateway API CORS filter: list the origins in corsPolicy.allowOrigin",
    object: edit(CANARY, { "spec.service.corsPolicy": { allowOrigins: [{ prefix: "https://" }] } }),
    path: "spec.service.corsPolicy.allowOrigins",
  },
  {
    rule: "mirrorWeight is the share of requests analysis.mirror copies to the canary, and mirror is not true: set mirror: true or remove mirrorWeight",
    object: edit(CANARY, { [`${a}.mirrorWeight`]: 50 }),
    path: `${a}.mirrorWeight`,
  },
  // Each spec.service field only some routers act on: refused on a provider that does not act on it,
  // and (parts of the generated HTTPRoute) beside routeRef.
  ...(Object.keys(ROUTER_SERVICE_FIELDS) as RouterServiceField[]).flatMap((field): RuleCase[] => {
    const { routers, generatedRoute } = ROUTER_SERVICE_FIELDS[field];
    const { why, fix } = routerFieldRefusal(field);
    const other: Obj = (routers as readonly string[]).includes("gatewayapi")
      ? { "spec.provider": "nginx", "spec.ingressRef": { name: "podinfo" } }
      : { "spec.provider": "gatewayapi", "spec.service.gatewayRefs": [{ name: "public" }] };
    const cases: RuleCase[] = [
      {
        rule: `service.${field} sets ${why}: ${fix}`,
        object: edit(CANARY, { ...other, [`spec.service.${field}`]: SERVICE_VALUES[field] }),
        path: `spec.service.${field}`,
      },
    ];
    if (generatedRoute) {
      cases.push({
        rule: `service.${field} goes into the HTTPRoute kanaria generates, but routeRef's HTTPRoute is used as it is: write it into that HTTPRoute, or remove routeRef`,
        object: edit(CANARY, {
          "spec.provider": "gatewayapi",
          "spec.routeRef": { name: "shop" },
          [`spec.service.${field}`]: SERVICE_VALUES[field],
        }),
        path: `spec.service.${field}`,
      });
    }
    return cases;
  }),
  {
    rule: "a HorizontalPodAutoscaler is in the autoscaling group: set autoscalerRef.apiVersion to autoscaling/v2",
    object: edit(CANARY, {
      "spec.autoscalerRef": {
        apiVersion: "keda.sh/v1alpha1",
        kind: "HorizontalPodAutoscaler",
        name: "podinfo",
      },
    }),
    path: "spec.autoscalerRef.apiVersion",
  },
  {
    rule: "a KEDA ScaledObject is served as keda.sh/v1alpha1: set autoscalerRef.apiVersion to keda.sh/v1alpha1",
    object: edit(CANARY, {
      "spec.autoscalerRef": { apiVersion: "autoscaling/v2", kind: "ScaledObject", name: "podinfo" },
    }),
    path: "spec.autoscalerRef.apiVersion",
  },
  {
    rule: "primaryScalerQueries rewrites KEDA triggers: it needs kind ScaledObject (a HorizontalPodAutoscaler's metrics are copied as they are)",
    object: edit(CANARY, {
      "spec.autoscalerRef": {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        name: "podinfo",
        primaryScalerQueries: { cpu: "up" },
      },
    }),
    path: "spec.autoscalerRef.primaryScalerQueries",
  },
  {
    rule: "minReplicas must not be above maxReplicas",
    object: edit(CANARY, {
      "spec.autoscalerRef": {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        name: "podinfo",
        primaryScalerReplicas: { minReplicas: 5, maxReplicas: 2 },
      },
    }),
    path: "spec.autoscalerRef.primaryScalerReplicas.minReplicas",
  },
  {
    rule: "sigv4 applies to type prometheus only; cloudwatch requests are always signed",
    object: edit(TEMPLATE, {
      "spec.provider": { type: "cloudwatch", region: "us-west-2", sigv4: { region: "us-west-2" } },
    }),
    path: "spec.provider.sigv4",
  },
  {
    rule: "roleArn applies to type cloudwatch; for prometheus set sigv4.roleArn",
    object: edit(TEMPLATE, { "spec.provider.roleArn": "arn:aws:iam::123456789012:role/kanaria" }),
    path: "spec.provider.roleArn",
  },
  {
    rule: "an AlertProvider needs address or secretRef (a Secret with an `address` key)",
    object: edit(PROVIDER, { "spec.address": undefined }),
    path: "spec.secretRef",
  },
];

/** Every x-kubernetes-validations message of every kind, read from the schemas themselves. */
function allRuleMessages(): string[] {
  const messages: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "x-kubernetes-validations")
          messages.push(...(value as { message: string }[]).map((r) => r.message));
        else walk(value);
      }
    }
  };
  for (const kind of KINDS) walk(z.toJSONSchema(kind.schema, { io: "input", target: "draft-7" }));
  return [...new Set(messages)];
}

describe("withRules cross-field rules", () => {
  it("has a test case for every rule declared in src/api", () => {
    const covered = new Set(RULE_CASES.map((c) => c.rule));
    expect(allRuleMessages().filter((m) => !covered.has(m))).toEqual([]);
  });

  it.each(RULE_CASES)("reports: $rule", ({ rule, object, path }) => {
    const problems = problemsOf(object);
    expect(problems).toContainEqual(expect.objectContaining({ severity: "error", path, message: rule }));
    // Nothing else is wrong with the object: the case isolates its rule.
    expect(problems).toHaveLength(1);
  });

  it("accepts the valid base objects", () => {
    expect(problemsOf(CANARY, TEMPLATE, PROVIDER)).toEqual([]);
  });
});

describe("autoscalerRef", () => {
  const ref = (extra: Obj) => edit(CANARY, { "spec.autoscalerRef": { name: "podinfo", ...extra } });

  it("accepts Flagger's HorizontalPodAutoscaler and KEDA ScaledObject references", () => {
    expect(problemsOf(ref({ apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler" }))).toEqual([]);
    // Flagger reads any of them at v2: the same object.
    expect(problemsOf(ref({ apiVersion: "autoscaling/v2beta2", kind: "HorizontalPodAutoscaler" }))).toEqual(
      [],
    );
    const keda = ref({
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      primaryScalerQueries: { "prom-trigger": "sum(rate(http_requests_total{app='podinfo-primary'}[30s]))" },
      primaryScalerReplicas: { minReplicas: 2, maxReplicas: 5 },
    });
    expect(problemsOf(keda)).toEqual([]);
  });

  it("refuses another kind, naming the field and the kinds kanaria copies", () => {
    const problems = problemsOf(ref({ apiVersion: "apps/v1", kind: "Deployment" }));
    expect(problems).toEqual([
      expect.objectContaining({
        severity: "error",
        path: "spec.autoscalerRef.kind",
        message: 'must be one of "HorizontalPodAutoscaler", "ScaledObject"; got the string "Deployment"',
      }),
    ]);
  });

  it("needs kind and apiVersion, as Flagger's CRD does", () => {
    const paths = problemsOf(ref({})).map((p) => p.path);
    expect(paths).toEqual(["spec.autoscalerRef.apiVersion", "spec.autoscalerRef.kind"]);
  });
});

describe("unknown fields", () => {
  it("names the field and suggests the closest known one", () => {
    const [p] = problemsOf(edit(CANARY, { [`${a}.treshold`]: 5 }));
    expect(p).toMatchObject({
      path: `${a}.treshold`,
      message: 'unknown field "treshold" (did you mean "threshold"?)',
    });
  });

  it("suggests across a case difference and a transposition", () => {
    const problems = problemsOf(
      edit(CANARY, { "spec.service.targetport": 80, "spec.analysis.stpeWeight": 1 }),
    );
    expect(problems.map((p) => p.message)).toEqual(
      expect.arrayContaining([
        'unknown field "targetport" (did you mean "targetPort"?)',
        'unknown field "stpeWeight" (did you mean "stepWeight"?)',
      ]),
    );
  });

  it("lists the known fields of a small object when nothing is close", () => {
    const [p] = problemsOf(edit(CANARY, { "spec.targetRef.labels": { a: "b" } }));
    expect(p?.message).toBe('unknown field "labels"; the fields here are apiVersion, kind, name');
  });

  it("finds fields inside list items and records", () => {
    const problems = problemsOf(
      edit(CANARY, {
        [`${a}.metrics`]: [{ name: "request-success-rate", thresholdRange: { min: 99, mx: 100 } }],
        [`${a}.stepWeight`]: undefined,
        [`${a}.iterations`]: 5,
        [`${a}.match`]: [{ headers: { "x-user": { exct: "beta" } } }],
      }),
    );
    // In file order: metrics were written before match.
    expect(problems.map((p) => [p.path, p.message])).toEqual([
      [`${a}.metrics[0].thresholdRange.mx`, 'unknown field "mx" (did you mean "max"?)'],
      [`${a}.match[0].headers.x-user.exct`, 'unknown field "exct" (did you mean "exact"?)'],
    ]);
  });

  it("allows the metadata fields the server fills in, labels and status", () => {
    const object = edit(CANARY, {
      "metadata.uid": "1",
      "metadata.labels": { app: "x" },
      "metadata.creationTimestamp": "2026-01-01T00:00:00Z",
      "metadata.managedFields": [],
      status: { phase: "Succeeded" },
    });
    expect(problemsOf(object)).toEqual([]);
  });
});

describe("type errors", () => {
  it.each([
    ["spec.service.port", "9898", 'expected a whole number, got the string "9898": remove the quotes'],
    ["spec.skipAnalysis", "true", 'expected true or false, got the string "true": remove the quotes'],
    [
      `${a}.interval`,
      30,
      'expected a duration such as "30s", "1m" or "1h30m", got the number 30: add a unit, e.g. "30s"',
    ],
    [`${a}.threshold`, 1.5, "expected a whole number, got the number 1.5"],
    ["spec.targetRef.name", 42, 'expected a string, got the number 42: quote it ("42")'],
    ["spec.service", "podinfo", 'expected a mapping of fields, got the string "podinfo"'],
    [`${a}.stepWeights`, 10, "expected a list, got the number 10"],
    ["spec.service.port", null, "expected a whole number, got an empty value"],
    ["spec.service.targetPort", true, "expected a whole number or a string, got true"],
  ])("%s = %j", (path, value, message) => {
    const object = edit(CANARY, { [path]: value });
    if (path.endsWith("stepWeights")) delete (object.spec as Obj as { analysis: Obj }).analysis.stepWeight;
    expect(problemsOf(object)).toContainEqual(expect.objectContaining({ path, message }));
  });

  it("reports a missing required field at its parent", () => {
    expect(problemsOf(edit(CANARY, { "spec.service.port": undefined }))).toEqual([
      expect.objectContaining({ path: "spec.service.port", message: 'missing required field "port"' }),
    ]);
  });
});

describe("formats, enums and sizes", () => {
  it.each(["1 minute", "10", "1d", "-5s", "5S"])("rejects the duration %j", (interval) => {
    expect(problemsOf(edit(CANARY, { [`${a}.interval`]: interval }))).toEqual([
      expect.objectContaining({
        path: `${a}.interval`,
        message: `must be a duration such as "30s", "1m" or "1h30m"; got the string ${JSON.stringify(interval)}`,
      }),
    ]);
  });

  it.each(["30s", "1m", "1h30m", "500ms", "1.5h"])("accepts the duration %j", (interval) => {
    expect(problemsOf(edit(CANARY, { [`${a}.interval`]: interval }))).toEqual([]);
  });

  it("says what a patterned field must be: an IAM role ARN for sigv4.roleArn", () => {
    const sigv4 = { region: "us-west-2", roleArn: "kanaria" };
    expect(problemsOf(edit(TEMPLATE, { "spec.provider.sigv4": sigv4 }))).toEqual([
      expect.objectContaining({
        path: "spec.provider.sigv4.roleArn",
        message:
          'must be an IAM role ARN such as arn:aws:iam::123456789012:role/kanaria; got the string "kanaria"',
      }),
    ]);
  });

  it("lists the allowed values of an enum and suggests the closest", () => {
    const [p] = problemsOf(edit(CANARY, { "spec.provider": "ngnix" }));
    expect(p?.message).toBe(
      'must be one of "kubernetes", "nginx", "gatewayapi", "appmesh", "gatewayapi:v1", "gatewayapi:v1beta1", "appmesh:v1beta2"; got the string "ngnix" (did you mean "nginx"?)',
    );
  });

  it("checks enums of every kind", () => {
    expect(problemsOf(edit(TEMPLATE, { "spec.provider.type": "datadog" }))[0]?.path).toBe(
      "spec.provider.type",
    );
    expect(problemsOf(edit(PROVIDER, { "spec.type": "pagerduty" }))[0]?.path).toBe("spec.type");
    const webhook = { name: "gate", type: "pre-rolout", url: "http://gate/" };
    expect(problemsOf(edit(CANARY, { [`${a}.webhooks`]: [webhook] }))[0]?.message).toContain(
      '(did you mean "pre-rollout"?)',
    );
  });

  it("rejects a URL that is not absolute", () => {
    expect(problemsOf(edit(PROVIDER, { "spec.address": "hooks.slack.com/x" }))[0]?.message).toBe(
      'must be an absolute URL such as "https://example.com/hook"; got the string "hooks.slack.com/x"',
    );
  });

  it.each([
    [`${a}.stepWeight`, 101, "must be at most 100; got the number 101"],
    [`${a}.threshold`, 0, "must be at least 1; got the number 0"],
    ["spec.service.port", 70000, "must be at most 65535; got the number 70000"],
    ["metadata.name", "", "must not be empty"],
  ])("%s = %j is out of range", (path, value, message) => {
    expect(problemsOf(edit(CANARY, { [path]: value }))).toContainEqual(
      expect.objectContaining({ path, message }),
    );
  });

  it("checks list lengths", () => {
    const object = edit(CANARY, { [`${a}.stepWeight`]: undefined, [`${a}.stepWeights`]: [] });
    expect(problemsOf(object)).toContainEqual(
      expect.objectContaining({ path: `${a}.stepWeights`, message: "must list at least one item" }),
    );
    const alerts = Array.from({ length: 17 }, (_, i) => ({ name: `a${i}`, providerRef: { name: "slack" } }));
    expect(problemsOf(edit(CANARY, { [`${a}.alerts`]: alerts }), PROVIDER)).toContainEqual(
      expect.objectContaining({ path: `${a}.alerts`, message: "must list at most 16 items; got 17" }),
    );
  });
});

describe("apiVersion and kind", () => {
  it("rejects another version of the kanaria.dev API", () => {
    expect(problemsOf(edit(CANARY, { apiVersion: "kanaria.dev/v1beta1" }))).toEqual([
      expect.objectContaining({
        severity: "error",
        path: "apiVersion",
        message: '"kanaria.dev/v1beta1" is not a served version of the kanaria API: use kanaria.dev/v1alpha1',
      }),
    ]);
  });

  it("rejects an unknown kind with a suggestion", () => {
    expect(problemsOf(edit(CANARY, { kind: "Canery" }))).toEqual([
      expect.objectContaining({
        path: "kind",
        message:
          'kanaria.dev has no kind "Canery" (did you mean "Canary"?); its kinds are Canary, MetricTemplate, AlertProvider',
      }),
    ]);
  });

  it("rejects a missing kind", () => {
    expect(problemsOf(edit(CANARY, { kind: undefined }))[0]?.message).toBe(
      'missing required field "kind": set it to one of Canary, MetricTemplate, AlertProvider',
    );
  });

  it("ignores other API groups, but fails kanaria kinds under Flagger's or a misspelt group", () => {
    const other = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" }, data: { a: "b" } };
    expect(problemsOf(other)).toEqual([]);
    expect(problemsOf(edit(CANARY, { apiVersion: "flagger.app/v1beta1" }))).toEqual([
      expect.objectContaining({
        severity: "error",
        message:
          "flagger.app/v1beta1 is Flagger's API, which kanaria does not act on; kanaria serves kanaria.dev/v1alpha1: set apiVersion to kanaria.dev/v1alpha1",
      }),
    ]);
    expect(problemsOf(edit(CANARY, { apiVersion: "kanria.dev/v1alpha1" }))[0]).toMatchObject({
      severity: "error",
      path: "apiVersion",
    });
    const widget = { apiVersion: "kanria.dev/v1alpha1", kind: "Widget", metadata: { name: "x" } };
    expect(problemsOf(widget)[0]).toMatchObject({ severity: "warning", path: "apiVersion" });
  });
});

// Found by the List-versus-documents fuzz: each check of a cross-field rule grew its path by the parents'
// keys (zod prefixes them to the path array in place), so the second Canary read metrics[1][1].
describe("cross-field rule paths", () => {
  it("stay the same however often a rule is checked", () => {
    const metric = { name: "latency", thresholdRange: { max: 500 } };
    const canary = {
      ...CANARY,
      spec: {
        ...(CANARY.spec as Obj),
        analysis: { interval: "1m", threshold: 5, stepWeight: 10, metrics: [metric] },
      },
    };
    for (let i = 0; i < 3; i++) {
      expect(problemsOf(canary).map((p) => p.path)).toEqual(["spec.analysis.metrics[0].templateRef"]);
    }
  });
});
