/**
 * `kanaria validate` for spec.autoscalerRef, against the HorizontalPodAutoscalers and KEDA ScaledObjects
 * among the inputs: the one it names must be of the kind it says and scale the Canary's target; its
 * bounds must agree with primaryScalerReplicas; primaryScalerQueries must name triggers that have a
 * query to replace. An autoscaler of the target (or of `<target>-primary`) that the Canary does not name
 * fights kanaria over replicas. What is definitely wrong is an error, as for the target's ports; a
 * referenced autoscaler that is not among the inputs is a warning (it may be applied another way).
 *
 * Namespaces as in cross-check.ts: autoscalerRef has no namespace (the Canary's), and an object without
 * metadata.namespace counts as being in the Canary's. For the reverse check (an autoscaler of the target
 * the Canary does not name), an autoscaler and a Canary that both lack a namespace must also share a
 * directory, as two Canaries must to conflict: other directories are usually other kustomizations.
 * Autoscalers a Canary controls (kanaria's own `-primary` copies, in a `kubectl get -o yaml` dump) are
 * not the user's and are skipped.
 */
import { HPA_API_VERSION } from "../scalers/hpa.ts";
import { KEDA_API_VERSION, primaryQuery } from "../scalers/keda.ts";
import { dirOf, type Manifest } from "./load.ts";
import { locate, problemAt } from "./locate.ts";
import { type Problem, shorten } from "./problem.ts";

type Path = (string | number)[];
type Json = Record<string, unknown>;

const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const int = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : undefined);

/** The autoscaler kinds kanaria acts on, with the API group and version it reads each at. */
const KINDS = {
  HorizontalPodAutoscaler: { group: "autoscaling", apiVersion: HPA_API_VERSION },
  ScaledObject: { group: "keda.sh", apiVersion: KEDA_API_VERSION },
} as const;
type Kind = keyof typeof KINDS;

const isKind = (kind: unknown): kind is Kind => typeof kind === "string" && Object.hasOwn(KINDS, kind);
const groupOf = (apiVersion: string | undefined) => (apiVersion ?? "").split("/")[0];

/** What the cross-object checks keep for this module: HPAs in the autoscaling group, ScaledObjects in keda.sh. */
export function isAutoscaler(m: Manifest): boolean {
  return isKind(m.kind) && groupOf(m.apiVersion) === KINDS[m.kind].group;
}

const PRIMARY_SUFFIX = "-primary";

function where(m: Manifest, path: Path = []): string {
  return `${m.file}:${locate(m.doc, m.lines, path).line}`;
}

function describe(scaler: Manifest): string {
  return `${scaler.kind} "${scaler.name}" (${where(scaler)})`;
}

/** Made by kanaria (or Flagger) for a Canary: a `-primary` copy found in a dump of the cluster. */
function controlledByCanary(m: Manifest): boolean {
  return arr(obj(m.value.metadata).ownerReferences).some(
    (r) => obj(r).kind === "Canary" && obj(r).controller === true,
  );
}

function sameNamespace(canary: Manifest, other: Manifest): boolean {
  return (other.namespace ?? canary.namespace) === canary.namespace;
}

/** Same namespace, and for two objects without one, the same directory (see the module comment). */
function sameScope(canary: Manifest, other: Manifest): boolean {
  if (canary.namespace === undefined && other.namespace === undefined)
    return dirOf(canary.file) === dirOf(other.file);
  return sameNamespace(canary, other);
}

interface ScaleTarget {
  apiVersion: string | undefined;
  kind: string | undefined;
  name: string | undefined;
}

/** What an autoscaler scales, with its API's defaults: a ScaledObject defaults to an apps/v1 Deployment,
 * an HPA has none (without apiVersion the HPA controller looks the kind up in the core group). */
function scaleTarget(scaler: Manifest): ScaleTarget {
  const ref = obj(obj(scaler.value.spec).scaleTargetRef);
  const keda = scaler.kind === "ScaledObject";
  return {
    apiVersion: str(ref.apiVersion) ?? (keda ? "apps/v1" : undefined),
    kind: str(ref.kind) ?? (keda ? "Deployment" : undefined),
    name: str(ref.name),
  };
}

function scalesDeployment(target: ScaleTarget, name: string): boolean {
  return target.kind === "Deployment" && groupOf(target.apiVersion) === "apps" && target.name === name;
}

interface Context {
  canary: Manifest;
  spec: Json;
  /** spec.targetRef.name (a Deployment). */
  target: string;
  scalers: Index;
  deployment: Manifest | undefined;
}

