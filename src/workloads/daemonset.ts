/**
 * DaemonSet targets, with Flagger's semantics: a DaemonSet has no replica count, so between releases the
 * target is parked with a node selector no node carries (Flagger's own key, so a DaemonSet Flagger left
 * parked is recognised), and scaled up by taking it away. The selector is no part of the revision and
 * never reaches the primary. Readiness is Flagger's: every scheduled pod updated, and the available
 * ones at least the threshold share of the nodes it should run on.
 */
import type { V1ControllerRevision, V1PodTemplateSpec } from "@kubernetes/client-node";
import { ConfigBlockerError } from "../errors.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import type { DaemonSet, Workload } from "./meta.ts";
import {
  ABSENT,
  ownedHistory,
  REVISION_ANNOTATION,
  type WorkloadKind,
  type WorkloadState,
} from "./workload.ts";

/** Flagger's scale-to-zero node selector for DaemonSets (pkg/canary/daemonset_controller.go). */
export const SCALE_TO_ZERO_KEY = "flagger.app/scale-to-zero";
const SCALE_TO_ZERO_VALUE = "true";

function ds(w: Workload): DaemonSet {
  return w as DaemonSet;
}

export function parked(w: Workload): boolean {
  return ds(w).spec?.template?.spec?.nodeSelector?.[SCALE_TO_ZERO_KEY] !== undefined;
}

/**
 * The template without the parking selector, and without a nodeSelector left empty by unparking (the
 * API server stores none then; a client may still show {}).
 */
function template(w: Workload): V1PodTemplateSpec | undefined {
  const t = ds(w).spec?.template;
  const selector = t?.spec?.nodeSelector;
  if (!t?.spec || !selector || (!(SCALE_TO_ZERO_KEY in selector) && Object.keys(selector).length > 0))
    return t;
  const { [SCALE_TO_ZERO_KEY]: _, ...nodeSelector } = selector;
  const { nodeSelector: __, ...podSpec } = t.spec;
  return {
    ...t,
    spec: { ...podSpec, ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}) },
  };
}

function observe(w: Workload): WorkloadState {
  const daemonSet = ds(w);
  const s = daemonSet.status;
  const seen = (s?.observedGeneration ?? 0) >= (daemonSet.metadata.generation ?? 1);
  const desired = s?.desiredNumberScheduled ?? 0;
  const available = s?.numberAvailable ?? 0;
  const isParked = parked(w);
  // Parked, it should run nowhere; until the controller has seen that, its count is not yet 0.
  const replicas = isParked ? 0 : desired;
  const updated = seen && (s?.updatedNumberScheduled ?? 0) >= desired;
  const state: WorkloadState = {
    ...ABSENT,
    exists: true,
    replicas,
    readyPercent: replicas === 0 ? 0 : Math.min(100, Math.floor((available / replicas) * 100)),
    updated,
    rolloutComplete: updated && available >= desired,
    draining:
      isParked && (!seen || (s?.currentNumberScheduled ?? 0) + (s?.numberMisscheduled ?? 0) + available > 0),
  };
  const revision = daemonSet.metadata.annotations?.[REVISION_ANNOTATION];
  if (revision !== undefined) state.revision = revision;
  return state;
}

/**
 * The pod templates the primary ran, newest first, from the ControllerRevisions the DaemonSet
 * controller keeps for it (as `kubectl rollout undo daemonset` finds them). Each holds the template as
 * a patch that replaces it whole. One list request: read only when a template must be restored.
 */
async function history(client: KubeClient, primary: Workload): Promise<V1PodTemplateSpec[]> {
  const revisions = await ownedHistory<V1ControllerRevision & KubeObject>(
    client,
    primary,
    "ControllerRevision",
  );
  return revisions
    .sort((x, y) => y.revision - x.revision)
    .flatMap((r) => {
      const data = r.data as { spec?: { template?: V1PodTemplateSpec & { $patch?: string } } } | undefined;
      const stored = data?.spec?.template;
      if (!stored) return [];
      const { $patch: _, ...template } = stored;
      return [template];
    });
}

const ref = (namespace: string, name: string): ObjectRef => ({
  apiVersion: "apps/v1",
  kind: "DaemonSet",
  namespace,
  name,
});

export const DAEMONSET: WorkloadKind = {
  kind: "DaemonSet",
  ref,
  template,
  check(target) {
    const type = ds(target).spec?.updateStrategy?.type;
    // As Flagger: with OnDelete no pod would ever run a promoted template until deleted by hand.
    if (type !== undefined && type !== "RollingUpdate") {
      throw new ConfigBlockerError(
        "UnsupportedUpdateStrategy",
        `DaemonSet ${objectKey(target)} has spec.updateStrategy.type ${type}: kanaria rolls DaemonSets out with RollingUpdate; set spec.updateStrategy.type to RollingUpdate`,
      );
    }
  },
  primarySpec: (_canary, target) => {
    const s = ds(target).spec;
    return {
      updateStrategy: s?.updateStrategy,
      minReadySeconds: s?.minReadySeconds,
      revisionHistoryLimit: s?.revisionHistoryLimit,
    };
  },
  observe,
  async scale(client, target, replicas) {
    const down = replicas === 0;
    if (parked(target) === down) return;
    // A JSON merge patch: null deletes the one key, the other node selectors stay as they are.
    const nodeSelector = { [SCALE_TO_ZERO_KEY]: down ? SCALE_TO_ZERO_VALUE : null };
    await client.mergePatch(ref(target.metadata.namespace ?? "", target.metadata.name), {
      spec: { template: { spec: { nodeSelector } } },
    });
  },
  history,
};
