import type { KubeConnection } from "./connection.ts";
import { KubeRest } from "./rest.ts";

/**
 * Whether the API server serves group/version (e.g. an optional CRD such as App Mesh's). A watch on a
 * kind the server does not serve never completes its first list, so the controller asks first.
 */
export async function servesApi(
  connection: KubeConnection,
  group: string,
  version: string,
): Promise<boolean> {
  const list = await new KubeRest(connection).request<{
    groups?: { name: string; versions?: { version: string }[] }[];
  }>("GET", "/apis");
  return (list.groups ?? []).some(
    (g) => g.name === group && (g.versions ?? []).some((v) => v.version === version),
  );
}
