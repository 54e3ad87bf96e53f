/**
 * What the Gateway (or mesh) controllers say about an HTTPRoute in its status. kanaria never writes
 * the status; it reads it to hold a Canary whose route a parent refused.
 */
import { objectKey } from "../../kube/objects.ts";
import { GATEWAY_GROUP, type HTTPRoute, type ParentRef } from "./types.ts";

/**
 * A parentRef with the CRD's defaults filled in, so a spec entry and a status entry compare equal; a
 * Service parent's "core" group is the core group "" (a mesh may report either spelling).
 */
function normalized(ref: ParentRef, routeNamespace: string): string {
  const group = ref.group ?? GATEWAY_GROUP;
  return JSON.stringify([
    ref.kind === "Service" && group === "core" ? "" : group,
    ref.kind ?? "Gateway",
    ref.namespace ?? routeNamespace,
    ref.name,
    ref.sectionName ?? "",
    ref.port ?? 0,
  ]);
}

function describeParent(ref: ParentRef, routeNamespace: string): string {
  const section = ref.sectionName ? ` (sectionName ${ref.sectionName})` : "";
  const port = ref.port ? ` (port ${ref.port})` : "";
  return `${ref.kind ?? "Gateway"} ${ref.namespace ?? routeNamespace}/${ref.name}${section}${port}`;
}

/**
 * Why a parent the route names refused it (Accepted=False), naming the parent and its reason; undefined
 * when none did. A route without status (no controller has looked yet, or none runs) is not held:
 * only an explicit refusal is.
 */
export function refusal(route: HTTPRoute): string | undefined {
  const namespace = route.metadata.namespace ?? "";
  const wanted = new Set((route.spec?.parentRefs ?? []).map((p) => normalized(p, namespace)));
  for (const parent of route.status?.parents ?? []) {
    if (!wanted.has(normalized(parent.parentRef, namespace))) continue;
    const accepted = parent.conditions?.find((c) => c.type === "Accepted");
    if (accepted?.status !== "False") continue;
    const detail = accepted.message ? `: ${accepted.message}` : "";
    return (
      `HTTPRoute ${objectKey(route)} is not accepted by its parent ${describeParent(parent.parentRef, namespace)}: ` +
      `${accepted.reason ?? "no reason given"}${detail}; no traffic moves to the canary until it is ` +
      "(fix the route's parentRefs or hostnames, or the parent's listeners)"
    );
  }
  return undefined;
}
