/**
 * What the release commands (status, promote, abort, resume, retry) share: the cluster from
 * KUBECONFIG, reading Canaries and their events, the request annotations, and errors that end the
 * command with a clear message and exit code 1 instead of a stack trace.
 */
import type { Command, Option } from "commander";
import pino from "pino";
import type { Canary, Phase } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import {
  formatRequest,
  type GateRequest,
  REQUEST_ANNOTATIONS,
  type RequestKind,
} from "../controller/requests.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import { type EventRecord, eventRecords, type RawEvent } from "./release-facts.ts";

/** A refusal the user can act on: printed as "kanaria: message", exit code 1. */
export class CliError extends Error {
  override readonly name = "CliError";
}

export type CanaryObject = Canary & KubeObject;

export interface Cluster {
  client: KubeClient;
  /** The namespace of the kubeconfig's current context (kubectl's default). */
  namespace: string;
  /** Who is asking, as the kubeconfig names the current user. */
  user: string;
}

export interface ClusterFlags {
  kubeconfig?: string;
  namespace?: string;
}

/** The Kubernetes client is loaded here, on first use, so that commands which need none start fast. */
export async function connect(flags: ClusterFlags): Promise<Cluster> {
  const [{ loadConnection }, { createKubeClient }] = await Promise.all([
    import("../kube/connection.ts"),
    import("../kube/client.ts"),
  ]);
  const connection = loadConnection(flags.kubeconfig);
  return {
    client: createKubeClient(connection, pino({ level: "silent" })),
    namespace: flags.namespace ?? connection.namespace ?? "default",
    user: connection.user ?? "unknown",
  };
}

export function clusterOptions(command: Command): Command {
  return command
    .option("-n, --namespace <name>", "namespace of the Canary (default: the kubeconfig context's)")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)");
}

export async function getCanary(cluster: Cluster, name: string): Promise<CanaryObject> {
  const canary = await cluster.client.get<CanaryObject>({
    apiVersion: API_VERSION,
    kind: "Canary",
    namespace: cluster.namespace,
    name,
  });
  if (!canary) {
    throw new CliError(
      `Canary ${cluster.namespace}/${name} not found (kubectl get canaries -n ${cluster.namespace} lists them)`,
    );
  }
  return canary;
}

export type { EventRecord } from "./release-facts.ts";

/** The Events of every Canary in `namespace` (all namespaces: undefined), oldest first, by "namespace/name". */
export async function canaryEventsIn(
  client: KubeClient,
  namespace: string | undefined,
): Promise<Map<string, EventRecord[]>> {
  const events = await client.list<
    KubeObject & RawEvent & { involvedObject?: { kind?: string; name?: string } }
  >("v1", "Event", namespace);
  const byCanary = new Map<string, RawEvent[]>();
  for (const e of events) {
    if (e.involvedObject?.kind !== "Canary") continue;
    const key = `${e.metadata.namespace}/${e.involvedObject.name}`;
    byCanary.set(key, [...(byCanary.get(key) ?? []), e]);
  }
  return new Map([...byCanary].map(([key, raw]) => [key, eventRecords(raw)]));
}

/** The Canary's Events, oldest first (by when they happened, see release-facts.ts). */
export async function canaryEvents(client: KubeClient, canary: CanaryObject): Promise<EventRecord[]> {
  const all = await canaryEventsIn(client, canary.metadata.namespace);
  return all.get(`${canary.metadata.namespace}/${canary.metadata.name}`) ?? [];
}

/** The phases in which a release is under way and promote/abort can act. */
export const UNDER_WAY: readonly Phase[] = ["Waiting", "Progressing", "WaitingPromotion"];

/**
 * Writes a request annotation for the revision the Canary is analysing now, so it can never act on a
 * later release. The controller answers with an Event saying who asked.
 */
export async function writeRequest(
  cluster: Cluster,
  canary: CanaryObject,
  kind: RequestKind,
  allowed: readonly Phase[],
  extra: Pick<GateRequest, "reason" | "skipAnalysis"> = {},
): Promise<{ revision: string; value: string }> {
  const ref = `${canary.metadata.namespace}/${canary.metadata.name}`;
  const phase = canary.status?.phase;
  const revision = canary.status?.lastAppliedSpec;
  if (!phase || !allowed.includes(phase) || !revision) {
    throw new CliError(
      `Canary ${ref} is ${phase ?? "not reconciled yet"}: nothing to ${kind} (${kind} works while it is ${allowed.join(", ")})`,
    );
  }
  const value = formatRequest({ revision, by: cluster.user, at: new Date().toISOString(), ...extra });
  await cluster.client.mergePatch(
    {
      apiVersion: API_VERSION,
      kind: "Canary",
      namespace: canary.metadata.namespace,
      name: canary.metadata.name,
    },
    { metadata: { annotations: { [REQUEST_ANNOTATIONS[kind]]: value } } },
  );
  return { revision, value };
}

/** Clears spec.suspend (`kanaria resume`). */
export async function resumeCanary(cluster: Cluster, canary: CanaryObject): Promise<void> {
  const { namespace = cluster.namespace, name } = canary.metadata;
  if (canary.spec.suspend !== true) throw new CliError(`Canary ${namespace}/${name} is not suspended`);
  // null removes the field (JSON merge patch), as if it had never been set.
  await cluster.client.mergePatch(
    { apiVersion: API_VERSION, kind: "Canary", namespace, name },
    { spec: { suspend: null } },
  );
}

/** Runs a command body: a CliError prints its message and sets exit code 1; anything else propagates. */
export async function refusable(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    process.stderr.write(`kanaria: ${err.message}\n`);
    process.exitCode = 1;
  }
}

export interface RequestCommand {
  kind: RequestKind;
  description: string;
  allowed: readonly Phase[];
  options?: Option[];
  /** Extra request fields from the flags. */
  extra?: (flags: Record<string, unknown>) => Pick<GateRequest, "reason" | "skipAnalysis">;
  /** What to print once written: "promotion of ns/name revision abc requested". */
  done: (ref: string, revision: string, flags: Record<string, unknown>) => string;
}

/** `kanaria promote/abort/retry NAME`: checks the phase, then writes the request for the current revision. */
export function registerRequest(program: Command, spec: RequestCommand): void {
  const command = program.command(spec.kind).argument("<name>", "the Canary").description(spec.description);
  for (const option of spec.options ?? []) command.addOption(option);
  clusterOptions(command).action((name: string, flags: ClusterFlags & Record<string, unknown>) =>
    refusable(async () => {
      const cluster = await connect(flags);
      const canary = await getCanary(cluster, name);
      const { revision } = await writeRequest(
        cluster,
        canary,
        spec.kind,
        spec.allowed,
        spec.extra?.(flags) ?? {},
      );
      process.stdout.write(`${spec.done(`${cluster.namespace}/${name}`, revision, flags)}\n`);
    }),
  );
}
