// Flagger's own Canaries, MetricTemplates and AlertProviders (test/fixtures/flagger, collected from
// its repository by extract.ts) go through `kanaria validate` with only apiVersion changed, as a
// migrating Flagger user would. Each one must come out as flagger-manifests.expected.yaml says:
// accepted, or refused with exactly the fields listed there named. Change that table, not this file,
// when kanaria accepts more of Flagger's fields. Every manifest validate accepts must also pass a
// server-side dry run against kanaria's CRDs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { kindInfo } from "../../src/api/kinds.ts";
import { validateSources } from "../../src/validate/index.ts";
import { kubeConfig, useNamespace } from "../support/k8s.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/flagger");

interface Entry {
  file: string;
  kind: string;
  router?: string;
}

/** `accepted`, or the fields named by the errors (sorted), optionally marked as a documentation
 * fragment that Flagger's own CRD refuses too. */
type Expected = "accepted" | { refused: string[]; fragment?: true };

const index = JSON.parse(readFileSync(join(FIXTURES, "index.json"), "utf8")) as { manifests: Entry[] };
const expected = parse(
  readFileSync(join(import.meta.dirname, "flagger-manifests.expected.yaml"), "utf8"),
) as Record<string, Expected>;

/** The one change a migrating user makes: the object's own apiVersion (heredocs may be indented). */
function migrate(text: string): string {
  const line = /^([ \t]*)apiVersion:[ \t]*flagger\.app\/v1beta1[ \t]*$/m;
  expect(text).toMatch(line);
  return text.replace(line, "$1apiVersion: kanaria.dev/v1alpha1");
}

function outcome(entry: Entry): { fields: string[]; messages: string[] } {
  const text = migrate(readFileSync(join(FIXTURES, "manifests", entry.file), "utf8"));
  const errors = validateSources([{ file: entry.file, text }]).problems.filter((p) => p.severity === "error");
  return {
    fields: [...new Set(errors.map((p) => p.path))].sort(),
    messages: errors.map((p) => `${p.path}: ${p.message}`),
  };
}

const ns = useNamespace("flagger-manifests");

/** The API server's answer to creating the object (dry run, strict fields): undefined when accepted. */
async function dryRun(api: k8s.CustomObjectsApi, text: string): Promise<string | undefined> {
  const object = parse(text) as { kind: string; metadata: { namespace?: string } };
  object.metadata.namespace = ns;
  try {
    await api.createNamespacedCustomObject({
      group: "kanaria.dev",
      version: "v1alpha1",
      namespace: ns,
      plural: (kindInfo(object.kind) as { plural: string }).plural,
      body: object,
      dryRun: "All",
      fieldValidation: "Strict",
    });
    return undefined;
  } catch (err) {
    const body = (err as { body?: unknown }).body;
    return typeof body === "string" ? body : String(err);
  }
}

describe("Flagger's own manifests through kanaria validate", () => {
  it("the table lists exactly the collected manifests", () => {
    expect(Object.keys(expected).sort()).toEqual(index.manifests.map((e) => e.file).sort());
  });

  it.each(index.manifests.map((e) => [e.file, e] as const))("%s", (_file, entry) => {
    const want = expected[entry.file];
    const got = outcome(entry);
    if (want === "accepted") expect(got.messages).toEqual([]);
    else expect(got.fields, got.messages.join("\n")).toEqual([...(want?.refused ?? [])].sort());
  });

  it("the API server accepts every manifest validate accepts", async () => {
    const api = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const accepted = index.manifests.filter((e) => expected[e.file] === "accepted");
    expect(accepted.length).toBeGreaterThan(30);
    const rejected: string[] = [];
    for (const entry of accepted) {
      const text = migrate(readFileSync(join(FIXTURES, "manifests", entry.file), "utf8"));
      const answer = await dryRun(api, text);
      if (answer !== undefined) rejected.push(`${entry.file}: ${answer}`);
    }
    expect(rejected).toEqual([]);
  });

  it("every refusal names the field and says what to do", () => {
    for (const entry of index.manifests) {
      for (const message of outcome(entry).messages) expect(message).toMatch(/^spec[\w.[\]]*: \S.{20,}/);
    }
  });
});
