// What the demo releases: the objects in examples/podinfo/ and how each podinfo version behaves in
// the traffic simulator. Shared by demo.ts and the test that keeps the two consistent.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import type { CanarySpec } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { yamlFilesIn } from "../support/crds.ts";
import { REPO_ROOT } from "./processes.ts";
import type { Outcome } from "./summary.ts";

export const EXAMPLES_DIR = path.join(REPO_ROOT, "examples/podinfo");
export const IMAGE_REPO = "ghcr.io/stefanprodan/podinfo";
/** Requests per second through the Ingress. */
export const RPS = 50;

export interface Profile {
  /** Share of requests answered without a 5xx, 0..1. */
  successRate: number;
  /** Latency quantiles, milliseconds. */
  p50: number;
  p99: number;
}

/** How each podinfo version behaves in the simulator. */
export const PROFILES: Readonly<Record<string, Profile>> = {
  "6.0.0": { successRate: 1, p50: 20, p99: 80 },
  "6.0.1": { successRate: 1, p50: 18, p99: 70 },
  "6.0.2": { successRate: 0.9, p50: 25, p99: 90 },
};

export const RELEASES: readonly { tag: string; expected: Outcome; what: string }[] = [
  { tag: "6.0.1", expected: "promoted", what: "a good build" },
  { tag: "6.0.2", expected: "rolled back", what: "a bad build: about 10% of its requests fail" },
];

/** The example's Canary and everything in examples/podinfo/, in file order. */
export interface Example {
  objects: { file: string; obj: KubeObject }[];
  canary: KubeObject & { spec: CanarySpec };
  namespace: string;
  /** The target Deployment (and the Canary's name). */
  name: string;
  /** The Deployment's first container: the one a release changes. */
  container: string;
  startImage: string;
}

type DeploymentObject = KubeObject & {
  spec?: { template?: { spec?: { containers?: { name: string; image?: string }[] } } };
};

export function loadExample(dir = EXAMPLES_DIR): Example {
  const objects: Example["objects"] = [];
  for (const file of yamlFilesIn(dir)) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      const obj = doc.toJS() as KubeObject | null;
      if (obj?.kind && obj.apiVersion) objects.push({ file, obj });
    }
  }
  const canaries = objects.filter((o) => o.obj.kind === "Canary" && o.obj.apiVersion === API_VERSION);
  if (canaries.length !== 1) throw new Error(`expected one Canary in ${dir}, found ${canaries.length}`);
  const canary = (canaries[0] as { obj: KubeObject }).obj as Example["canary"];
  const namespace = canary.metadata.namespace ?? "default";
  const name = canary.spec.targetRef.name;
  const deployment = objects.find(
    (o) =>
      o.obj.kind === "Deployment" && o.obj.metadata.name === name && o.obj.metadata.namespace === namespace,
  )?.obj as DeploymentObject | undefined;
  const container = deployment?.spec?.template?.spec?.containers?.[0];
  if (!container?.image) throw new Error(`${dir} has no Deployment ${namespace}/${name} with an image`);
  if (canary.spec.provider !== "nginx")
    throw new Error("the demo's simulator plays ingress-nginx: the Canary needs provider nginx");
  return { objects, canary, namespace, name, container: container.name, startImage: container.image };
}
