/**
 * Finds drift in what a Canary owns (the primary's pod template and config copies, the generated
 * Services, the route's split), decides what is new, and puts it back. Reads come from the watch
 * caches; the API server is asked (for managedFields: who changed it) only for drift not reported yet,
 * so an idle tick costs no request. The comparison itself is in drift.ts.
 */

import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Canary, CanaryStatus } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { DriftMode } from "../api/drift-mode.ts";
import type { CanaryEvent } from "../api/events.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import { type Router, type Routes, sameRoutes } from "../routers/router.ts";
import {
  checksum,
  copyConfigsToPrimary,
  findConfigRefs,
  parseConfigKey,
  primaryConfigName,
  primaryCopy,
  promotedCopyName,
  type TrackedConfigs,
} from "../workloads/config-tracker.ts";
import { shortHash } from "../workloads/hash.ts";
import type { LabelPrefixes } from "../workloads/label-prefix.ts";
import {
  type ConfigMap,
  controllingCanary,
  type Secret,
  type Service,
  type Workload,
} from "../workloads/meta.ts";
import {
  buildPrimary,
  primaryHistory,
  REVISION_ANNOTATION,
  recordedSettings,
  revisionOfPrimary,
} from "../workloads/primary.ts";
import type { Revision } from "../workloads/revision.ts";
import { buildServices } from "../workloads/services.ts";
import { desiredState } from "./desired.ts";
import {
  changedBy,
  compareFields,
  driftMessage,
  type FieldDrift,
  KANARIA_MANAGER,
  type ManagedFieldsEntry,
  mergePatchFor,
  type PathStep,
} from "./drift.ts";

/** One object that differs from what kanaria last decided. */
export interface DriftCandidate {
  ref: ObjectRef;
  /** Kind/name@hash of the values found (@absent: deleted): one change, reported once. */
  key: string;
  /** Empty: the object is gone. */
  fields: FieldDrift[];
  /** A Secret: values never shown. */
  hidden: boolean;
  /**
   * Any difference is someone else's change (the primary and its copies are compared with the promoted
   * revision itself). Otherwise (Services, routes) a field kanaria itself wrote last is its own change
   * on its way, e.g. a port the target just gained.
   */
  certain: boolean;
  /** The merge patch that puts it back; undefined: the reconcile's own writes do (deleted objects, splits). */
  patch: Record<string, unknown> | undefined;
  /** Found to differ, but the fields and patch cost a request: read only for drift to report or correct. */
  resolve?: () => Promise<Pick<DriftCandidate, "fields" | "patch" | "unrestorable">>;
  /** What it should be is not known (no copy of the promoted template left): reported, never put back. */
  unrestorable?: boolean;
  /** A deleted object to create again as this (a config copy mid-release, from its promoted copy). */
  restore?: KubeObject;
}

export interface DriftInput {
  client: KubeClient;
  canary: Canary;
  resolved: ResolvedCanary;
  target: Workload;
  revision: Revision;
  primary: Workload | undefined;
  /** The status kanaria last wrote (what it last decided) and the one it is about to write. */
  before: CanaryStatus;
  after: CanaryStatus;
  router: Router;
  routes: Routes | undefined;
}

export interface DriftFound {
  mode: DriftMode;
  /** Drift standing now, reported now or earlier: the next status.drift. */
  standing: string[];
  /** Events for drift seen for the first time (each becomes an alert through the outbox). */
  events: CanaryEvent[];
  /** What to put back (correct mode only), and the kinds of those reported now (for the counter). */
  corrections: DriftCandidate[];
  correctedKinds: string[];
  /** In warn mode: leave the Services or the split as found. */
  holdServices: boolean;
  holdRoutes: boolean;
  /** A config copy is gone: copy the configs again. */
  recopyConfigs: boolean;
  /** The generated Services the check found (one deleted since is left to the deletion's own reconcile). */
  servicesSeen: string[];
}

export const NO_DRIFT: DriftFound = {
  mode: "correct",
  standing: [],
  events: [],
  corrections: [],
  correctedKinds: [],
  holdServices: false,
  holdRoutes: false,
  recopyConfigs: false,
  servicesSeen: [],
};

const step = (field: string): PathStep => ({ field });

