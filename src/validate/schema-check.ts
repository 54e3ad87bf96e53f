/** Checks one kanaria.dev object against the zod schemas of src/api and turns each issue into a problem
 * that names the field and says how to fix it. */
import type { z } from "zod";
import type { Canary } from "../api/canary.ts";
import { API_VERSION, DURATION_PATTERN, GROUP, VERSION } from "../api/common.ts";
import { KINDS, kindInfo } from "../api/kinds.ts";
import { flaggerNotes } from "./flagger-notes.ts";
import type { Manifest } from "./load.ts";
import { problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";
import { closest, didYouMean } from "./suggest.ts";

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

/** The part of zod's internal schema definition the validator walks to find known fields and formats. */
interface SchemaNode {
  _zod: {
    def: {
      type: string;
      shape?: Record<string, SchemaNode>;
      element?: SchemaNode;
      valueType?: SchemaNode;
      innerType?: SchemaNode;
      in?: SchemaNode;
      options?: readonly SchemaNode[];
      checks?: readonly { _zod: { def: { check?: string; format?: string; pattern?: RegExp } } }[];
    };
  };
}

const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "catch", "nonoptional"]);

function unwrap(schema: SchemaNode): SchemaNode {
  let current = schema;
  for (;;) {
    const def = current._zod.def;
    const inner = WRAPPERS.has(def.type) ? def.innerType : def.type === "pipe" ? def.in : undefined;
    if (inner === undefined) return current;
    current = inner;
  }
}

function childSchema(schema: SchemaNode, seg: PropertyKey): SchemaNode | undefined {
  const def = unwrap(schema)._zod.def;
  switch (def.type) {
    case "object":
      return def.shape?.[String(seg)];
    case "array":
      return def.element;
    case "record":
      return def.valueType;
    case "union":
      return (def.options ?? []).map((o) => childSchema(o, seg)).find((s) => s !== undefined);
    default:
      return undefined;
  }
}

/** The schema that describes the value at `path`, unwrapped from optional() and friends. */
export function schemaAt(root: z.ZodType, path: Path): SchemaNode | undefined {
  let current: SchemaNode | undefined = root as unknown as SchemaNode;
  for (const seg of path) {
    if (current === undefined) return undefined;
    current = childSchema(current, seg);
  }
  return current === undefined ? undefined : unwrap(current);
}

function knownFields(root: z.ZodType, path: Path): string[] {
  const shape = schemaAt(root, path)?._zod.def.shape;
  return shape ? Object.keys(shape) : [];
}

function isDuration(schema: SchemaNode | undefined): boolean {
  return (schema?._zod.def.checks ?? []).some((c) => c._zod.def.pattern?.source === DURATION_PATTERN);
}

function isInteger(schema: SchemaNode | undefined): boolean {
  return (schema?._zod.def.checks ?? []).some(
    (c) => c._zod.def.format === "safeint" || c._zod.def.format === "int32",
  );
}

/** What a schema accepts, in words: "a whole number", "a duration such as ...", "a string". */
function expectedOf(schema: SchemaNode | undefined, fallback: string): string {
  if (isDuration(schema)) return DURATION_EXAMPLE;
  if (isInteger(schema)) return EXPECTED.int as string;
  const type = schema?._zod.def.type ?? fallback;
  return EXPECTED[type] ?? type;
}

function valueAt(root: unknown, path: Path): unknown {
  let current = root;
  for (const seg of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[seg];
  }
  return current;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `the string ${JSON.stringify(shown)}`;
  }
  if (typeof value === "number") return `the number ${value}`;
  return String(value);
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping of fields",
  record: "a mapping",
  array: "a list",
};

const DURATION_EXAMPLE = 'a duration such as "30s", "1m" or "1h30m"';

/** A short fix for the common ways YAML gives the wrong type: quoted numbers, unquoted strings. */
function typeHint(expected: string, value: unknown, duration: boolean): string {
  if (
    (expected === "number" || expected === "int") &&
    typeof value === "string" &&
    /^-?\d+(\.\d+)?$/.test(value)
  ) {
    return ": remove the quotes";
  }
  if (expected === "boolean" && (value === "true" || value === "false")) return ": remove the quotes";
  if (duration && typeof value === "number") return `: add a unit, e.g. "${value}s"`;
  if (expected === "string" && (typeof value === "number" || typeof value === "boolean")) {
    return `: quote it ("${String(value)}")`;
  }
  return "";
}

function invalidType(m: Manifest, root: z.ZodType, path: Path, expected: string): string {
  const value = valueAt(m.value, path);
  const field = path[path.length - 1];
  if (value === undefined) return `missing required field ${JSON.stringify(String(field))}`;
  const schema = schemaAt(root, path);
  const want = expectedOf(schema, expected);
  return `expected ${want}, got ${describe(value)}${typeHint(expected, value, isDuration(schema))}`;
}

function invalidValue(m: Manifest, path: Path, values: readonly unknown[]): string {
  const value = valueAt(m.value, path);
  const options = values.map((v) => JSON.stringify(v)).join(", ");
  const hint = typeof value === "string" ? didYouMean(value, values.map(String)) : "";
  return `must be one of ${options}; got ${describe(value)}${hint}`;
}