/** The autoscalers by name and by the name their scaleTargetRef gives: each Canary looks up only its
 * own, so a run is linear in the number of objects (a dump of thousands of Canaries and HPAs too). */
interface Index {
  byName: Map<string, Manifest[]>;
  byTarget: Map<string, Manifest[]>;
}

function add(index: Map<string, Manifest[]>, key: string | undefined, m: Manifest): void {
  if (key === undefined) return;
  const same = index.get(key);
  if (same === undefined) index.set(key, [m]);
  else same.push(m);
}

function indexOf(autoscalers: Manifest[]): Index {
  const index: Index = { byName: new Map(), byTarget: new Map() };
  for (const m of autoscalers) {
    add(index.byName, m.name, m);
    add(index.byTarget, scaleTarget(m).name, m);
  }
  return index;
}

// --- the autoscaler autoscalerRef names --------------------------------------------------------------

/** The objects named autoscalerRef.name in the Canary's namespace, the ones in its directory first. */
function namedLike(ctx: Context, name: string): Manifest[] {
  const named = (ctx.scalers.byName.get(name) ?? []).filter((s) => sameNamespace(ctx.canary, s));
  const dir = dirOf(ctx.canary.file);
  return [...named.filter((s) => dirOf(s.file) === dir), ...named.filter((s) => dirOf(s.file) !== dir)];
}

function missingProblems(ctx: Context, kind: Kind, name: string): Problem[] {
  const { canary, deployment } = ctx;
  // Without the target among the inputs, the files are likely Canaries only: nothing to compare.
  if (deployment === undefined) return [];
  const namespace = canary.namespace === undefined ? `"${name}"` : `"${canary.namespace}/${name}"`;
  const elsewhere = ctx.scalers.byName.get(name)?.find((s) => s.kind === kind && s.namespace !== undefined);
  const hint = elsewhere
    ? `; there is one in namespace "${elsewhere.namespace}" (${where(elsewhere)}), but autoscalerRef has no namespace: the autoscaler must be in the Canary's`
    : `: add its manifest (scaling Deployment "${ctx.target}"), or ignore this if it is applied to the cluster some other way; until it exists the Canary waits (AutoscalerNotFound)`;
  const message = `${kind} ${namespace} is not among the validated files, while the target Deployment "${ctx.target}" is (${where(deployment)})${hint}`;
  return [problemAt(canary, ["spec", "autoscalerRef", "name"], "warning", message)];
}

function kindProblems(ctx: Context, kind: Kind, found: Manifest): Problem[] {
  const other = found.kind as Kind;
  const message = `autoscalerRef names a ${kind}, but "${found.name}" (${where(found)}) is a ${other} (${found.apiVersion}): set autoscalerRef.kind to ${other} and apiVersion to ${KINDS[other].apiVersion}`;
  return [problemAt(ctx.canary, ["spec", "autoscalerRef", "kind"], "error", message)];
}

/** A ScaledObject outside keda.sh/v1alpha1: KEDA serves no other version, so it never reaches the cluster. */
function versionProblems(ctx: Context, scaler: Manifest): Problem[] {
  if (scaler.kind !== "ScaledObject" || scaler.apiVersion === KEDA_API_VERSION) return [];
  const message = `${describe(scaler)} is at apiVersion ${scaler.apiVersion}, which KEDA does not serve: set its apiVersion to ${KEDA_API_VERSION}`;
  return [problemAt(ctx.canary, ["spec", "autoscalerRef", "name"], "error", message)];
}

function describeTarget(t: ScaleTarget): string {
  return `${t.apiVersion === undefined ? "" : `${t.apiVersion} `}${t.kind ?? "(no kind)"} "${t.name ?? ""}"`;
}

/** The referenced autoscaler scales the target during analysis; aimed elsewhere, the canary runs unscaled. */
function targetProblems(ctx: Context, scaler: Manifest): Problem[] {
  const t = scaleTarget(scaler);
  if (scalesDeployment(t, ctx.target)) return [];
  const at = `${describe(scaler)} scales ${describeTarget(t)} (${where(scaler, ["spec", "scaleTargetRef"])})`;
  let why = `, not the Canary's target Deployment "${ctx.target}": the canary would not be autoscaled during analysis`;
  if (t.name === ctx.target && t.kind === "Deployment" && t.apiVersion === undefined)
    why =
      " without apiVersion: the HPA controller looks Deployment up in the core group and fails (FailedGetScale), so the canary would not be autoscaled during analysis";
  else if (t.name === `${ctx.target}${PRIMARY_SUFFIX}`)
    why = `, the primary, which kanaria's copy "${scaler.name}${PRIMARY_SUFFIX}" scales: the canary would not be autoscaled during analysis, and two autoscalers would fight over the primary`;
  const message = `${at}${why}: set its scaleTargetRef to apiVersion apps/v1, kind Deployment, name ${ctx.target}`;
  return [problemAt(ctx.canary, ["spec", "autoscalerRef", "name"], "error", message)];
}

