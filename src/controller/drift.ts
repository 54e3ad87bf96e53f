/**
 * Drift: an object kanaria owns that no longer matches what kanaria last decided. Pure: the comparison
 * of an object with the one kanaria would write, the merge patch that puts it back, who changed it
 * (from managedFields) and the messages. Reading the cluster and correcting live in drift-check.ts.
 */
import type { DriftMode } from "../api/drift-mode.ts";
import { canonicalJson } from "../workloads/hash.ts";

/** One step of a field path: a map key, or the item of a list whose `name` is this. */
export type PathStep = { field: string } | { name: string } | { index: number };

/** One field that differs; `found`/`restored` undefined: the field is absent there. */
export interface FieldDrift {
  path: PathStep[];
  found: unknown;
  restored: unknown;
}

export interface CompareOptions {
  /** Fields present only in the object found count as drift (a field added by hand). */
  exact: boolean;
  /** Fields left alone wherever they are (e.g. kubectl rollout restart's annotation). */
  ignore?: (path: PathStep[]) => boolean;
}

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => v !== null && typeof v === "object" && !Array.isArray(v);

/** The API server drops empty maps and lists and nulls: they equal absence. */
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isMap(v)) return Object.values(v).every(isEmpty);
  return false;
}

function same(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  return canonicalJson(a) === canonicalJson(b);
}

/** Lists of objects each with a distinct `name` (containers, env, ports, volumes) are compared by name. */
function byName(list: unknown[]): Map<string, unknown> | undefined {
  const out = new Map<string, unknown>();
  for (const item of list) {
    if (!isMap(item) || typeof item.name !== "string" || out.has(item.name)) return undefined;
    out.set(item.name, item);
  }
  return out;
}

/** The fields in which `found` differs from `desired`, under `path`. */
export function compareFields(
  found: unknown,
  desired: unknown,
  options: CompareOptions,
  path: PathStep[] = [],
): FieldDrift[] {
  if (options.ignore?.(path)) return [];
  if (isMap(desired) && isMap(found)) return compareMaps(found, desired, options, path);
  if (Array.isArray(desired) && Array.isArray(found)) {
    const want = byName(desired);
    const have = byName(found);
    if (want && have) return compareNamed(have, want, options, path);
  }
  if (!options.exact && isEmpty(desired)) return [];
  if (isMap(desired) && found === undefined && !options.exact) return compareMaps({}, desired, options, path);
  return same(found, desired)
    ? []
    : [{ path, found: absentIfEmpty(found), restored: absentIfEmpty(desired) }];
}

function absentIfEmpty(v: unknown): unknown {
  return isEmpty(v) ? undefined : v;
}

function compareMaps(found: Json, desired: Json, options: CompareOptions, path: PathStep[]): FieldDrift[] {
  const keys = new Set(Object.keys(desired));
  if (options.exact) for (const k of Object.keys(found)) keys.add(k);
  return [...keys].flatMap((k) => compareFields(found[k], desired[k], options, [...path, { field: k }]));
}

function compareNamed(
  found: Map<string, unknown>,
  desired: Map<string, unknown>,
  options: CompareOptions,
  path: PathStep[],
): FieldDrift[] {
  const names = new Set(desired.keys());
  if (options.exact) for (const n of found.keys()) names.add(n);
  return [...names].flatMap((name) => {
    const step = [...path, { name }];
    const have = found.get(name);
    const want = desired.get(name);
    // A whole item added or removed is one drift, not one per field of it.
    if (have === undefined || want === undefined) return [{ path: step, found: have, restored: want }];
    return compareFields(have, want, options, step);
  });
}

/**
 * The RFC 7386 merge patch that turns `found` into `desired` (lists are replaced whole, as merge patches
 * do; fields only in `found` become null). Ignored fields are left out.
 */
export function mergePatchFor(
  found: unknown,
  desired: unknown,
  ignore?: (path: PathStep[]) => boolean,
  path: PathStep[] = [],
): unknown {
  if (!isMap(found) || !isMap(desired)) return desired;
  const patch: Json = {};
  for (const k of new Set([...Object.keys(found), ...Object.keys(desired)])) {
    const at = [...path, { field: k }];
    if (ignore?.(at) || same(found[k], desired[k])) continue;
    const want = desired[k];
    if (isMap(found[k]) && (want === undefined || isMap(want))) {
      // Key by key, so a field kanaria leaves alone (ignored) stays where it is.
      const sub = mergePatchFor(found[k], want ?? {}, ignore, at) as Json;
      if (Object.keys(sub).length > 0) patch[k] = sub;
    } else patch[k] = want === undefined ? null : want;
  }
  return patch;
}

