import type { KubeObject, ObjectRef } from "./types.ts";

/**
 * "namespace/name", or "name" for a cluster-scoped object: the key of the watch caches, the work
 * queue and the Canary index, and how messages name an object.
 */
export function objectKey(object: { metadata?: { name?: string; namespace?: string } }): string {
  const namespace = object.metadata?.namespace;
  const name = object.metadata?.name ?? "";
  return namespace ? `${namespace}/${name}` : name;
}

/** "Kind namespace/name" (or "Kind name" for a cluster-scoped object), for messages. */
export function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}

export function refOf(object: KubeObject): ObjectRef {
  const { apiVersion, kind, metadata } = object;
  return {
    apiVersion,
    kind,
    name: metadata.name,
    ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
  };
}
