/**
 * Turns the JSON Schema that zod emits into a Kubernetes structural schema:
 * no $schema/$ref, no additionalProperties beside properties, maps as additionalProperties,
 * int-or-string as x-kubernetes-int-or-string, no defaults (the controller applies them, as
 * Flagger does, so stored objects stay as the user wrote them).
 */
type Schema = Record<string, unknown>;

const DROP = new Set(["$schema", "default", "propertyNames", "$id", "id"]);
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export function toStructural(input: unknown): Schema {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new Error(`expected a schema object, got ${JSON.stringify(input)}`);
  }
  const schema = input as Schema;
  if ("$ref" in schema)
    throw new Error("schema uses $ref: inline the referenced schema (structural schemas cannot)");
  if (schema["x-kubernetes-int-or-string"] === true) {
    return pick(schema, ["description"], { "x-kubernetes-int-or-string": true });
  }
  if (schema["x-kubernetes-preserve-unknown-fields"] === true) {
    return pick(schema, ["description"], { type: "object", "x-kubernetes-preserve-unknown-fields": true });
  }
  if ("anyOf" in schema || "oneOf" in schema || "allOf" in schema) {
    throw new Error(`unions are not structural: ${JSON.stringify(schema).slice(0, 200)}`);
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROP.has(key)) continue;
    if (key === "additionalProperties") {
      // `false` comes from strict objects: a structural schema prunes unknown fields anyway.
      if (value === false || "properties" in schema) continue;
      out[key] = toStructural(value);
    } else if (key === "properties") {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, toStructural(v)]));
    } else if (key === "items") {
      out[key] = toStructural(value);
    } else if ((key === "minimum" && value === -MAX_SAFE) || (key === "maximum" && value === MAX_SAFE)) {
      // zod's bounds for safe integers say nothing a user needs to read.
    } else if ((key === "exclusiveMinimum" || key === "exclusiveMaximum") && typeof value === "number") {
      // JSON Schema 2020 writes the bound itself (zod's gt/lt); OpenAPI v3.0, which apiextensions
      // reads, wants minimum/maximum plus a boolean.
      out[key === "exclusiveMinimum" ? "minimum" : "maximum"] = value;
      out[key] = true;
    } else if (key === "format" && (value === "uri" || value === "url")) {
      // Kubernetes' OpenAPI validation does not know "uri"; zod and `kanaria validate` check URLs.
    } else {
      out[key] = value;
    }
  }
  if (out.type === "object" && !("properties" in out) && !("additionalProperties" in out)) {
    out["x-kubernetes-preserve-unknown-fields"] = true;
  }
  return out;
}

function pick(schema: Schema, keys: string[], extra: Schema): Schema {
  const out: Schema = {};
  for (const k of keys) if (k in schema) out[k] = schema[k];
  return { ...out, ...extra };
}
