import * as k8s from "@kubernetes/client-node";

/**
 * Whether the API server serves group/version (e.g. an optional CRD such as App Mesh's). A watch on a
 * kind the server does not serve never completes its first list, so the controller asks first.
 */
export async function servesApi(
  kubeConfig: k8s.KubeConfig,
  group: string,
  version: string,
): Promise<boolean> {
  const groups = await kubeConfig.makeApiClient(k8s.ApisApi).getAPIVersions();
  return groups.groups.some((g) => g.name === group && g.versions.some((v) => v.version === version));
}
