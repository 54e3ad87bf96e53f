/**
 * The ready endpoints a Service's EndpointSlices list: what a proxy (ingress-nginx, Envoy, Traefik)
 * sends requests to. A pod Ready in its Deployment's status may not be listed yet (the EndpointSlice
 * controller is a separate loop), and a proxy told to send a share of traffic to a Service with no
 * endpoints answers 503 for that share until they arrive.
 */
import type { KubeClient, KubeObject } from "../kube/types.ts";

interface Endpoint {
  addresses?: string[];
  conditions?: { ready?: boolean | null };
  targetRef?: { uid?: string; name?: string };
}

export type EndpointSlice = KubeObject & { endpoints?: Endpoint[] | null };

/**
 * Ready endpoints over the slices, each pod once (dual-stack Services list it in one slice per family).
 * A missing `ready` condition counts as ready, as the EndpointSlice API defines it. undefined when there
 * is no slice at all: nothing publishes endpoints for the Service (a cluster without the EndpointSlice
 * controller), so there is nothing to wait for.
 */
export function readyEndpoints(slices: readonly EndpointSlice[]): number | undefined {
  if (slices.length === 0) return undefined;
  const ready = new Set<string>();
  for (const slice of slices) {
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      const id = e.targetRef?.uid ?? e.targetRef?.name ?? e.addresses?.[0];
      if (id) ready.add(id);
    }
  }
  return ready.size;
}

/** The ready endpoints of Service NAMESPACE/NAME (one list request); undefined when none can be read. */
export async function serviceReadyEndpoints(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<number | undefined> {
  try {
    const slices = await client.list<EndpointSlice>(
      "discovery.k8s.io/v1",
      "EndpointSlice",
      namespace,
      `kubernetes.io/service-name=${name}`,
    );
    return readyEndpoints(slices);
  } catch {
    // Not permitted (a Role without endpointslices) or unreadable: the Deployment's readiness decides,
    // as it did before this check; a release is never held on a read the controller may not make.
    return undefined;
  }
}
