import type { V1DeploymentSpec, V1PodTemplateSpec, V1ReplicaSet } from "@kubernetes/client-node";
import type { Canary } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import {
  copyConfigsToPrimary,
  rewriteTemplateForPrimary,
  type TrackedConfigs,
  templateFromPrimary,
} from "./config-tracker.ts";
import { canonicalJson } from "./hash.ts";
import {
  canaryKey,
  canaryNamespace,
  canaryOwnerReference,
  controllingCanary,
  type Deployment,
  userAnnotations,
} from "./meta.ts";
import { computeRevision, type Revision } from "./revision.ts";
import { selectorLabel } from "./selector.ts";

/** On the primary Deployment and its pod template: the target revision the primary runs. */
export const REVISION_ANNOTATION = "kanaria.dev/revision";

/**
 * On the primary Deployment: the rollout settings kanaria last applied (JSON), so a hand edit of them
 * can be told from what was promoted. Replicas are left out when an autoscaler owns them.
 */
export const SETTINGS_ANNOTATION = "kanaria.dev/settings";

/** The primary's fields besides the pod template that kanaria copies from the target at promotion. */
export const SETTINGS_FIELDS = [
  "replicas",
  "strategy",
  "minReadySeconds",
  "revisionHistoryLimit",
  "progressDeadlineSeconds",
] as const;

export type PrimarySettings = Partial<Pick<V1DeploymentSpec, (typeof SETTINGS_FIELDS)[number]>>;

/** The settings kanaria owns on a primary spec: all set ones, less replicas when an autoscaler has them. */
export function ownedSettings(spec: V1DeploymentSpec, autoscaled: boolean): PrimarySettings {
  const out: Record<string, unknown> = {};
  for (const field of SETTINGS_FIELDS) {
    if (spec[field] !== undefined && !(autoscaled && field === "replicas")) out[field] = spec[field];
  }
  return out as PrimarySettings;
}

/** The settings recorded on a primary, or undefined when it has none (written before) or they are mangled. */
export function recordedSettings(primary: Deployment): PrimarySettings | undefined {
  const text = primary.metadata.annotations?.[SETTINGS_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as PrimarySettings)
      : undefined;
  } catch {
    return undefined;
  }
}

export function primaryName(targetName: string): string {
  return `${targetName}-primary`;
}

function deploymentRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: "apps/v1", kind: "Deployment", namespace, name };
}

const positive = (n: number | undefined) => (n !== undefined && n > 0 ? n : undefined);

/**
 * Replicas of the primary. The target is scaled to zero between releases, so its replica count only
 * counts while it is up; otherwise the primary keeps what it has. With an autoscaler, the autoscaler
 * owns the count once the primary exists, and re-applying the current value leaves it alone.
 */
function primaryReplicas(canary: Canary, target: Deployment, current: Deployment | undefined): number {
  const currentReplicas = current?.spec?.replicas;
  const autoscaler = canary.spec.autoscalerRef;
  if (autoscaler) {
    if (currentReplicas !== undefined) return currentReplicas;
    return positive(autoscaler.primaryScalerReplicas?.minReplicas) ?? positive(target.spec?.replicas) ?? 1;
  }
  return positive(target.spec?.replicas) ?? currentReplicas ?? 1;
}

/**
 * The primary's pod template: the target's, reading the `-primary` config copies, with the selector
 * label set to `<value>-primary`. The revision annotation changes whenever a tracked config does, which
 * rolls the primary's pods even though the copies keep their names (Flagger writes a random id instead;
 * a hash keeps the apply idempotent).
 */
function primaryTemplate(
  template: V1PodTemplateSpec,
  revision: Revision,
  label: string,
  value: string,
): V1PodTemplateSpec {
  const rewritten = rewriteTemplateForPrimary(template, revision.trackedConfigs);
  return {
    metadata: {
      labels: { ...rewritten.metadata?.labels, [label]: value },
      annotations: { ...rewritten.metadata?.annotations, [REVISION_ANNOTATION]: revision.hash },
    },
    spec: rewritten.spec,
  };
}

/**
 * The revision a primary's pod template was built from: the template with the primary's rewrite undone
 * (selector label, revision annotation, config names), hashed with the checksums of its config copies.
 * Equal to the promoted revision exactly when nobody changed the template or the copies since.
 */
export function revisionOfPrimary(
  template: V1PodTemplateSpec,
  selectorKey: string,
  copies: TrackedConfigs,
): string {
  const original = templateFromPrimary(template, copies);
  const metadata = original.metadata ?? {};
  const labels = { ...metadata.labels };
  const value = labels[selectorKey];
  if (value?.endsWith("-primary")) labels[selectorKey] = value.slice(0, -"-primary".length);
  const { [REVISION_ANNOTATION]: _, ...annotations } = metadata.annotations ?? {};
  const restored: V1PodTemplateSpec = { ...original, metadata: { ...metadata, labels } };
  // The API server stores no empty map: the target had none.
  if (Object.keys(annotations).length > 0)
    (restored.metadata as { annotations?: object }).annotations = annotations;
  else delete restored.metadata?.annotations;
  return computeRevision(restored, copies);
}

