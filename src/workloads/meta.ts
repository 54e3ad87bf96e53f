import type {
  V1ConfigMap,
  V1DaemonSet,
  V1Deployment,
  V1OwnerReference,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import type { Canary } from "../api/canary.ts";
import type { KubeObject } from "../kube/types.ts";

/** Objects as the KubeClient returns them: apiVersion, kind and metadata.name always present. */
export type Deployment = V1Deployment & KubeObject;
export type DaemonSet = V1DaemonSet & KubeObject;
/** A target kanaria releases (targetRef.kind), and its `-primary` copy. */
export type Workload = Deployment | DaemonSet;
export type Service = V1Service & KubeObject;
export type ConfigMap = V1ConfigMap & KubeObject;
export type Secret = V1Secret & KubeObject;

/** Namespace of a Canary; everything kanaria creates for it lives there too. */
export function canaryNamespace(canary: Canary): string {
  const ns = canary.metadata.namespace;
  if (!ns) {
    throw new Error(
      `Canary ${canary.metadata.name} has no metadata.namespace: pass the object read from the API server`,
    );
  }
  return ns;
}

/** "namespace/name" for messages. */
export function canaryKey(canary: Canary): string {
  return `${canary.metadata.namespace ?? ""}/${canary.metadata.name}`;
}

/**
 * The controller reference every generated object carries: the garbage collector deletes it with the
 * Canary, and `controller: true` stops a second Canary from claiming the same object.
 */
export function canaryOwnerReference(canary: Canary): V1OwnerReference {
  const uid = canary.metadata.uid;
  if (!uid) {
    throw new Error(
      `Canary ${canaryKey(canary)} has no metadata.uid, so objects cannot be owned by it: pass the object read from the API server`,
    );
  }
  return {
    apiVersion: canary.apiVersion,
    kind: "Canary",
    name: canary.metadata.name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Name of the Canary that controls obj, or undefined when no Canary does. */
export function controllingCanary(obj: {
  metadata?: { ownerReferences?: V1OwnerReference[] };
}): string | undefined {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller === true);
  return ref?.kind === "Canary" ? ref.name : undefined;
}

/** Annotations the API server or kubectl maintain; copying them onto generated objects would be wrong. */
const SYSTEM_ANNOTATIONS = [
  "kubectl.kubernetes.io/last-applied-configuration",
  "deployment.kubernetes.io/revision",
];

/** A user's annotations worth carrying over to a generated copy: neither system ones nor kanaria's own. */
export function userAnnotations(annotations: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(annotations ?? {}).filter(
      ([k]) => !SYSTEM_ANNOTATIONS.includes(k) && !k.startsWith("kanaria.dev/"),
    ),
  );
}