/** "spec.template.spec.containers[name=app].image". */
export function pathText(path: PathStep[]): string {
  return path
    .map((s, i) => {
      if ("name" in s) return `[name=${s.name}]`;
      if ("index" in s) return `[${s.index}]`;
      const plain = /^[A-Za-z0-9_-]+$/.test(s.field);
      if (!plain) return `[${JSON.stringify(s.field)}]`;
      return i === 0 ? s.field : `.${s.field}`;
    })
    .join("");
}

/** A managedFields entry as the API server returns it. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  time?: string | Date;
  fieldsV1?: unknown;
}

/** kanaria's own field manager (every write it makes). */
export const KANARIA_MANAGER = "kanaria";

/** How deep `path` reaches into one manager's fieldsV1 (the number of steps it owns along it). */
function ownedDepth(fields: unknown, path: PathStep[]): number {
  let node = fields;
  let depth = 0;
  for (const step of path) {
    if (!isMap(node)) break;
    const key =
      "field" in step ? `f:${step.field}` : "name" in step ? `k:${JSON.stringify({ name: step.name })}` : "";
    const next = node[key];
    if (next === undefined) break;
    node = next;
    depth += 1;
  }
  return depth;
}

const timeOf = (e: ManagedFieldsEntry) => (e.time ? new Date(e.time).getTime() : 0);

/**
 * Who last changed the field at `path`: the manager owning the deepest part of it; for a field nobody
 * owns any more (removed by hand), the manager of the latest write other than kanaria's. Writes to the
 * status subresource are never the change.
 */
export function changedBy(entries: ManagedFieldsEntry[], path: PathStep[]): string | undefined {
  // `kubectl scale` writes through the scale subresource: its entry is a change of spec.replicas.
  const spec = entries.filter(
    (e) => e.subresource === undefined || e.subresource === "" || e.subresource === "scale",
  );
  let best: { depth: number; time: number; manager: string } | undefined;
  for (const e of spec) {
    const depth = ownedDepth(e.fieldsV1, path);
    if (depth === 0 || !e.manager) continue;
    const time = timeOf(e);
    if (!best || depth > best.depth || (depth === best.depth && time > best.time))
      best = { depth, time, manager: e.manager };
  }
  if (best && best.depth === path.length) return best.manager;
  const latest = spec
    .filter((e) => e.manager && e.manager !== KANARIA_MANAGER)
    .sort((a, b) => timeOf(b) - timeOf(a))[0];
  return latest?.manager ?? best?.manager;
}

/** A value for a message: strings quoted, anything else as compact JSON, cut short. */
export function shownValue(value: unknown, hidden = false): string {
  if (value === undefined) return "(absent)";
  if (hidden) return "(hidden)";
  const text = typeof value === "string" ? JSON.stringify(value) : canonicalJson(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** One drifted object, as reported: what it is, what differs, who changed it. */
export interface DriftReport {
  /** "Deployment apps/ledger-primary". */
  object: string;
  /** Empty: the object was deleted. */
  fields: FieldDrift[];
  /** Values of Secrets are never shown. */
  hidden: boolean;
  manager: string | undefined;
  mode: DriftMode;
}

/** How many fields one Event lists; the rest are counted. */
const FIELDS_SHOWN = 3;

/** The Event message of one drifted object. */
export function driftMessage(report: DriftReport): string {
  const who = report.manager ? ` by ${report.manager}` : "";
  const action = report.mode === "warn" ? "left as found (kanaria.dev/drift: warn)" : "restored";
  if (report.fields.length === 0) {
    return report.mode === "warn"
      ? `${report.object} was deleted${who}; left deleted (kanaria.dev/drift: warn)`
      : `${report.object} was deleted${who}; recreated`;
  }
  const fields = report.fields.slice(0, FIELDS_SHOWN).map((f) => {
    const restored = report.mode === "warn" ? "kanaria's value" : "restored";
    return `${pathText(f.path)}: found ${shownValue(f.found, report.hidden)}, ${restored} ${shownValue(f.restored, report.hidden)}`;
  });
  const more = report.fields.length > FIELDS_SHOWN ? `; and ${report.fields.length - FIELDS_SHOWN} more` : "";
  return `${report.object} was changed${who}; ${action}: ${fields.join("; ")}${more}`;
}