/**
 * The `<target>-primary` Deployment for a target revision (Flagger semantics). `current` is the primary
 * as it exists, used only to keep its replica count while the target is scaled down or autoscaled.
 */
export function buildPrimary(
  canary: Canary,
  target: Deployment,
  revision: Revision,
  current?: Deployment,
): Deployment {
  const spec = target.spec;
  if (!spec?.template) throw new Error(`Deployment ${objectKey(target)} has no spec.template`);
  const { key, value } = selectorLabel(target);
  const primaryValue = `${value}-primary`;
  const primarySpec: V1DeploymentSpec = {
    replicas: primaryReplicas(canary, target, current),
    selector: { matchLabels: { [key]: primaryValue } },
    template: primaryTemplate(spec.template, revision, key, primaryValue),
    // The target's rollout settings, as Flagger; unset ones are left out of the JSON sent.
    strategy: spec.strategy,
    minReadySeconds: spec.minReadySeconds,
    revisionHistoryLimit: spec.revisionHistoryLimit,
    progressDeadlineSeconds: spec.progressDeadlineSeconds,
  };
  const settings = canonicalJson(ownedSettings(primarySpec, canary.spec.autoscalerRef !== undefined));
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: primaryName(target.metadata.name),
      namespace: canaryNamespace(canary),
      // Only the selector label: copying e.g. Helm or Argo CD labels would make those tools claim the primary.
      labels: { [key]: primaryValue },
      annotations: {
        ...userAnnotations(target.metadata.annotations),
        [REVISION_ANNOTATION]: revision.hash,
        [SETTINGS_ANNOTATION]: settings,
      },
      ownerReferences: [canaryOwnerReference(canary)],
    },
    spec: primarySpec,
  };
}

/**
 * Copies the tracked configs and applies the primary for the target's current template. This promotes
 * whatever the target runs, so call it to initialise and to promote, never while a revision is analysed.
 */
export async function ensurePrimary(
  client: KubeClient,
  canary: Canary,
  target: Deployment,
  revision: Revision,
): Promise<Deployment> {
  selectorLabel(target); // fail before copying configs when the target cannot have a primary at all
  const namespace = canaryNamespace(canary);
  const name = primaryName(target.metadata.name);
  const current = await client.get<Deployment>(deploymentRef(namespace, name));
  if (current && controllingCanary(current) !== canary.metadata.name) {
    throw new ConfigBlockerError(
      "PrimaryNotOwned",
      `Canary ${canaryKey(canary)}: Deployment ${namespace}/${name} exists and is not controlled by this Canary; ` +
        `delete it (kanaria creates it) or point spec.targetRef at another Deployment`,
    );
  }
  await copyConfigsToPrimary(client, canary, revision.trackedConfigs);
  return client.apply(buildPrimary(canary, target, revision, current));
}

/** The label the Deployment controller adds to each ReplicaSet's template (`kubectl rollout undo` drops it). */
const POD_TEMPLATE_HASH = "pod-template-hash";
/** The Deployment controller's rollout number on each ReplicaSet: the newest one of a revision wins. */
const DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision";

/**
 * Puts the primary back on an earlier revision after a failed promotion, as `kubectl rollout undo`
 * does: the pod template of its newest ReplicaSet that ran `promoted`. Its other fields are built as on
 * every apply of the primary. The `-primary` config copies keep what the failed promotion wrote.
 */
export async function restorePrimary(
  client: KubeClient,
  canary: Canary,
  target: Deployment,
  revision: Revision,
  promoted: string,
): Promise<Deployment> {
  const namespace = canaryNamespace(canary);
  const name = primaryName(target.metadata.name);
  const current = await client.get<Deployment>(deploymentRef(namespace, name));
  const template = current && (await promotedTemplate(client, current, promoted));
  if (!current || controllingCanary(current) !== canary.metadata.name || !template) {
    throw new ConfigBlockerError(
      "PromotedRevisionNotFound",
      `Canary ${canaryKey(canary)}: no ReplicaSet of Deployment ${namespace}/${name} ran the last promoted revision ${promoted}, ` +
        `so the failed promotion cannot be undone from its history (revisionHistoryLimit 0?); set Deployment ` +
        `${objectKey(target)} back to that revision (kubectl rollout undo deployment/${target.metadata.name}) and kanaria copies it to the primary`,
    );
  }
  const built = buildPrimary(canary, target, revision, current);
  return client.apply({
    ...built,
    metadata: {
      ...built.metadata,
      annotations: { ...built.metadata.annotations, [REVISION_ANNOTATION]: promoted },
    },
    spec: { ...built.spec, template } as V1DeploymentSpec,
  });
}