function invalidFormat(m: Manifest, root: z.ZodType, issue: Issue & { code: "invalid_format" }): string {
  const got = describe(valueAt(m.value, issue.path));
  if (isDuration(schemaAt(root, issue.path))) return `must be ${DURATION_EXAMPLE}; got ${got}`;
  if (issue.format === "url") return `must be an absolute URL such as "https://example.com/hook"; got ${got}`;
  if (issue.format === "regex") {
    // A schema's own wording ("an IAM role ARN such as ...") says more than its pattern.
    const custom = !issue.message.startsWith("Invalid");
    return `must be ${custom ? issue.message : `a string matching ${(issue as { pattern?: string }).pattern}`}; got ${got}`;
  }
  return `must be a valid ${issue.format}; got ${got}`;
}

function sizeMessage(issue: Issue & { code: "too_small" | "too_big" }, value: unknown): string {
  const small = issue.code === "too_small";
  const limit = Number(
    small ? (issue as { minimum: unknown }).minimum : (issue as { maximum: unknown }).maximum,
  );
  const bound = small
    ? issue.inclusive
      ? "at least"
      : "greater than"
    : issue.inclusive
      ? "at most"
      : "less than";
  switch (issue.origin) {
    case "string":
      if (small && limit === 1) return "must not be empty";
      return `must be ${bound} ${limit} characters long; got ${String(value).length}`;
    case "array":
      if (small && limit === 1) return "must list at least one item";
      return `must list ${bound} ${limit} items; got ${Array.isArray(value) ? value.length : 0}`;
    default:
      return `must be ${bound} ${limit}; got ${describe(value)}`;
  }
}

/** An int-or-string and similar unions: name every accepted type instead of zod's "Invalid input". */
function invalidUnion(m: Manifest, root: z.ZodType, issue: Issue & { code: "invalid_union" }): string {
  const options = schemaAt(root, issue.path)?._zod.def.options ?? [];
  const expected = options.map((o) => expectedOf(unwrap(o), o._zod.def.type));
  if (expected.length === 0) return issue.message;
  return `expected ${[...new Set(expected)].join(" or ")}, got ${describe(valueAt(m.value, issue.path))}`;
}

function unknownFields(
  m: Manifest,
  root: z.ZodType,
  issue: Issue & { code: "unrecognized_keys" },
): Problem[] {
  const known = knownFields(root, issue.path);
  return issue.keys.map((key) => {
    const suggestion = closest(key, known);
    const help =
      suggestion !== undefined
        ? ` (did you mean ${JSON.stringify(suggestion)}?)`
        : known.length > 0 && known.length <= 12
          ? `; the fields here are ${known.join(", ")}`
          : "";
    return problemAt(m, [...issue.path, key], "error", `unknown field ${JSON.stringify(key)}${help}`, "key");
  });
}

function issueProblems(m: Manifest, root: z.ZodType, issue: Issue): Problem[] {
  const error = (message: string) => [problemAt(m, issue.path, "error", message)];
  switch (issue.code) {
    case "unrecognized_keys":
      return unknownFields(m, root, issue);
    case "invalid_type":
      return error(invalidType(m, root, issue.path, issue.expected));
    case "invalid_value":
      return error(invalidValue(m, issue.path, issue.values));
    case "invalid_format":
      return error(invalidFormat(m, root, issue));
    case "too_small":
    case "too_big":
      return error(sizeMessage(issue, valueAt(m.value, issue.path)));
    case "invalid_union":
      return error(invalidUnion(m, root, issue));
    default:
      // custom: the withRules cross-field rules, whose messages already name the fields and the fix.
      return error(issue.message);
  }
}

/** apiVersion and kind are checked before the schema so that a wrong one gives one clear message instead
 * of a schema error for every field of a kind the object was not meant to be. */
function apiVersionProblem(m: Manifest): Problem | undefined {
  const version = m.apiVersion?.slice(GROUP.length + 1);
  if (version !== VERSION) {
    return problemAt(
      m,
      ["apiVersion"],
      "error",
      `${JSON.stringify(m.apiVersion)} is not a served version of the kanaria API: use ${API_VERSION}`,
    );
  }
  const kinds = KINDS.map((k) => k.kind);
  if (m.kind === undefined) {
    const what =
      m.value.kind === undefined
        ? 'missing required field "kind"'
        : `expected a string, got ${describe(m.value.kind)}`;
    return problemAt(m, ["kind"], "error", `${what}: set it to one of ${kinds.join(", ")}`);
  }
  if (kindInfo(m.kind) === undefined) {
    const hint = didYouMean(m.kind, kinds);
    return problemAt(
      m,
      ["kind"],
      "error",
      `${GROUP} has no kind ${JSON.stringify(m.kind)}${hint}; its kinds are ${kinds.join(", ")}`,
    );
  }
  return undefined;
}

/** Validates an object whose apiVersion is in the kanaria.dev group. */
export function checkManifest(m: Manifest): Problem[] {
  const header = apiVersionProblem(m);
  if (header !== undefined) return [header];
  const schema = (kindInfo(m.kind as string) as { schema: z.ZodType }).schema;
  let result: ReturnType<z.ZodType["safeParse"]>;
  try {
    result = schema.safeParse(m.value);
  } catch (err) {
    // A cross-field rule may trip over a value of the wrong type that another check already reports.
    return [
      problemAt(m, [], "error", `cannot validate: ${err instanceof Error ? err.message : String(err)}`),
    ];
  }
  if (result.success) return m.kind === "Canary" ? flaggerNotes(m, result.data as Canary) : [];
  return result.error.issues.flatMap((issue) => issueProblems(m, schema, issue));
}
