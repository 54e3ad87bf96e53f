/** Deployment targets: scaled by spec.replicas, their history in the ReplicaSets they own. */
import type { V1PodTemplateSpec, V1ReplicaSet } from "@kubernetes/client-node";
import type { Canary } from "../api/canary.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import type { Deployment, Workload } from "./meta.ts";
import {
  ABSENT,
  ownedHistory,
  REVISION_ANNOTATION,
  type WorkloadKind,
  type WorkloadState,
} from "./workload.ts";

/** The label the Deployment controller adds to each ReplicaSet's template (`kubectl rollout undo` drops it). */
const POD_TEMPLATE_HASH = "pod-template-hash";
/** The Deployment controller's rollout number on each ReplicaSet: the newest one of a revision wins. */
const DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision";

const positive = (n: number | undefined) => (n !== undefined && n > 0 ? n : undefined);

function spec(w: Workload): Deployment["spec"] {
  return (w as Deployment).spec;
}

/**
 * Replicas of the primary. The target is scaled to zero between releases, so its replica count only
 * counts while it is up; otherwise the primary keeps what it has. With an autoscaler, the autoscaler
 * owns the count once the primary exists, and re-applying the current value leaves it alone.
 */
function primaryReplicas(canary: Canary, target: Workload, current: Workload | undefined): number {
  const currentReplicas = current && spec(current)?.replicas;
  const autoscaler = canary.spec.autoscalerRef;
  if (autoscaler) {
    if (currentReplicas !== undefined) return currentReplicas;
    return positive(autoscaler.primaryScalerReplicas?.minReplicas) ?? positive(spec(target)?.replicas) ?? 1;
  }
  return positive(spec(target)?.replicas) ?? currentReplicas ?? 1;
}

/**
 * Rollout state of a Deployment. A Deployment scaled to zero has readyPercent 0: it serves nothing, so
 * for the analysis it is not ready, whatever its (trivially complete) rollout says.
 */
function observe(w: Workload): WorkloadState {
  const deployment = w as Deployment;
  const replicas = deployment.spec?.replicas ?? 1;
  const s = deployment.status ?? {};
  const available = s.availableReplicas ?? 0;
  const updated =
    (s.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 1) &&
    (s.updatedReplicas ?? 0) === replicas &&
    (s.replicas ?? 0) <= replicas;
  const state: WorkloadState = {
    ...ABSENT,
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
 * The pod templates the primary ran, newest rollout first, as `kubectl rollout undo` finds them: from
 * the ReplicaSets it owns (never another owner's), without the Deployment controller's
 * pod-template-hash label. One list request: read only when a template must be restored.
 */
async function history(client: KubeClient, primary: Workload): Promise<V1PodTemplateSpec[]> {
  const sets = await ownedHistory<V1ReplicaSet & KubeObject>(client, primary, "ReplicaSet");
  const rollout = (rs: V1ReplicaSet) => Number(rs.metadata?.annotations?.[DEPLOYMENT_REVISION] ?? 0);
  return sets
    .sort((x, y) => rollout(y) - rollout(x))
    .flatMap((rs) => {
      const template = rs.spec?.template;
      if (!template) return [];
      const { [POD_TEMPLATE_HASH]: _, ...podLabels } = template.metadata?.labels ?? {};
      return [{ ...template, metadata: { ...template.metadata, labels: podLabels } }];
    });
}

const ref = (namespace: string, name: string): ObjectRef => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  namespace,
  name,
});

export const DEPLOYMENT: WorkloadKind = {
  kind: "Deployment",
  ref,
  template: (w) => w.spec?.template,
  check: () => {},
  primarySpec: (canary, target, current) => {
    const s = spec(target);
    // The target's rollout settings, as Flagger; unset ones are left out of the JSON sent.
    return {
      replicas: primaryReplicas(canary, target, current),
      strategy: s?.strategy,
      minReadySeconds: s?.minReadySeconds,
      revisionHistoryLimit: s?.revisionHistoryLimit,
      progressDeadlineSeconds: s?.progressDeadlineSeconds,
    };
  },
  observe,
  async scale(client, target, replicas) {
    if ((spec(target)?.replicas ?? 1) === replicas) return;
    await client.mergePatch(ref(target.metadata.namespace ?? "", target.metadata.name), {
      spec: { replicas },
    });
  },
  history,
};
