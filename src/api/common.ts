import { z } from "zod";

export const GROUP = "kanaria.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Go-style duration as Flagger and Kubernetes write them: "30s", "1m", "1h30m", "500ms". */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

export const duration = (what: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), {
      message: 'must be a duration such as "30s", "1m" or "1h30m"',
    })
    .meta({ description: what });

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go-style duration into milliseconds; throws on anything `duration()` would reject. */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw new Error(`invalid duration ${JSON.stringify(text)}: use a value such as "30s", "1m" or "1h30m"`);
  }
  return parts.reduce((ms, [, n, unit]) => ms + Number(n) * (UNIT_MS[unit as string] ?? 0), 0);
}

/** An int-or-string (Kubernetes IntOrString), marked so the CRD generator emits x-kubernetes-int-or-string. */
export const intOrString = (description: string) =>
  z.union([z.number().int(), z.string()]).meta({ "x-kubernetes-int-or-string": true, description });

export const stringMap = (description: string) => z.record(z.string(), z.string()).meta({ description });

/** CEL rule for the API server plus the same predicate in TypeScript, so `kanaria validate` and the
 * CRD enforce one rule with one message. */
export interface CrossFieldRule<T> {
  cel: string;
  message: string;
  /** Field the rule reports on, relative to the object the rule is attached to. */
  path: (string | number)[];
  holds: (value: T) => boolean;
}

export function withRules<S extends z.ZodType>(schema: S, rules: CrossFieldRule<z.output<S>>[]): S {
  return schema
    .superRefine((value, ctx) => {
      for (const rule of rules) {
        // A copy: zod prefixes the parents' keys to the issue's path array in place.
        if (!rule.holds(value)) ctx.addIssue({ code: "custom", message: rule.message, path: [...rule.path] });
      }
    })
    .meta({
      "x-kubernetes-validations": rules.map((r) => ({
        rule: r.cel,
        message: r.message,
        ...(r.path.length > 0 ? { fieldPath: `.${r.path.join(".")}` } : {}),
      })),
    }) as S;
}

/** The part of ObjectMeta that manifests carry; everything else the server adds is kept untouched. */
export const objectMeta = z.looseObject({
  name: z.string().min(1).max(253),
  namespace: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  generation: z.number().int().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  finalizers: z.array(z.string()).optional(),
});

export const localObjectReference = (description: string) =>
  z
    .strictObject({
      apiVersion: z.string().optional(),
      kind: z.string().optional(),
      name: z.string().min(1),
    })
    .meta({ description });

export const namespacedReference = (description: string) =>
  z
    .strictObject({
      name: z.string().min(1),
      namespace: z.string().optional().meta({ description: "Defaults to the Canary's namespace." }),
    })
    .meta({ description });

export const secretReference = z
  .strictObject({ name: z.string().min(1) })
  .meta({ description: "A Secret in the same namespace as the object that references it." });

export const condition = z.strictObject({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  observedGeneration: z.number().int().optional(),
  lastUpdateTime: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type Condition = z.infer<typeof condition>;
