import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/**
 * Loads the connection settings for the API server:
 *   1. `path`, when given (the CLI's --kubeconfig),
 *   2. the Pod's service account, when running inside a cluster (KUBERNETES_SERVICE_HOST is set),
 *   3. otherwise $KUBECONFIG (several files are merged, as kubectl does) or ~/.kube/config.
 * Throws when none of these exists: client-node would otherwise fall back to http://localhost:8080
 * and the operator would fail later with a confusing connection error.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) {
    kc.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else if (process.env.KUBECONFIG || existsSync(join(homedir(), ".kube", "config"))) {
    kc.loadFromDefault();
  } else {
    throw new Error("no kubeconfig found: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config");
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(
      `the kubeconfig (${path ?? process.env.KUBECONFIG ?? "~/.kube/config"}) has no current cluster`,
    );
  }
  return kc;
}
