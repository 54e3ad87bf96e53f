// Mutated kanaria manifests for property-based tests of `kanaria validate` (fast-check arbitraries):
// a valid object of each kind, changed in the ways people and tools get manifests wrong.
import fc from "fast-check";

type Json = Record<string, unknown>;

export const BASES: readonly Json[] = [
  {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "Canary",
    metadata: { name: "podinfo", namespace: "test", labels: { app: "podinfo" } },
    spec: {
      provider: "nginx",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "podinfo" },
      progressDeadlineSeconds: 60,
      service: { port: 80, targetPort: 9898 },
      analysis: {
        interval: "30s",
        threshold: 2,
        maxWeight: 50,
        stepWeight: 10,
        metrics: [
          { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
          { name: "latency", templateRef: { name: "latency" }, thresholdRange: { max: 500 } },
        ],
      },
    },
  },
  {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "MetricTemplate",
    metadata: { name: "latency", namespace: "test" },
    spec: {
      provider: { type: "prometheus", address: "http://prometheus:9090", headers: { "X-Org": ["a"] } },
      query: "histogram_quantile(0.99, sum(rate(x[{{ interval }}])) by (le))",
    },
  },
  {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "AlertProvider",
    metadata: { name: "slack", namespace: "test" },
    spec: { type: "slack", channel: "deploys", address: "https://hooks.slack.com/services/X" },
  },
];

/** Every path to a value in obj, e.g. ["spec", "analysis", "metrics", 0, "name"]. */
export function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
}

function setAt(root: Json, path: readonly (string | number)[], value: unknown, remove = false): Json {
  const copy = structuredClone(root);
  let target: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = target[key];
    if (next === null || typeof next !== "object") return copy;
    target = next as Record<string | number, unknown>;
  }
  const last = path.at(-1);
  if (last === undefined) return copy;
  if (remove) {
    if (Array.isArray(target) && typeof last === "number") target.splice(last, 1);
    else delete target[last];
  } else target[last] = value;
  return copy;
}

/** Values people put where they do not belong: quoted numbers, unicode, control characters, lists. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom("", "80", "true", "30", "1m", "PodInfo", "a\u200bb", "$" + "{HOME}", "x\ny", "\u0000", "ÿ"),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 6 }),
  fc.integer({ min: -5, max: 200 }),
  fc.double({ noNaN: true, min: -2, max: 2 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 2 }),
);

/** Field names with a typo or of another level: `treshold`, `namespaces`, a stray `specs`. */
const oddKey = fc.oneof(
  fc.constantFrom(
    "namespaces",
    "annotationss",
    "specs",
    "treshold",
    "stepweight",
    "Name",
    "status",
    "metadata",
  ),
  fc.string({ minLength: 1, maxLength: 8 }),
);

export type Mutation =
  | { op: "set"; path: (string | number)[]; value: unknown }
  | { op: "delete"; path: (string | number)[] }
  | { op: "add"; path: (string | number)[]; key: string; value: unknown }
  | { op: "name"; value: string };

function mutationFor(base: Json): fc.Arbitrary<Mutation> {
  const paths = pathsOf(base).filter((p) => p.length > 0);
  const containers = pathsOf(base).filter((p) => {
    let v: unknown = base;
    for (const k of p) v = (v as Record<string | number, unknown>)[k];
    return v !== null && typeof v === "object" && !Array.isArray(v);
  });
  return fc.oneof(
    fc.record({ op: fc.constant("set" as const), path: fc.constantFrom(...paths), value: oddValue }),
    fc.record({ op: fc.constant("delete" as const), path: fc.constantFrom(...paths) }),
    fc.record({
      op: fc.constant("add" as const),
      path: fc.constantFrom(...containers),
      key: oddKey,
      value: oddValue,
    }),
    fc.record({
      op: fc.constant("name" as const),
      value: fc.oneof(
        fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/),
        fc.string({ maxLength: 20 }),
      ),
    }),
  );
}

export function applyMutation(base: Json, m: Mutation): Json {
  switch (m.op) {
    case "set":
      return setAt(base, m.path, m.value);
    case "delete":
      return setAt(base, m.path, undefined, true);
    case "add":
      return setAt(base, [...m.path, m.key], m.value);
    case "name":
      return setAt(base, ["metadata", "name"], m.value);
  }
}

/** A base manifest with 0 to 3 mutations, and the mutations for the failure report. */
export const mutatedManifest: fc.Arbitrary<{ object: Json; mutations: Mutation[] }> = fc
  .constantFrom(...BASES)
  .chain((base) =>
    fc.array(mutationFor(base), { minLength: 0, maxLength: 3 }).map((mutations) => ({
      object: mutations.reduce(applyMutation, base),
      mutations,
    })),
  );
