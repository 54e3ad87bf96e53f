import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { objectKey } from "../kube/objects.ts";
import type { KubeClient } from "../kube/types.ts";
import { type TrackedConfigs, trackConfigs } from "./config-tracker.ts";
import { canonicalJson, shortHash } from "./hash.ts";
import { workloadKind } from "./kinds.ts";
import type { Workload } from "./meta.ts";

/** What the primary runs or the canary is analysed with: the pod template plus the configs it reads. */
export interface Revision {
  /** Short hex hash of the pod template and the config checksums. */
  hash: string;
  trackedConfigs: TrackedConfigs;
}

/**
 * The revision hash of a pod template as stored by the API server (defaults included, which is stable
 * because the server applies the same defaults to the same manifest). It depends on nothing else, so
 * reverting the Deployment and its configs to an earlier state gives the earlier hash back.
 */
export function computeRevision(template: V1PodTemplateSpec, trackedConfigs: TrackedConfigs): string {
  // A template from the watch cache is the same frozen object until the Deployment changes.
  const configs = canonicalJson(trackedConfigs);
  const known = revisions.get(template);
  if (known?.configs === configs) return known.hash;
  const hash = shortHash({ template, configs: trackedConfigs });
  if (Object.isFrozen(template)) revisions.set(template, { configs, hash });
  return hash;
}

const revisions = new WeakMap<object, { configs: string; hash: string }>();

/** Reads the configs the target references and hashes its current revision. */
export async function resolveRevision(client: KubeClient, target: Workload): Promise<Revision> {
  // A DaemonSet's parking node selector is no part of what it runs.
  const template = workloadKind(target.kind).template(target);
  if (!template) throw new Error(`${target.kind} ${objectKey(target)} has no spec.template`);
  const trackedConfigs = await trackConfigs(client, target);
  return { hash: computeRevision(template, trackedConfigs), trackedConfigs };
}
