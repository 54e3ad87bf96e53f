/**
 * Which Canaries an event on a dependent object concerns, without looking at every Canary: a Deployment,
 * Service or Ingress event during a release of a thousand Canaries is one map lookup, not a thousand
 * predicate calls. Kept up to date from the Canary watch (its relists are diffed into events too).
 */
import type { Canary } from "../api/canary.ts";
import { objectKey } from "../kube/objects.ts";
import type { KubeObject } from "../kube/types.ts";
import { primaryName } from "../workloads/primary.ts";

/** The kinds a Canary names by name (besides the objects it owns). */
type CanaryObject = Canary & KubeObject;

export type ReferencedKind =
  | "Deployment"
  | "DaemonSet"
  | "ConfigMap"
  | "Secret"
  | "Ingress"
  | "HTTPRoute"
  | "MetricTemplate"
  | "HorizontalPodAutoscaler"
  | "ScaledObject";

export class CanaryIndex {
  /** "Kind/namespace/name" of a referenced object -> keys of the Canaries naming it. */
  private readonly byRef = new Map<string, Set<string>>();
  /** A Canary's key -> the references it was indexed under, to take them back on change. */
  private readonly refsOf = new Map<string, string[]>();
  /** A Canary's uid -> its key: objects a Canary owns lead back to it through their ownerReferences. */
  private readonly byUid = new Map<string, string>();
  private readonly uidOf = new Map<string, string>();

  /** Indexes a Canary as it is now (added or changed). */
  set(canary: CanaryObject): void {
    const key = objectKey(canary);
    this.delete(canary);
    const refs = references(canary);
    for (const ref of refs) {
      const keys = this.byRef.get(ref);
      if (keys) keys.add(key);
      else this.byRef.set(ref, new Set([key]));
    }
    if (refs.length > 0) this.refsOf.set(key, refs);
    const uid = canary.metadata.uid;
    if (uid) {
      this.byUid.set(uid, key);
      this.uidOf.set(key, uid);
    }
  }

  delete(canary: CanaryObject): void {
    const key = objectKey(canary);
    for (const ref of this.refsOf.get(key) ?? []) {
      const keys = this.byRef.get(ref);
      keys?.delete(key);
      if (keys?.size === 0) this.byRef.delete(ref);
    }
    this.refsOf.delete(key);
    const uid = this.uidOf.get(key);
    if (uid !== undefined && this.byUid.get(uid) === key) this.byUid.delete(uid);
    this.uidOf.delete(key);
  }

  /**
   * Keys of the Canaries that `object` concerns: those owning it, and, for `kind`, those naming it.
   * Owner references are trusted only within the object's namespace, as Kubernetes does.
   */
  canariesFor(object: KubeObject, kind?: ReferencedKind): Set<string> {
    const out = new Set<string>();
    const namespace = object.metadata.namespace;
    for (const owner of object.metadata.ownerReferences ?? []) {
      if (owner.kind !== "Canary") continue;
      const key = this.byUid.get(owner.uid);
      if (key?.startsWith(`${namespace}/`)) out.add(key);
    }
    if (kind)
      for (const key of this.byRef.get(ref(kind, namespace, object.metadata.name)) ?? []) out.add(key);
    return out;
  }
}

function ref(kind: ReferencedKind, namespace: string | undefined, name: string | undefined): string {
  return `${kind}/${namespace ?? ""}/${name ?? ""}`;
}

/**
 * What a Canary names: its target and primary, the configs it tracks, its autoscaler, its Ingress and
 * HTTPRoute, and its MetricTemplates (in its own namespace unless the reference says another).
 */
function references(canary: CanaryObject): string[] {
  const ns = canary.metadata.namespace;
  const out: string[] = [];
  const target = canary.spec?.targetRef?.name;
  const kind = canary.spec?.targetRef?.kind === "DaemonSet" ? "DaemonSet" : "Deployment";
  if (target !== undefined) out.push(ref(kind, ns, target), ref(kind, ns, primaryName(target)));
  // trackedConfigs keys are "configmap/<name>" and "secret/<name>".
  for (const tracked of Object.keys(canary.status?.trackedConfigs ?? {})) {
    const slash = tracked.indexOf("/");
    const kind = tracked.slice(0, slash);
    if (kind === "configmap") out.push(ref("ConfigMap", ns, tracked.slice(slash + 1)));
    else if (kind === "secret") out.push(ref("Secret", ns, tracked.slice(slash + 1)));
  }
  const ingress = canary.spec?.ingressRef?.name;
  if (ingress !== undefined) out.push(ref("Ingress", ns, ingress));
  const scaler = canary.spec?.autoscalerRef;
  if (scaler?.kind === "HorizontalPodAutoscaler" || scaler?.kind === "ScaledObject")
    out.push(ref(scaler.kind, ns, scaler.name));
  const route = canary.spec?.routeRef?.name;
  if (route !== undefined) out.push(ref("HTTPRoute", ns, route));
  for (const metric of canary.spec?.analysis?.metrics ?? []) {
    const template = metric.templateRef;
    if (template) out.push(ref("MetricTemplate", template.namespace ?? ns, template.name));
  }
  return out;
}