interface Bounds {
  min: number;
  max: number;
  /** The field names in this kind's API. */
  minField: string;
  maxField: string;
}

/** The bounds an autoscaler sets, with its API's defaults (as src/scalers reads them). */
function boundsOf(scaler: Manifest): Bounds | undefined {
  const spec = obj(scaler.value.spec);
  if (scaler.kind === "ScaledObject")
    return {
      min: int(spec.minReplicaCount) ?? 0,
      max: int(spec.maxReplicaCount) ?? 100,
      minField: "minReplicaCount",
      maxField: "maxReplicaCount",
    };
  const max = int(spec.maxReplicas);
  if (max === undefined) return undefined; // required: the API server refuses the HPA itself
  return { min: int(spec.minReplicas) ?? 1, max, minField: "minReplicas", maxField: "maxReplicas" };
}

/**
 * primaryScalerReplicas against the referenced bounds the primary's copy takes the rest from. Flagger
 * writes both as they are, and the API server refuses a copy whose minimum is above its maximum;
 * kanaria caps the minimum at the maximum, so a minReplicas above it would not be honoured (an error),
 * and a maxReplicas below the referenced minimum lowers that minimum (a warning saying so).
 */
function replicaProblems(ctx: Context, scaler: Manifest): Problem[] {
  const bounds = boundsOf(scaler);
  if (bounds === undefined) return [];
  const overrides = obj(obj(ctx.spec.autoscalerRef).primaryScalerReplicas);
  const min = int(overrides.minReplicas);
  const max = int(overrides.maxReplicas);
  const at = (field: string) => ["spec", "autoscalerRef", "primaryScalerReplicas", field];
  const problems: Problem[] = [];
  const copied = `${describe(scaler)}, which the primary's copy takes`;
  if (min !== undefined && max === undefined && min > bounds.max) {
    const message = `minReplicas ${min} is above ${bounds.maxField} ${bounds.max} of ${copied}: kanaria would cap the primary's minimum at ${bounds.max} (Flagger's copy is refused by the API server): set primaryScalerReplicas.maxReplicas too, or lower minReplicas`;
    problems.push(problemAt(ctx.canary, at("minReplicas"), "error", message));
  }
  if (max !== undefined && min === undefined && bounds.min > max) {
    const message = `maxReplicas ${max} is below ${bounds.minField} ${bounds.min} of ${copied}: kanaria lowers the primary's minimum to ${max} (Flagger's copy would be refused by the API server): set primaryScalerReplicas.minReplicas to say so`;
    problems.push(problemAt(ctx.canary, at("maxReplicas"), "warning", message));
  }
  const spec = obj(scaler.value.spec);
  if (scaler.kind === "HorizontalPodAutoscaler" && spec.minReplicas === 0) {
    const copy = min === undefined ? ", and the primary's copy would take it too" : "";
    const message = `${describe(scaler)} has minReplicas 0, which the API server refuses unless the alpha feature gate HPAScaleToZero is on${copy}: set its minReplicas to 1 or more`;
    problems.push(problemAt(ctx.canary, ["spec", "autoscalerRef", "name"], "warning", message));
  }
  if (scaler.kind === "ScaledObject" && min === undefined && bounds.min === 0) {
    const unset = spec.minReplicaCount === undefined ? " (KEDA's default)" : "";
    const message = `the primary's copy of ${describe(scaler)} takes its minReplicaCount 0${unset}: KEDA scales the primary, which serves all traffic between releases, to zero while its triggers are inactive; set primaryScalerReplicas.minReplicas to keep it running`;
    problems.push(problemAt(ctx.canary, ["spec", "autoscalerRef"], "note", message));
  }
  return problems;
}

// --- KEDA triggers ---------------------------------------------------------------------------------

interface Trigger {
  index: number;
  name: string | undefined;
  type: string;
  metadata: Json;
}

function triggersOf(scaler: Manifest): Trigger[] {
  return arr(obj(scaler.value.spec).triggers).map((t, index) => {
    const trigger = obj(t);
    return {
      index,
      name: str(trigger.name),
      type: str(trigger.type) ?? "?",
      metadata: obj(trigger.metadata),
    };
  });
}

function triggerLabel(t: Trigger): string {
  return `triggers[${t.index}]${t.name === undefined ? "" : ` "${t.name}"`} (type ${t.type})`;
}