async function promotedTemplate(
  client: KubeClient,
  primary: Deployment,
  promoted: string,
): Promise<V1PodTemplateSpec | undefined> {
  const template = (await primaryHistory(client, primary)).find(
    (t) => t.metadata?.annotations?.[REVISION_ANNOTATION] === promoted,
  );
  if (!template) return undefined;
  return {
    metadata: { labels: template.metadata?.labels ?? {}, annotations: template.metadata?.annotations ?? {} },
    spec: template.spec,
  };
}

/**
 * The pod templates the primary ran, newest rollout first, as `kubectl rollout undo` finds them: from
 * the ReplicaSets it owns (never another owner's), without the Deployment controller's
 * pod-template-hash label. One list request: read only when a template must be restored.
 */
export async function primaryHistory(client: KubeClient, primary: Deployment): Promise<V1PodTemplateSpec[]> {
  const labels = primary.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const sets = await client.list<V1ReplicaSet & KubeObject>(
    "apps/v1",
    "ReplicaSet",
    primary.metadata.namespace,
    selector,
  );
  const rollout = (rs: V1ReplicaSet) => Number(rs.metadata?.annotations?.[DEPLOYMENT_REVISION] ?? 0);
  return sets
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === primary.metadata.uid))
    .sort((x, y) => rollout(y) - rollout(x))
    .flatMap((rs) => {
      const template = rs.spec?.template;
      if (!template) return [];
      const { [POD_TEMPLATE_HASH]: _, ...podLabels } = template.metadata?.labels ?? {};
      return [{ ...template, metadata: { ...template.metadata, labels: podLabels } }];
    });
}

export interface WorkloadState {
  exists: boolean;
  /** Desired replicas (spec.replicas, default 1). */
  replicas: number;
  /** Available pods (ready for minReadySeconds) as a percentage of the desired replicas, 0..100. */
  readyPercent: number;
  /** The controller has seen the latest spec, every pod runs it and no old pod is left. */
  updated: boolean;
  /** Updated and every desired pod available. */
  rolloutComplete: boolean;
  /** The Deployment controller gave up waiting (Progressing condition reason ProgressDeadlineExceeded). */
  progressDeadlineExceeded: boolean;
  /**
   * Scaled to zero, but its pods are not reported gone yet. Scaling it up now is unsafe: the Deployment
   * controller would count the old pods' availability for the new spec, reporting it ready until their
   * deletion lands, and for a moment after that it serves nothing. (A new template is safe: pods of the
   * old one never count as updated.)
   */
  draining: boolean;
  /** The kanaria.dev/revision annotation (set on primaries). */
  revision?: string;
}

const ABSENT: WorkloadState = {
  exists: false,
  replicas: 0,
  readyPercent: 0,
  updated: false,
  rolloutComplete: false,
  progressDeadlineExceeded: false,
  draining: false,
};

/**
 * Rollout state of a Deployment. A Deployment scaled to zero has readyPercent 0: it serves nothing, so
 * for the analysis it is not ready, whatever its (trivially complete) rollout says.
 */
export function observeWorkload(deployment: Deployment | undefined): WorkloadState {
  if (!deployment) return ABSENT;
  const replicas = deployment.spec?.replicas ?? 1;
  const s = deployment.status ?? {};
  const available = s.availableReplicas ?? 0;
  const updated =
    (s.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 1) &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) <= replicas;
  const state: WorkloadState = {
    exists: true,
    replicas,
    readyPercent: replicas === 0 ? 0 : Math.min(100, Math.floor((available / replicas) * 100)),
    updated,
    rolloutComplete: updated && available === replicas,
    progressDeadlineExceeded: (s.conditions ?? []).some(
      (c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded",
    ),
    // status.replicas counts the pods not being deleted; it keeps the old count until the controller has
    // seen the scale-down and the ReplicaSet has counted its deletions.
    draining: replicas === 0 && (s.replicas ?? 0) > 0,
  };
  const revision = deployment.metadata.annotations?.[REVISION_ANNOTATION];
  if (revision !== undefined) state.revision = revision;
  return state;
}

/**
 * Flagger's readiness rule: all pods updated and at least thresholdPercent of them available. A
 * Deployment with no replicas is never ready.
 */
export function isReady(state: WorkloadState, thresholdPercent: number): boolean {
  return state.exists && state.replicas > 0 && state.updated && state.readyPercent >= thresholdPercent;
}

/** Sets the target's spec.replicas (0 between releases, its own count while a revision is analysed). */
export async function scaleTarget(
  client: KubeClient,
  target: Deployment,
  replicas: number,
): Promise<Deployment> {
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new Error(
      `cannot scale Deployment ${objectKey(target)} to ${replicas}: replicas must be a whole number >= 0`,
    );
  }
  const ref = deploymentRef(target.metadata.namespace ?? "", target.metadata.name);
  return client.mergePatch<Deployment>(ref, { spec: { replicas } });
}