/** Present only once kanaria has created what it owns; before that every difference is its own work. */
function settled(status: CanaryStatus): boolean {
  return status.phase !== undefined && status.phase !== "Initializing" && status.phase !== "Terminating";
}

/** Drift in what the Canary owns, reported once each. */
export async function findDrift(input: DriftInput, mode: DriftMode): Promise<DriftFound> {
  if (!settled(input.before)) return NO_DRIFT;
  const servicesSeen: string[] = [];
  const candidates = [
    ...(await primaryDrift(input)),
    ...(await serviceDrift(input, servicesSeen)),
    ...(await routeDrift(input)),
  ];
  if (candidates.length === 0) return { ...NO_DRIFT, servicesSeen };
  const known = new Set(input.before.drift ?? []);
  const found: DriftFound = {
    ...NO_DRIFT,
    mode,
    standing: [],
    events: [],
    corrections: [],
    correctedKinds: [],
    servicesSeen,
  };
  for (const seen of candidates) {
    const isNew = !known.has(seen.key);
    // Warn mode: drift already reported stays as it is, at no cost; correct mode looks again.
    const looks = isNew || mode === "correct";
    const c = seen.resolve && looks ? { ...seen, ...(await seen.resolve()) } : seen;
    const manager = looks ? await whoChanged(input.client, c) : undefined;
    const byKanaria = manager === KANARIA_MANAGER;
    if (byKanaria && !c.certain) continue; // kanaria's own change on its way
    // Known drift that kanaria wrote last was put back and came back (a mutating webhook): no fight.
    const action = mode === "correct" && !c.unrestorable && !(byKanaria && !isNew) ? "correct" : "warn";
    found.standing.push(c.key);
    if (isNew) report(found, c, byKanaria ? undefined : manager, action);
    settle(found, c, action);
  }
  return found;
}

function report(found: DriftFound, c: DriftCandidate, manager: string | undefined, action: DriftMode): void {
  const object = `${c.ref.kind} ${c.ref.namespace}/${c.ref.name}`;
  const message = driftMessage({ object, fields: c.fields, hidden: c.hidden, manager, mode: action });
  found.events.push({ type: "Warning", reason: "Drift", message });
  if (action === "correct") found.correctedKinds.push(c.ref.kind);
}

/** What the reconcile does about one drift: put it back, or leave it (no write of kanaria's undoes it). */
function settle(found: DriftFound, c: DriftCandidate, action: DriftMode): void {
  if (action === "correct") {
    found.corrections.push(c);
    const config = c.ref.kind === "ConfigMap" || c.ref.kind === "Secret";
    if (c.fields.length === 0 && config && !c.restore) found.recopyConfigs = true;
  } else if (c.ref.kind === "Service") found.holdServices = true;
  else if (!["Deployment", "DaemonSet", "ConfigMap", "Secret"].includes(c.ref.kind)) found.holdRoutes = true;
}

/** The field manager of the change, from managedFields (read once; the caches drop them). */
async function whoChanged(client: KubeClient, c: DriftCandidate): Promise<string | undefined> {
  const first = c.fields[0];
  if (!first) return undefined;
  const live = await (client.getLive ?? client.get).call(client, c.ref);
  const entries = (live?.metadata as { managedFields?: ManagedFieldsEntry[] } | undefined)?.managedFields;
  return changedBy(entries ?? [], first.path);
}

function candidate(
  object: KubeObject,
  fields: FieldDrift[],
  extra: { hidden?: boolean; certain: boolean; patch?: Record<string, unknown> },
): DriftCandidate {
  return {
    ref: refOf(object),
    // What was found, not the resourceVersion: a status update must not make the same drift new.
    key: `${object.kind}/${object.metadata.name}@${shortHash(fields.map((f) => [f.path, f.found]))}`,
    fields,
    hidden: extra.hidden ?? false,
    certain: extra.certain,
    patch: extra.patch,
  };
}

function deleted(ref: ObjectRef): DriftCandidate {
  return {
    ref,
    key: `${ref.kind}/${ref.name}@absent`,
    fields: [],
    hidden: false,
    certain: true,
    patch: undefined,
  };
}

