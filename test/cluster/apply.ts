// `node test/cluster/apply.ts KUBECONFIG FILE...`: server-side applies every object in the YAML files
// and waits until the CRDs among them are Established (cluster.sh up uses it for the data plane's
// Gateway API CRDs, GatewayClass and Gateway). Same field manager as the vitest global setup, which
// applies the Gateway API CRDs again.
import { installCrds } from "../support/crds.ts";

const [kubeconfig, ...files] = process.argv.slice(2);
if (!kubeconfig || files.length === 0) {
  process.stderr.write("usage: node test/cluster/apply.ts KUBECONFIG FILE...\n");
  process.exit(2);
}
await installCrds(kubeconfig, files, { fieldManager: "kanaria-test-setup" });
