/**
 * One small interface per kind of target (spec.targetRef.kind), and the table that picks one: what
 * differs between a Deployment and a DaemonSet when kanaria observes, copies and scales it. Everything
 * else (selector label, configs, revision, Services) reads spec.selector and spec.template, which both
 * kinds have.
 */
import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import type { Canary, TargetKind } from "../api/canary.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import type { Workload } from "./meta.ts";

/** On a primary and its pod template: the target revision the primary runs. */
export const REVISION_ANNOTATION = "kanaria.dev/revision";

export interface WorkloadState {
  exists: boolean;
  /** Pods it should run: Deployment spec.replicas (default 1); DaemonSet the nodes it schedules on. */
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
   * Scaled to zero, but its pods are not reported gone yet. Scaling it up now is unsafe: its controller
   * could count the old pods' availability for the new spec, reporting it ready until their deletion
   * lands, and for a moment after that it serves nothing. (A new template is safe: pods of the old one
   * never count as updated.)
   */
  draining: boolean;
  /** The kanaria.dev/revision annotation (set on primaries). */
  revision?: string;
}

export const ABSENT: WorkloadState = {
  exists: false,
  replicas: 0,
  readyPercent: 0,
  updated: false,
  rolloutComplete: false,
  progressDeadlineExceeded: false,
  draining: false,
};

export interface WorkloadKind {
  readonly kind: TargetKind;
  ref(namespace: string, name: string): ObjectRef;
  /** The pod template a revision is made of (a DaemonSet's without the node selector that parks it). */
  template(workload: Workload): V1PodTemplateSpec | undefined;
  /** Throws a ConfigBlockerError when kanaria cannot release this target as it is (names the fix). */
  check(target: Workload): void;
  /** The primary's spec besides selector and template: the target's rollout settings and its size. */
  primarySpec(canary: Canary, target: Workload, current: Workload | undefined): Record<string, unknown>;
  observe(workload: Workload): WorkloadState;
  /**
   * Runs the target with `replicas` pods (0 between releases; a DaemonSet runs on its nodes for any
   * count above 0). Writes nothing when it already does.
   */
  scale(client: KubeClient, target: Workload, replicas: number): Promise<void>;
  /** The pod templates the primary ran, newest first, from the history its controller keeps. */
  history(client: KubeClient, primary: Workload): Promise<V1PodTemplateSpec[]>;
}

/**
 * The objects of `kind` (its ReplicaSets, its ControllerRevisions) that a workload's controller made
 * for it: those its selector matches and it owns (never another owner's). One list request.
 */
export async function ownedHistory<T extends KubeObject>(
  client: KubeClient,
  owner: Workload,
  kind: "ReplicaSet" | "ControllerRevision",
): Promise<T[]> {
  const labels = owner.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const found = await client.list<T>("apps/v1", kind, owner.metadata.namespace, selector);
  return found.filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid));
}