function refOf(o: KubeObject): ObjectRef {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name,
  };
}

/** `kubectl rollout restart` restarts the pods without changing what they run: not drift. */
function templateIgnored(path: PathStep[]): boolean {
  const text = path.map((s) => ("field" in s ? s.field : "")).join("/");
  return (
    text === "metadata/annotations/kubectl.kubernetes.io/restartedAt" || text === "metadata/creationTimestamp"
  );
}

/**
 * The primary and its config copies against the revision it must run. While the target still is that
 * revision, the primary kanaria would build from it is exactly what it promoted, field by field. A
 * target changed since is a new revision (a release), never drift; the primary still serves
 * production then and is checked against the promoted revision another way (releasePrimaryDrift).
 */
async function primaryDrift(input: DriftInput): Promise<DriftCandidate[]> {
  const { canary, target, revision, primary, before, after, resolved } = input;
  const promoted = primary && runsRevision(primary, before);
  if (!primary || !promoted) return [];
  if (desiredState(after, resolved).primary === "copy") return [];
  if (controllingCanary(primary) !== canary.metadata.name) return [];
  const out: DriftCandidate[] = [];
  const settings = settingsDrift(canary, primary);
  if (settings) out.push(settings);
  if (revision.hash !== promoted) return [...out, ...(await releasePrimaryDrift(input, primary, promoted))];
  const fields = templateDrift(canary, target, revision, primary);
  if (fields.length > 0) {
    const desired = buildPrimary(canary, target, revision, primary).spec?.template;
    const patch = { spec: { template: mergePatchFor(primary.spec?.template, desired, templateIgnored) } };
    out.push(candidate(primary, fields, { certain: true, patch }));
  }
  for (const key of Object.keys(revision.trackedConfigs)) {
    const copy = await configCopyDrift(input, key);
    if (copy) out.push(copy);
  }
  return out;
}

/**
 * The primary's replicas and rollout settings against those kanaria applied with it (recorded on it, as
 * the target is scaled to zero between releases). Replicas are the autoscaler's when there is one:
 * never compared then, so kanaria never fights an HPA.
 */
function settingsDrift(canary: Canary, primary: Workload): DriftCandidate | undefined {
  const recorded = recordedSettings(primary);
  if (!recorded) return undefined;
  const { replicas, ...rest } = recorded;
  const want: Record<string, unknown> = canary.spec.autoscalerRef ? rest : recorded;
  const spec = (primary.spec ?? {}) as unknown as Record<string, unknown>;
  const found = Object.fromEntries(Object.keys(want).map((k) => [k, spec[k]]));
  const fields = compareFields(found, want, { exact: true }, [step("spec")]);
  if (fields.length === 0) return undefined;
  return candidate(primary, fields, { certain: true, patch: { spec: mergePatchFor(found, want) } });
}

/**
 * The primary's pod template against the one built from the target. Watch-cache objects stay the same
 * (frozen) object until they change, so an idle tick reuses the last answer instead of comparing again.
 */
function templateDrift(
  canary: Canary,
  target: Workload,
  revision: Revision,
  primary: Workload,
): FieldDrift[] {
  const known = compared.get(primary);
  if (known?.target === target && known.revision === revision.hash) return known.fields;
  const desired = buildPrimary(canary, target, revision, primary).spec?.template;
  const base = [step("spec"), step("template")];
  const fields = compareFields(
    primary.spec?.template,
    desired,
    { exact: true, ignore: templateIgnored },
    base,
  );
  if (Object.isFrozen(primary)) compared.set(primary, { target, revision: revision.hash, fields });
  return fields;
}

const compared = new WeakMap<object, { target: object; revision: string; fields: FieldDrift[] }>();

/**
 * The revision the primary must run: the one promoted last, or the one being promoted (from the
 * promotion's copy until the status says Succeeded), as kanaria wrote on it.
 */
function runsRevision(primary: Workload, status: CanaryStatus): string | undefined {
  const written = primary.metadata.annotations?.[REVISION_ANNOTATION];
  const promoting = written !== undefined && written === status.lastAppliedSpec;
  return promoting ? written : status.lastPromotedSpec;
}

