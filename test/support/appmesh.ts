// Reading the App Mesh objects the appmesh router makes for a Canary, for integration tests.
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import { APPMESH_API_VERSION } from "../../src/routers/appmesh/spec.ts";

/** resourceVersion of each VirtualNode/VirtualRouter/VirtualService named <apex> or <apex>-*, by "Kind/name". */
export async function meshVersions(
  client: KubeClient,
  namespace: string,
  apex: string,
): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const kind of ["VirtualNode", "VirtualRouter", "VirtualService"]) {
    for (const o of await client.list<KubeObject>(APPMESH_API_VERSION, kind, namespace)) {
      if (o.metadata.name === apex || o.metadata.name.startsWith(`${apex}-`)) {
        out[`${kind}/${o.metadata.name}`] = o.metadata.resourceVersion;
      }
    }
  }
  return out;
}