/**
 * primaryScalerQueries keys are trigger names (as Flagger matches them: triggers[].name). A key naming
 * no trigger, or a trigger without metadata.query (nothing to replace), stalls the Canary
 * (AutoscalerInvalid), as scalers/keda.ts refuses both.
 */
function queryKeyProblems(ctx: Context, scaler: Manifest, triggers: Trigger[]): Problem[] {
  const queries = obj(obj(ctx.spec.autoscalerRef).primaryScalerQueries);
  const named = triggers.flatMap((t) => (t.name === undefined ? [] : [t.name]));
  return Object.keys(queries).flatMap((key) => {
    const path = ["spec", "autoscalerRef", "primaryScalerQueries", key];
    const trigger = triggers.find((t) => t.name === key);
    if (trigger === undefined) {
      const misplaced = triggers.find((t) => t.metadata.name === key);
      const fix = misplaced
        ? `; its triggers[${misplaced.index}] has "${key}" as metadata.name (as Flagger's KEDA tutorial writes it), where KEDA does not read it as the trigger's name: move it to triggers[${misplaced.index}].name`
        : `: set spec.triggers[].name in the ScaledObject, or fix the key`;
      const message = `names trigger "${key}", but ${describe(scaler)} has no trigger of that name (its named triggers: ${named.join(", ") || "none"}); the Canary would stall (AutoscalerInvalid)${fix}`;
      return [problemAt(ctx.canary, path, "error", message, "key")];
    }
    if (typeof trigger.metadata.query !== "string") {
      const message = `${triggerLabel(trigger)} of ${describe(scaler)} has no metadata.query, the only field kanaria replaces, so this query could not be used; the Canary would stall (AutoscalerInvalid): remove the key; the primary's copy takes the trigger as it is`;
      return [problemAt(ctx.canary, path, "error", message, "key")];
    }
    return [];
  });
}

const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Triggers whose query is not given in primaryScalerQueries: kanaria (like Flagger) changes the target's
 * name in metadata.query to `<target>-primary`, and nothing else. A note shows the query the primary's
 * copy gets; a warning names another metadata value that mentions the canary, which stays as it is.
 */
function guessedQueryProblems(ctx: Context, scaler: Manifest, triggers: Trigger[]): Problem[] {
  const queries = obj(obj(ctx.spec.autoscalerRef).primaryScalerQueries);
  const mentions = new RegExp(`(^|[^\\w-])${literal(ctx.target)}(-canary)?($|[^\\w-])`);
  const at: Path = ["spec", "autoscalerRef"];
  const problems: Problem[] = [];
  for (const t of triggers) {
    const label = `${triggerLabel(t)} of ${describe(scaler)}`;
    const setIt =
      t.name === undefined
        ? "name the trigger and set primaryScalerQueries"
        : `set primaryScalerQueries.${t.name}`;
    const query = t.metadata.query;
    if (typeof query === "string" && (t.name === undefined || !Object.hasOwn(queries, t.name))) {
      const rewritten = primaryQuery(query, ctx.target);
      const message =
        rewritten === query
          ? `${label}: the primary's copy runs its query unchanged, as it does not mention "${ctx.target}" (the name kanaria changes to "${ctx.target}${PRIMARY_SUFFIX}"); if it measures the canary, ${setIt}`
          : `${label}: the primary's copy runs ${JSON.stringify(shorten(rewritten, 300))} (the target's name changed to "${ctx.target}${PRIMARY_SUFFIX}", as Flagger guesses it); if that is not the primary's query, ${setIt}`;
      problems.push(problemAt(ctx.canary, at, "note", message));
    }
    for (const [key, value] of Object.entries(t.metadata)) {
      if (key === "query" || typeof value !== "string" || !mentions.test(value)) continue;
      const message = `${label} names "${ctx.target}" in metadata.${key}, which the primary's copy keeps as it is (only metadata.query is rewritten, as in Flagger): the primary would be scaled on what the canary measures; make the value cover "${ctx.target}${PRIMARY_SUFFIX}" too, or use a trigger with a query`;
      problems.push(problemAt(ctx.canary, at, "warning", message));
    }
  }
  return problems;
}

function referencedProblems(ctx: Context): Problem[] {
  const ref = obj(ctx.spec.autoscalerRef);
  const name = str(ref.name);
  // A missing or unsupported kind or name is the schema check's to report.
  if (name === undefined || !isKind(ref.kind)) return [];
  const candidates = namedLike(ctx, name);
  const scaler = candidates.find((s) => s.kind === ref.kind);
  if (scaler === undefined) {
    const other = candidates[0];
    return other ? kindProblems(ctx, ref.kind, other) : missingProblems(ctx, ref.kind, name);
  }
  const problems = [
    ...versionProblems(ctx, scaler),
    ...targetProblems(ctx, scaler),
    ...replicaProblems(ctx, scaler),
  ];
  if (scaler.kind === "ScaledObject") {
    const triggers = triggersOf(scaler);
    problems.push(...queryKeyProblems(ctx, scaler, triggers), ...guessedQueryProblems(ctx, scaler, triggers));
  }
  return problems;
}