/**
 * While a new revision is analysed the target no longer holds the promoted template or configs, but the
 * primary still serves production: it must hash back to the promoted revision (revisionOfPrimary). When
 * it does not, the copies are checked against their promoted copies (<name>-primary-promoted), and the
 * template, with the promoted configs' checksums, against the primary's ReplicaSets (one request, only
 * then).
 */
async function releasePrimaryDrift(
  input: DriftInput,
  primary: Workload,
  promoted: string,
): Promise<DriftCandidate[]> {
  const template = primary.spec?.template;
  const [labelKey, labelValue] = Object.entries(primary.spec?.selector?.matchLabels ?? {})[0] ?? [];
  if (!template || !labelKey || !labelValue) return [];
  const copies = await copyChecksums(input, template);
  const runs = primaryRevision(primary, template, labelKey, copies);
  if (runs === promoted) return [];
  const kept = await promotedCopies(input, template);
  const sums: TrackedConfigs = { ...copies };
  for (const [key, k] of Object.entries(kept)) sums[key] = checksum(k.promoted);
  // The promoted copies are trusted only when they and the template hash to the promoted revision; a
  // drifted template is put back first (from the ReplicaSets), and the copies are looked at again then.
  if (primaryRevision(primary, template, labelKey, sums) === promoted)
    return Object.values(kept).flatMap((k) => releaseCopyDrift(input.canary, k));
  return [templateAgainstHistory(input, primary, template, labelKey, sums, runs, promoted)];
}

/** The primary's template, found not to hash to the promoted revision, against its ReplicaSets. */
function templateAgainstHistory(
  input: DriftInput,
  primary: Workload,
  template: V1PodTemplateSpec,
  labelKey: string,
  sums: TrackedConfigs,
  runs: string,
  promoted: string,
): DriftCandidate {
  const base = [step("spec"), step("template")];
  const unknown = { path: base, found: `revision ${runs}`, restored: `revision ${promoted}` };
  const resolve = async (): Promise<Pick<DriftCandidate, "fields" | "patch" | "unrestorable">> => {
    const desired = (await primaryHistory(input.client, primary)).find(
      (t) => revisionOfPrimary(t, labelKey, sums) === promoted,
    );
    if (!desired) return { fields: [unknown], patch: undefined, unrestorable: true };
    const fields = compareFields(template, desired, { exact: true, ignore: templateIgnored }, base);
    const patch = { spec: { template: mergePatchFor(template, desired, templateIgnored) } };
    return fields.length > 0
      ? { fields, patch }
      : { fields: [unknown], patch: undefined, unrestorable: true };
  };
  return {
    ref: refOf(primary),
    key: `${primary.kind}/${primary.metadata.name}@${runs}`,
    fields: [unknown],
    hidden: false,
    certain: true,
    patch: undefined,
    resolve,
  };
}

interface KeptCopy {
  ref: ObjectRef;
  /** The -primary copy as found; undefined: deleted. */
  copy: ConfigMap | Secret | undefined;
  promoted: ConfigMap | Secret;
}

/** The promoted copies of the configs the primary's template reads (kind/original name -> both copies). */
async function promotedCopies(
  input: DriftInput,
  template: V1PodTemplateSpec,
): Promise<Record<string, KeptCopy>> {
  const { client, canary } = input;
  const namespace = canary.metadata.namespace ?? "";
  const out: Record<string, KeptCopy> = {};
  for (const r of findConfigRefs(template)) {
    if (!r.name.endsWith("-primary")) continue;
    const original = r.name.slice(0, -"-primary".length);
    const kind = r.kind === "configmap" ? "ConfigMap" : "Secret";
    const ref = { apiVersion: "v1", kind, namespace, name: r.name };
    const promoted = await client.get<ConfigMap | Secret>({ ...ref, name: promotedCopyName(original) });
    if (!promoted || controllingCanary(promoted) !== canary.metadata.name) continue;
    const copy = await client.get<ConfigMap | Secret>(ref);
    if (copy && controllingCanary(copy) !== canary.metadata.name) continue;
    out[`${r.kind}/${original}`] = { ref, copy, promoted };
  }
  return out;
}

