/**
 * Where backtest gets the Canary, its MetricTemplates and their Secrets: manifests on disk (read and
 * checked as `kanaria validate` does) or the cluster.
 */
import { type Canary, canary as canarySchema } from "../api/canary.ts";
import { API_VERSION, GROUP } from "../api/common.ts";
import { metricTemplate } from "../api/metric-template.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import { kubeLookups, type SecretLookup, type TemplateLookup } from "../metrics/analysis.ts";
import { formatText } from "../validate/format.ts";
import { validateSources } from "../validate/index.ts";
import { collectFiles, parseSource, readSources } from "../validate/load.ts";

export interface Sources {
  canary: Canary;
  templates: TemplateLookup;
  secrets: SecretLookup;
}

/** `name` or `namespace/name`; undefined when the files hold exactly one Canary. */
function matches(c: { metadata: { name: string; namespace?: string } }, wanted: string): boolean {
  const [ns, name] = wanted.includes("/") ? wanted.split("/", 2) : [undefined, wanted];
  return c.metadata.name === name && (ns === undefined || (c.metadata.namespace ?? "default") === ns);
}

export async function fromFiles(paths: string[], wanted: string | undefined): Promise<Sources> {
  const found = await collectFiles(paths);
  const read = await readSources(found.files);
  const ioErrors = [...found.ioErrors, ...read.ioErrors];
  if (ioErrors.length > 0) throw new Error(ioErrors.map((e) => `${e.path}: ${e.message}`).join("; "));
  const checked = validateSources(read.sources);
  if (checked.errors > 0) {
    throw new Error(`the manifests have errors (fix them first):\n${formatText(checked, { quiet: true })}`);
  }
  const values = read.sources.flatMap((s) => parseSource(s).manifests.map((m) => m.value));
  const ours = values.filter((v) => v.apiVersion === API_VERSION);
  const canaries = ours.filter((v) => v.kind === "Canary").map((v) => canarySchema.parse(v));
  const templates = ours.filter((v) => v.kind === "MetricTemplate").map((v) => metricTemplate.parse(v));
  const secrets = values.filter((v) => v.apiVersion === "v1" && v.kind === "Secret");
  return {
    canary: pick(canaries, wanted, paths.join(", ")),
    templates: async (namespace, name) => templates.find((t) => inNamespace(t, namespace, name)),
    secrets: async (namespace, name) => {
      const secret = secrets.find((s) => inNamespace(s as unknown as KubeObject, namespace, name));
      return secret ? secretData(secret) : undefined;
    },
  };
}

function pick(canaries: Canary[], wanted: string | undefined, where: string): Canary {
  if (wanted !== undefined) {
    const hits = canaries.filter((c) => matches(c, wanted));
    if (hits.length === 1) return hits[0] as Canary;
    const names = canaries.map(display).join(", ") || "none";
    throw new Error(
      hits.length === 0
        ? `no Canary ${wanted} in ${where} (found: ${names})`
        : `${hits.length} Canaries named ${wanted}: use --canary NAMESPACE/NAME`,
    );
  }
  if (canaries.length === 1) return canaries[0] as Canary;
  if (canaries.length === 0) throw new Error(`no ${GROUP} Canary in ${where}`);
  throw new Error(
    `${canaries.length} Canaries in ${where} (${canaries.map(display).join(", ")}): pick one with --canary`,
  );
}

const display = (c: Canary) => `${c.metadata.namespace ?? "default"}/${c.metadata.name}`;

/** An object without namespace counts as being in the namespace that refers to it (as in validate). */
function inNamespace(
  o: { metadata: { name: string; namespace?: string } },
  namespace: string,
  name: string,
): boolean {
  return (
    o.metadata.name === name && (o.metadata.namespace === undefined || o.metadata.namespace === namespace)
  );
}

function secretData(secret: Record<string, unknown>): Record<string, string> {
  const data = (secret.data ?? {}) as Record<string, string>;
  const stringData = (secret.stringData ?? {}) as Record<string, string>;
  return {
    ...Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    ),
    ...stringData,
  };
}

export async function fromCluster(client: KubeClient, wanted: string | undefined): Promise<Sources> {
  if (!wanted) throw new Error("--from-cluster needs --canary NAMESPACE/NAME");
  const [namespace = "default", name = wanted] = wanted.includes("/") ? wanted.split("/", 2) : [];
  const object = await client.get<KubeObject>({ apiVersion: API_VERSION, kind: "Canary", namespace, name });
  if (!object) throw new Error(`Canary ${namespace}/${name} not found in the cluster`);
  const parsed = canarySchema.safeParse(object);
  if (!parsed.success) {
    throw new Error(`Canary ${namespace}/${name} is invalid: ${parsed.error.issues[0]?.message}`);
  }
  return { canary: parsed.data, ...kubeLookups(client) };
}
