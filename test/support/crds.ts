// Installs CustomResourceDefinitions from YAML files and waits until the API server serves them.
// Shared by the vitest global setup (kanaria's and the third-party CRDs) and `make demo` (kanaria's).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";

/** The *.yaml / *.yml files of a directory, sorted; none when it does not exist. */
export function yamlFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f));
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last error: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface InstallCrdsOptions {
  /** Server-side apply field manager. */
  fieldManager: string;
  /** How long each CRD may take to become Established; default 60 s. */
  timeoutMs?: number;
}

/**
 * Server-side applies every object in `files` (all at once: the App Mesh CRDs are large, one by one
 * takes several seconds) and waits until each CustomResourceDefinition among them is Established.
 * Returns the names of the CRDs.
 */
export async function installCrds(
  kubeconfigPath: string,
  files: string[],
  options: InstallCrdsOptions,
): Promise<string[]> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const docs: { file: string; obj: k8s.KubernetesObject }[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      const raw = doc.toJS() as k8s.KubernetesObject | null;
      if (!raw?.kind || !raw.apiVersion) continue;
      // Through client-node's typed deserializer: KubernetesObjectApi serializes known kinds by their
      // model, and a plain object's JSON names (x-kubernetes-int-or-string, ...) would be dropped.
      docs.push({ file, obj: k8s.loadYaml<k8s.KubernetesObject>(JSON.stringify(raw)) });
    }
  }
  const crdNames: string[] = [];
  await Promise.all(
    docs.map(async ({ file, obj }) => {
      try {
        await objects.patch(
          obj,
          undefined,
          undefined,
          options.fieldManager,
          true,
          k8s.PatchStrategy.ServerSideApply,
        );
      } catch (err) {
        throw new Error(`applying ${obj.kind} ${obj.metadata?.name} from ${file} failed: ${String(err)}`);
      }
      if (obj.kind === "CustomResourceDefinition" && obj.metadata?.name) crdNames.push(obj.metadata.name);
    }),
  );
  await Promise.all(
    crdNames.map((name) =>
      poll(
        `CRD ${name} to be Established`,
        async () => {
          const crd = await ext.readCustomResourceDefinition({ name });
          const ok = crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
          return ok ? true : undefined;
        },
        options.timeoutMs ?? 60_000,
      ),
    ),
  );
  return crdNames.sort();
}