/** A -primary copy that differs from its promoted copy: put back from it (mid-release there is no other). */
function releaseCopyDrift(canary: Canary, k: KeptCopy): DriftCandidate[] {
  if (!k.copy) {
    // The promoted copy already carries the labels --include-label-prefix chose: keep them all.
    const copy = primaryCopy(canary, k.promoted, ["*"]);
    return [{ ...deleted(k.ref), restore: { ...copy, metadata: { ...copy.metadata, name: k.ref.name } } }];
  }
  const fields = compareFields(configContent(k.copy), configContent(k.promoted), { exact: true });
  if (fields.length === 0) return [];
  const patch = mergePatchFor(configContent(k.copy), configContent(k.promoted)) as Record<string, unknown>;
  return [candidate(k.copy, fields, { hidden: k.ref.kind === "Secret", certain: true, patch })];
}

const configContent = (o: ConfigMap | Secret) =>
  o.kind === "Secret"
    ? { data: (o as Secret).data }
    : { data: (o as ConfigMap).data, binaryData: (o as ConfigMap).binaryData };

/** The checksums of the config copies the primary's template reads (kind/original name -> checksum). */
async function copyChecksums(input: DriftInput, template: V1PodTemplateSpec): Promise<TrackedConfigs> {
  const { client, canary } = input;
  const namespace = canary.metadata.namespace ?? "";
  const out: TrackedConfigs = {};
  for (const ref of findConfigRefs(template)) {
    if (!ref.name.endsWith("-primary")) continue;
    const kind = ref.kind === "configmap" ? "ConfigMap" : "Secret";
    const copy = await client.get<ConfigMap | Secret>({ apiVersion: "v1", kind, namespace, name: ref.name });
    if (copy && controllingCanary(copy) === canary.metadata.name)
      out[`${ref.kind}/${ref.name.slice(0, -"-primary".length)}`] = checksum(copy);
  }
  return out;
}

/** revisionOfPrimary, once per version of the primary and its copies. */
function primaryRevision(
  primary: Workload,
  template: V1PodTemplateSpec,
  labelKey: string,
  copies: TrackedConfigs,
): string {
  const key = JSON.stringify(copies);
  const known = revisions.get(primary);
  if (known?.copies === key) return known.hash;
  const hash = revisionOfPrimary(template, labelKey, copies);
  if (Object.isFrozen(primary)) revisions.set(primary, { copies: key, hash });
  return hash;
}

const revisions = new WeakMap<object, { copies: string; hash: string }>();

async function configCopyDrift(input: DriftInput, key: string): Promise<DriftCandidate | undefined> {
  const { client, canary } = input;
  const { kind, name } = parseConfigKey(key);
  const namespace = canary.metadata.namespace ?? "";
  const apiKind = kind === "configmap" ? "ConfigMap" : "Secret";
  const ref = (n: string): ObjectRef => ({ apiVersion: "v1", kind: apiKind, namespace, name: n });
  const original = await client.get<ConfigMap | Secret>(ref(name));
  if (!original) return undefined;
  const copy = await client.get<ConfigMap | Secret>(ref(primaryConfigName(name)));
  if (!copy) return deleted(ref(primaryConfigName(name)));
  const desired = primaryCopy(canary, original);
  const fields = compareFields(configContent(copy), configContent(desired), { exact: true });
  if (fields.length === 0) return undefined;
  const patch = mergePatchFor(configContent(copy), configContent(desired)) as Record<string, unknown>;
  return candidate(copy, fields, { hidden: apiKind === "Secret", certain: true, patch });
}

