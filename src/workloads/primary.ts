import type { V1DeploymentSpec, V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Canary } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient } from "../kube/types.ts";
import {
  copyConfigsToPrimary,
  rewriteTemplateForPrimary,
  type TrackedConfigs,
  templateFromPrimary,
} from "./config-tracker.ts";
import { canonicalJson } from "./hash.ts";
import { workloadKind } from "./kinds.ts";
import { includedLabels, type LabelPrefixes } from "./label-prefix.ts";
import {
  canaryKey,
  canaryNamespace,
  canaryOwnerReference,
  controllingCanary,
  type DaemonSet,
  type Deployment,
  userAnnotations,
  type Workload,
} from "./meta.ts";
import { computeRevision, type Revision } from "./revision.ts";
import { selectorLabel } from "./selector.ts";
import { ABSENT, REVISION_ANNOTATION, type WorkloadState } from "./workload.ts";

export { REVISION_ANNOTATION, type WorkloadState } from "./workload.ts";

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
export function recordedSettings(primary: Workload): PrimarySettings | undefined {
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
 * The `<target>-primary` Deployment or DaemonSet for a target revision (Flagger semantics). `current` is
 * the primary as it exists, used only to keep a Deployment's replica count while the target is scaled
 * down or autoscaled. `labelPrefixes`: the target's labels it carries (--include-label-prefix).
 */
export function buildPrimary<W extends Workload>(
  canary: Canary,
  target: W,
  revision: Revision,
  current?: W,
  labelPrefixes: LabelPrefixes = [],
): W {
  const kind = workloadKind(target.kind);
  const template = kind.template(target);
  if (!template) throw new Error(`${target.kind} ${objectKey(target)} has no spec.template`);
  const { key, value } = selectorLabel(target);
  const primaryValue = `${value}-primary`;
  const own = kind.primarySpec(canary, target, current);
  // Deployments only: a DaemonSet has no replicas or rollout settings of the primary's own to record.
  const settings =
    kind.kind === "Deployment"
      ? canonicalJson(
          ownedSettings(own as unknown as V1DeploymentSpec, canary.spec.autoscalerRef !== undefined),
        )
      : undefined;
  return {
    apiVersion: "apps/v1",
    kind: kind.kind,
    metadata: {
      name: primaryName(target.metadata.name),
      namespace: canaryNamespace(canary),
      // By default only the selector label: copying e.g. Helm or Argo CD labels would make those tools
      // claim the primary. --include-label-prefix names the ones to copy, as Flagger's flag does.
      labels: { ...includedLabels(target.metadata.labels, labelPrefixes), [key]: primaryValue },
      annotations: {
        ...userAnnotations(target.metadata.annotations),
        [REVISION_ANNOTATION]: revision.hash,
        ...(settings === undefined ? {} : { [SETTINGS_ANNOTATION]: settings }),
      },
      ownerReferences: [canaryOwnerReference(canary)],
    },
    spec: {
      ...own,
      selector: { matchLabels: { [key]: primaryValue } },
      template: primaryTemplate(template, revision, key, primaryValue),
    },
  } as unknown as W;
}

/**
 * Copies the tracked configs and applies the primary for the target's current template. This promotes
 * whatever the target runs, so call it to initialise and to promote, never while a revision is analysed.
 */
export async function ensurePrimary<W extends Workload>(
  client: KubeClient,
  canary: Canary,
  target: W,
  revision: Revision,
  labelPrefixes: LabelPrefixes = [],
): Promise<W> {
  selectorLabel(target); // fail before copying configs when the target cannot have a primary at all
  const kind = workloadKind(target.kind);
  kind.check(target);
  const namespace = canaryNamespace(canary);
  const name = primaryName(target.metadata.name);
  const current = await client.get<W>(kind.ref(namespace, name));
  if (current && controllingCanary(current) !== canary.metadata.name) {
    throw new ConfigBlockerError(
      "PrimaryNotOwned",
      `Canary ${canaryKey(canary)}: ${kind.kind} ${namespace}/${name} exists and is not controlled by this Canary; ` +
        `delete it (kanaria creates it) or point spec.targetRef at another ${kind.kind}`,
    );
  }
  await copyConfigsToPrimary(client, canary, revision.trackedConfigs, labelPrefixes);
  return client.apply(buildPrimary(canary, target, revision, current, labelPrefixes));
}

/**
 * Puts the primary back on an earlier revision after a failed promotion, as `kubectl rollout undo`
 * does: the pod template of its newest ReplicaSet that ran `promoted`. Its other fields are built as on
 * every apply of the primary. The `-primary` config copies keep what the failed promotion wrote.
 */
export async function restorePrimary<W extends Workload>(
  client: KubeClient,
  canary: Canary,
  target: W,
  revision: Revision,
  promoted: string,
  labelPrefixes: LabelPrefixes = [],
): Promise<W> {
  const kind = workloadKind(target.kind);
  const namespace = canaryNamespace(canary);
  const name = primaryName(target.metadata.name);
  const current = await client.get<W>(kind.ref(namespace, name));
  const template = current && (await promotedTemplate(client, current, promoted));
  if (!current || controllingCanary(current) !== canary.metadata.name || !template) {
    throw new ConfigBlockerError(
      "PromotedRevisionNotFound",
      `Canary ${canaryKey(canary)}: no revision in the history of ${kind.kind} ${namespace}/${name} ran the last promoted revision ${promoted}, ` +
        `so the failed promotion cannot be undone from its history (revisionHistoryLimit 0?); set ${kind.kind} ` +
        `${objectKey(target)} back to that revision (kubectl rollout undo ${kind.kind.toLowerCase()}/${target.metadata.name}) and kanaria copies it to the primary`,
    );
  }
  const built = buildPrimary(canary, target, revision, current, labelPrefixes);
  return client.apply({
    ...built,
    metadata: {
      ...built.metadata,
      annotations: { ...built.metadata.annotations, [REVISION_ANNOTATION]: promoted },
    },
    spec: { ...built.spec, template },
  } as W);
}

async function promotedTemplate(
  client: KubeClient,
  primary: Workload,
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

/** The pod templates the primary ran, newest first (Deployment: its ReplicaSets; DaemonSet: its ControllerRevisions). */
export function primaryHistory(client: KubeClient, primary: Workload): Promise<V1PodTemplateSpec[]> {
  return workloadKind(primary.kind).history(client, primary);
}

/** Pods reporting ready (Deployment readyReplicas, DaemonSet numberReady), for people. */
export function readyPods(workload: Workload): number {
  return (workload as Deployment).status?.readyReplicas ?? (workload as DaemonSet).status?.numberReady ?? 0;
}

/** Rollout state of the target or the primary, as its kind reports it. */
export function observeWorkload(workload: Workload | undefined): WorkloadState {
  return workload ? workloadKind(workload.kind).observe(workload) : ABSENT;
}

/**
 * Flagger's readiness rule: all pods updated and at least thresholdPercent of them available. A
 * Deployment with no replicas is never ready.
 */
export function isReady(state: WorkloadState, thresholdPercent: number): boolean {
  return state.exists && state.replicas > 0 && state.updated && state.readyPercent >= thresholdPercent;
}

/** Runs the target with `replicas` pods: 0 between releases, the primary's count while analysed. */
export async function scaleTarget(client: KubeClient, target: Workload, replicas: number): Promise<void> {
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new Error(
      `cannot scale ${target.kind} ${objectKey(target)} to ${replicas}: replicas must be a whole number >= 0`,
    );
  }
  await workloadKind(target.kind).scale(client, target, replicas);
}
