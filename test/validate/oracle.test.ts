// The API server with kanaria's CRDs is the oracle for `kanaria validate`: every mutated manifest
// that validate accepts must also be accepted by a server-side dry run (strict field validation, as
// kubectl applies). Seeded, so a failure names a manifest that can be replayed.
import * as k8s from "@kubernetes/client-node";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { kindInfo } from "../../src/api/kinds.ts";
import { validateSources } from "../../src/validate/index.ts";
import { isDnsLabel } from "../../src/validate/metadata-check.ts";
import { mutatedManifest } from "../helpers/manifest-mutations.ts";
import { kubeConfig, useNamespace } from "../support/k8s.ts";

const ns = useNamespace("validate-oracle");
const SAMPLES = 200;
const CONCURRENCY = 8;

type Json = Record<string, unknown>;

/** Valid namespaces become the test's namespace: a dry run in a namespace that does not exist fails. */
function inTestNamespace(object: Json): Json {
  const meta = object.metadata as Json | undefined;
  if (meta && typeof meta === "object" && typeof meta.namespace === "string" && isDnsLabel(meta.namespace)) {
    return { ...object, metadata: { ...meta, namespace: ns } };
  }
  return object;
}

async function dryRun(api: k8s.CustomObjectsApi, object: Json): Promise<string | undefined> {
  const info = kindInfo(String(object.kind));
  if (!info) return `no kind ${String(object.kind)}`;
  try {
    await api.createNamespacedCustomObject({
      group: "kanaria.dev",
      version: "v1alpha1",
      namespace: ns,
      plural: info.plural,
      body: object,
      dryRun: "All",
      fieldValidation: "Strict",
    });
    return undefined;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    return typeof body === "string" ? body : err instanceof Error ? err.message : String(err);
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T);
      }
    }),
  );
  return out;
}

describe("kanaria validate against the API server", () => {
  it(`accepts nothing the API server rejects (${SAMPLES} seeded mutated manifests)`, async () => {
    const api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const samples = fc.sample(mutatedManifest, { numRuns: SAMPLES, seed: 20261201 });
    const judged = samples.map(({ object, mutations }) => {
      const body = inTestNamespace(object);
      const result = validateSources([{ file: "m.yaml", text: stringify(body) }]);
      // Accepted: judged as a kanaria object and found without error (another apiVersion is not ours).
      return { body, mutations, accepted: result.objects === 1 && result.errors === 0 };
    });
    const accepted = judged.filter((j) => j.accepted);
    const verdicts = await mapLimit(accepted, CONCURRENCY, (j) => dryRun(api, j.body));
    const disagreements = accepted
      .map((j, i) => ({ manifest: j.body, mutations: j.mutations, server: verdicts[i] }))
      .filter((d) => d.server !== undefined);
    expect(disagreements, "manifests validate accepted but the API server rejected").toEqual([]);
    // Enough of each kind of answer that the comparison means something.
    expect(accepted.length).toBeGreaterThanOrEqual(SAMPLES / 5);
    expect(judged.length - accepted.length).toBeGreaterThanOrEqual(SAMPLES / 5);
  }, 60_000);
});