// --- autoscalers the Canary does not name ------------------------------------------------------------

function addRef(scaler: Manifest): string {
  const kind = scaler.kind as Kind;
  return `autoscalerRef: {apiVersion: ${KINDS[kind].apiVersion}, kind: ${kind}, name: ${scaler.name}}`;
}

/**
 * An autoscaler of the target or of `<target>-primary` other than the one autoscalerRef names. Without
 * autoscalerRef, kanaria runs the canary at the primary's replica count during each analysis and owns
 * the primary's count (resetting it when it drifts), so either autoscaler fights it, and the primary is
 * never autoscaled by kanaria's copy. With autoscalerRef, a second autoscaler of either fights the one
 * kanaria keeps there (the HPA controller refuses to act on pods that two HPAs select).
 */
function unnamedProblems(ctx: Context): Problem[] {
  const ref = obj(ctx.spec.autoscalerRef);
  const refName = str(ref.name);
  const primary = `${ctx.target}${PRIMARY_SUFFIX}`;
  const problems: Problem[] = [];
  const candidates = [
    ...(ctx.scalers.byTarget.get(ctx.target) ?? []),
    ...(ctx.scalers.byTarget.get(primary) ?? []),
  ];
  for (const scaler of candidates) {
    if (!sameScope(ctx.canary, scaler) || controlledByCanary(scaler)) continue;
    // The one autoscalerRef names (even of another kind) has its own checks above.
    if (scaler.name === refName) continue;
    const t = scaleTarget(scaler);
    const onTarget = t.kind === "Deployment" && t.name === ctx.target;
    const onPrimary = t.kind === "Deployment" && t.name === primary;
    if (!onTarget && !onPrimary) continue;
    const what = `${describe(scaler)} scales ${onTarget ? `the target Deployment "${ctx.target}"` : `the primary "${primary}"`}`;
    let message: string;
    if (refName === undefined && onTarget)
      message = `${what}, but the Canary has no autoscalerRef: kanaria runs the canary at the primary's replica count during each analysis, fighting it${scaler.kind === "ScaledObject" ? " (and KEDA scales it up between releases, when kanaria holds it at zero)" : ""}, and the primary is never autoscaled: add ${addRef(scaler)}`;
    else if (refName === undefined)
      message = `${what}, but the Canary has no autoscalerRef: kanaria owns the primary's replica count and puts it back when it drifts (unless the Canary has kanaria.dev/drift: warn), fighting it: aim it at the target Deployment "${ctx.target}" and add ${addRef(scaler)} (kanaria then keeps a copy of it for the primary)`;
    else if (onTarget)
      message = `${what}, besides the ${String(ref.kind)} "${refName}" autoscalerRef names: two autoscalers of one Deployment fight over its replicas: remove one, or point autoscalerRef at this one`;
    else
      message = `${what}, which kanaria's copy "${refName}${PRIMARY_SUFFIX}" of autoscalerRef's ${String(ref.kind)} scales: two autoscalers of one Deployment fight over its replicas: remove this one (kanaria makes and keeps the primary's)`;
    problems.push(problemAt(ctx.canary, ["spec", "autoscalerRef"], "error", message, "key"));
  }
  return problems;
}

/**
 * The autoscaler checks of every Canary whose target is a Deployment (a DaemonSet has no replicas to
 * scale; the schema refuses autoscalerRef there). `deploymentOf` finds the target among the inputs.
 */
export function autoscalerCheck(
  canaries: Manifest[],
  autoscalers: Manifest[],
  deploymentOf: (canary: Manifest) => Manifest | undefined,
): Problem[] {
  const index = indexOf(autoscalers);
  return canaries.flatMap((canary) => {
    const spec = obj(canary.value.spec);
    const targetRef = obj(spec.targetRef);
    const target = str(targetRef.name);
    if (target === undefined || (targetRef.kind !== undefined && targetRef.kind !== "Deployment")) return [];
    const ctx: Context = { canary, spec, target, scalers: index, deployment: deploymentOf(canary) };
    return [...(spec.autoscalerRef === undefined ? [] : referencedProblems(ctx)), ...unnamedProblems(ctx)];
  });
}
