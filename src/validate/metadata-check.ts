/**
 * What the API server checks outside `spec` before it stores an object: the fields it knows at the
 * top level and in metadata (with strict field validation, as `kubectl apply` does), and the formats
 * of names, namespaces, labels, annotations and finalizers (apimachinery's ObjectMeta validation).
 * The zod schemas keep metadata open, because the controller reads objects the server filled in.
 */
import type { z } from "zod";
import { API_VERSION } from "../api/common.ts";
import { DRIFT_ANNOTATION, driftModeError } from "../api/drift-mode.ts";
import { kindInfo } from "../api/kinds.ts";
import { problemAt } from "./locate.ts";
import type { Manifest } from "./manifest.ts";
import type { Problem } from "./problem.ts";
import { schemaAt } from "./schema-check.ts";
import { closest } from "./suggest.ts";

/** Every field of ObjectMeta (k8s.io/apimachinery/pkg/apis/meta/v1). */
const OBJECT_META_FIELDS = [
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

const SUBDOMAIN_RULE =
  "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
const LABEL_RULE =
  "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";

const shown = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);

const isMapping = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

/** Why a label, annotation or finalizer key is not a qualified name (`[prefix/]name`), or undefined. */
export function qualifiedNameError(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) {
    return `its prefix ${shown(prefix)} must be a DNS subdomain (${SUBDOMAIN_RULE})`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME_PART.test(name)) {
    return "its name part must be at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/** The object's top-level fields and metadata, as the API server would judge them. */
export function checkMetadata(m: Manifest): Problem[] {
  const info = m.kind === undefined ? undefined : kindInfo(m.kind);
  if (info === undefined) return [];
  const problems = unknownKeys(m, [], topLevelFields(info.schema));
  const meta = m.value.metadata;
  if (!isMapping(meta)) return problems; // the schema reports a missing or mistyped metadata
  problems.push(...unknownKeys(m, ["metadata"], OBJECT_META_FIELDS));
  problems.push(...nameProblems(m, meta), ...mapProblems(m, meta), ...finalizerProblems(m, meta));
  return problems;
}

/**
 * apiVersion and kind the server cannot read (a list, a number): the object would be rejected whole.
 * A kanaria kind without apiVersion is reported too; other objects without one are not ours to judge.
 */
export function checkTypeMeta(m: Manifest): Problem[] {
  if (m.value.apiVersion === undefined && m.kind !== undefined && kindInfo(m.kind) !== undefined) {
    const message = `missing required field "apiVersion": set it to ${API_VERSION}`;
    return [problemAt(m, ["apiVersion"], "error", message)];
  }
  return (["apiVersion", "kind"] as const).flatMap((field) => {
    const value = m.value[field];
    if (value === undefined || typeof value === "string") return [];
    const what = Array.isArray(value)
      ? "a list"
      : isMapping(value)
        ? "a mapping"
        : `${typeof value} ${value}`;
    const example = field === "apiVersion" ? "kanaria.dev/v1alpha1" : "Canary";
    // `{{ .Values.x }}` unquoted is YAML for a mapping whose key is the mapping `{ .Values.x }`.
    const template =
      isMapping(value) && Object.keys(value).some((k) => k.startsWith("{"))
        ? " (an unrendered template: validate the rendered output)"
        : "";
    const message = `${field} must be a string such as ${example}; got ${what}${template}`;
    return [problemAt(m, [field], "error", message)];
  });
}

function topLevelFields(schema: z.ZodType): string[] {
  return Object.keys(schemaAt(schema, [])?._zod.def.shape ?? {});
}

function unknownKeys(m: Manifest, path: string[], known: readonly string[]): Problem[] {
  const value = path.length === 0 ? m.value : m.value[path[0] as string];
  if (!isMapping(value)) return [];
  return Object.keys(value)
    .filter((key) => !known.includes(key))
    .map((key) => {
      const suggestion = closest(key, known);
      const help =
        suggestion === undefined
          ? `; the fields here are ${known.join(", ")}`
          : ` (did you mean ${JSON.stringify(suggestion)}?)`;
      const message = `unknown field ${shown(key)}${help}: the API server rejects it`;
      return problemAt(m, [...path, key], "error", message, "key");
    });
}

function nameProblems(m: Manifest, meta: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const { name, generateName, namespace } = meta;
  // Empty, too long or not a string: the schema already says so.
  if (typeof name === "string" && name.length > 0 && name.length <= 253 && !isDnsSubdomain(name)) {
    problems.push(
      problemAt(
        m,
        ["metadata", "name"],
        "error",
        `${shown(name)} is not a valid name: use ${SUBDOMAIN_RULE}`,
      ),
    );
  }
  if (typeof generateName === "string" && generateName.replace(/-$/, "") !== "") {
    if (!isDnsSubdomain(generateName.replace(/-$/, ""))) {
      const message = `${shown(generateName)} is not a valid name prefix: use ${SUBDOMAIN_RULE}`;
      problems.push(problemAt(m, ["metadata", "generateName"], "error", message));
    }
  }
  if (typeof namespace === "string" && !isDnsLabel(namespace)) {
    const message = `${shown(namespace)} is not a valid namespace: use ${LABEL_RULE}`;
    problems.push(problemAt(m, ["metadata", "namespace"], "error", message));
  }
  return problems;
}

function mapProblems(m: Manifest, meta: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  for (const field of ["labels", "annotations"] as const) {
    const map = meta[field];
    if (!isMapping(map)) continue;
    for (const [key, value] of Object.entries(map)) {
      const keyError = qualifiedNameError(key);
      if (keyError) {
        const message = `${shown(key)} is not a valid ${field === "labels" ? "label" : "annotation"} key: ${keyError}`;
        problems.push(problemAt(m, ["metadata", field, key], "error", message, "key"));
      }
      if (
        field === "labels" &&
        typeof value === "string" &&
        (value.length > 63 || !LABEL_VALUE.test(value))
      ) {
        const message = `${shown(value)} is not a valid label value: at most 63 characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)`;
        problems.push(problemAt(m, ["metadata", field, key], "error", message));
      }
    }
    if (field === "annotations" && m.kind === "Canary" && DRIFT_ANNOTATION in map) {
      const error = driftModeError(map[DRIFT_ANNOTATION]);
      if (error) problems.push(problemAt(m, ["metadata", field, DRIFT_ANNOTATION], "error", error));
    }
    if (field === "annotations") {
      const bytes = Object.entries(map).reduce(
        (n, [k, v]) => n + Buffer.byteLength(k) + (typeof v === "string" ? Buffer.byteLength(v) : 0),
        0,
      );
      if (bytes > MAX_ANNOTATIONS_BYTES) {
        const message = `annotations take ${bytes} bytes; the API server allows at most ${MAX_ANNOTATIONS_BYTES} in total`;
        problems.push(problemAt(m, ["metadata", "annotations"], "error", message));
      }
    }
  }
  return problems;
}

function finalizerProblems(m: Manifest, meta: Record<string, unknown>): Problem[] {
  if (!Array.isArray(meta.finalizers)) return [];
  return meta.finalizers.flatMap((f, i) => {
    if (typeof f !== "string") return [];
    const error = qualifiedNameError(f);
    if (!error) return [];
    return [
      problemAt(m, ["metadata", "finalizers", i], "error", `${shown(f)} is not a valid finalizer: ${error}`),
    ];
  });
}