/** The apex, -primary and -canary Services: their selectors exactly, their ports as kanaria sets them. */
async function serviceDrift(input: DriftInput, seen: string[]): Promise<DriftCandidate[]> {
  const { client, canary, target } = input;
  const names = buildServices(canary, target);
  const live = {
    apex: await client.get<Service>(refOf(names.apex)),
    primary: await client.get<Service>(refOf(names.primary)),
    canary: await client.get<Service>(refOf(names.canary)),
  };
  // Built against the live Services: a spec.service.unmanagedMetadata key keeps its live value.
  const desired = buildServices(canary, target, live);
  const out: DriftCandidate[] = [];
  for (const role of ["apex", "primary", "canary"] as const) {
    const want = desired[role];
    const ref = refOf(want);
    const found = live[role];
    if (!found) {
      out.push(deleted(ref));
      continue;
    }
    seen.push(ref.name);
    const owner = controllingCanary(found);
    if (owner !== undefined && owner !== canary.metadata.name) continue; // a clash, reported by converge
    const selector = [step("spec"), step("selector")];
    const selectorDrift = compareFields(found.spec?.selector, want.spec?.selector, { exact: true }, selector);
    const portDrift = compareFields(found.spec?.ports, want.spec?.ports, { exact: false }, [
      step("spec"),
      step("ports"),
    ]);
    // An adopted apex Service's metadata stays its owner's; kanaria's keys only, never others' (a mesh's).
    const metadata = owner === undefined ? [] : metadataDrift(found, want);
    const fields = [...selectorDrift, ...portDrift, ...metadata];
    if (fields.length === 0) continue;
    // Ports go back by the reconcile's apply (which keeps a NodePort's port); a selector key added by
    // hand is not removed by an apply, so the selector is patched, and so are labels and annotations
    // (an apply would not restore a key someone else took over).
    const patch = {
      ...(selectorDrift.length > 0 && {
        spec: { selector: mergePatchFor(found.spec?.selector, want.spec?.selector) },
      }),
      ...(metadata.length > 0 && { metadata: metadataPatch(metadata) }),
    };
    out.push(candidate(found, fields, { certain: false, ...(Object.keys(patch).length > 0 && { patch }) }));
  }
  return out;
}

/** The labels and annotations kanaria sets on a Service, each key that differs or is gone. */
function metadataDrift(found: Service, want: Service): FieldDrift[] {
  return (["labels", "annotations"] as const).flatMap((field) =>
    compareFields(found.metadata[field] ?? {}, want.metadata[field] ?? {}, { exact: false }, [
      step("metadata"),
      step(field),
    ]),
  );
}

/** The merge patch that sets kanaria's keys back, leaving every other key as it is. */
function metadataPatch(fields: FieldDrift[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const f of fields) {
    const [, group, key] = f.path.map((p) => ("field" in p ? p.field : ""));
    if (group && key) out[group] = { ...out[group], [key]: f.restored };
  }
  return out;
}

export function splitText(r: Routes): string {
  const extra = `${r.matched ? ", matching requests to the canary" : ""}${r.mirrored ? ", mirrored" : ""}`;
  return `primary ${r.primaryWeight}% / canary ${r.canaryWeight}%${extra}`;
}

/** The split found in the route against the one kanaria last decided (and the one it decides now). */
async function routeDrift(input: DriftInput): Promise<DriftCandidate[]> {
  const { router, routes, before, after, resolved, canary, client } = input;
  const split = routes && router.splitField?.({ canary, resolved });
  if (!routes || !split) return [];
  const last = desiredState(before, resolved).routes;
  const next = desiredState(after, resolved).routes;
  if (sameRoutes(routes, last) || sameRoutes(routes, next)) return [];
  const { ref, path } = split;
  const object = await client.get<KubeObject>(ref);
  if (!object) return [];
  const field = { path: path.map(step), found: splitText(routes), restored: splitText(next) };
  return [candidate(object, [field], { certain: false })];
}

/** Puts back what drifted (correct mode); the reconcile's own writes then find nothing to do. */
export async function correctDrift(
  client: KubeClient,
  canary: Canary,
  revision: Revision,
  found: DriftFound,
  labelPrefixes: LabelPrefixes = [],
): Promise<void> {
  if (found.recopyConfigs) await copyConfigsToPrimary(client, canary, revision.trackedConfigs, labelPrefixes);
  for (const c of found.corrections) {
    if (c.restore) await client.apply(c.restore);
    else if (c.patch && c.fields.length > 0) await client.mergePatch(c.ref, c.patch);
  }
}

/** The decision's status and events with the drift found. */
export function withDrift<D extends { status: CanaryStatus; events: CanaryEvent[] }>(
  decision: D,
  found: DriftFound,
): D {
  const { drift: _, ...rest } = decision.status;
  const status = found.standing.length > 0 ? { ...rest, drift: found.standing } : rest;
  return { ...decision, status, events: [...decision.events, ...found.events] };
}
