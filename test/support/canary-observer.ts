// Reads Canaries, Deployments, Ingresses and Events for assertions in integration tests.
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import type { Canary, Phase } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import { micros } from "../../src/cli/release-facts.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import type { Deployment } from "../../src/workloads/meta.ts";
import { kubeConfig, kubeConnection, waitFor } from "./k8s.ts";

export function testClient(): KubeClient {
  return createKubeClient(kubeConnection(), pino({ level: "silent" }));
}

export async function getCanary(client: KubeClient, namespace: string, name: string): Promise<Canary> {
  const c = await client.get<Canary & KubeObject>({
    apiVersion: API_VERSION,
    kind: "Canary",
    namespace,
    name,
  });
  if (!c) throw new Error(`Canary ${namespace}/${name} not found`);
  return c;
}

export async function getDeployment(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<Deployment | undefined> {
  return client.get<Deployment>({ apiVersion: "apps/v1", kind: "Deployment", namespace, name });
}

/** The weight annotation of the nginx router's `<ingress>-canary` Ingress; "-" while it does not exist. */
export async function canaryIngressWeight(
  client: KubeClient,
  namespace: string,
  ingress: string,
): Promise<string> {
  const ing = await client.get<KubeObject>({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    namespace,
    name: `${ingress}-canary`,
  });
  return ing?.metadata.annotations?.["nginx.ingress.kubernetes.io/canary-weight"] ?? "-";
}

/**
 * Releases a new image of the podinfod container, as `kubectl set image` would: the rest of each
 * container stays (a JSON merge patch replaces the whole list, so the full list is sent back).
 */
export async function setImage(
  client: KubeClient,
  namespace: string,
  name: string,
  image: string,
): Promise<KubeObject> {
  const ref = { apiVersion: "apps/v1", kind: "Deployment", namespace, name };
  const current = await getDeployment(client, namespace, name);
  const containers = (current?.spec?.template?.spec?.containers ?? [{ name: "podinfod" }]).map((c) =>
    c.name === "podinfod" ? { ...c, image } : c,
  );
  // No resourceVersion precondition: the controller may scale the Deployment meanwhile, which this leaves alone.
  return client.mergePatch(ref, { spec: { template: { spec: { containers } } } });
}

/**
 * The status says Initialized before the controller has created the canary Ingress and scaled the
 * target to zero (it persists, then converges): wait for both, so recordings start at weight 0 and a
 * release does not race the scale-down.
 */
export function initializationConverged(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<unknown> {
  return waitFor(
    async () =>
      [
        await getDeployment(client, namespace, name),
        await canaryIngressWeight(client, namespace, name),
      ] as const,
    {
      description: `${name} scaled to zero with no pod left, and its canary Ingress at weight 0`,
      // kanaria scales a target up only once its pods are reported gone: a release started before that
      // would have its scale-up a tick after the new revision is detected.
      until: ([target, weight]) =>
        target?.spec?.replicas === 0 && (target.status?.replicas ?? 0) === 0 && weight === "0",
      timeoutMs: 30_000,
    },
  );
}

/**
 * When kanaria last changed one of its fields of an object, as the API server stamped it in
 * managedFields (whole seconds, rounded down; 0 when it never wrote the object). A server stamp is not
 * late the way a loaded test process's poll can be.
 */
export function kanariaWriteTime(object: KubeObject | undefined): number {
  const writes = (object?.metadata.managedFields ?? []).filter((f) => f.manager === "kanaria");
  return Math.max(...writes.map((f) => Date.parse(String(f.time ?? ""))).filter(Number.isFinite), 0);
}

export function imageOf(d: Deployment | undefined): string | undefined {
  return d?.spec?.template?.spec?.containers?.[0]?.image;
}

export async function waitForPhase(
  client: KubeClient,
  namespace: string,
  name: string,
  phase: Phase,
  timeoutMs = 90_000,
): Promise<Canary> {
  return waitFor(() => getCanary(client, namespace, name), {
    description: `Canary ${namespace}/${name} to reach phase ${phase}`,
    until: (c) => c.status?.phase === phase,
    timeoutMs,
    intervalMs: 300,
  });
}

export interface EventRecord {
  reason: string;
  message: string;
  type: string;
  count: number;
}

/** Events about one Canary, oldest first. */
function firstHappened(e: Record<string, unknown>): number {
  return micros(e.eventTime as string | undefined) ?? micros(e.firstTimestamp as string | undefined) ?? -1;
}

export async function canaryEvents(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<EventRecord[]> {
  const events = await client.list<KubeObject & Record<string, unknown>>("v1", "Event", namespace);
  return (
    events
      .filter((e) => (e.involvedObject as { kind?: string; name?: string })?.kind === "Canary")
      .filter((e) => (e.involvedObject as { name?: string }).name === name)
      // In the order they first happened: eventTime has microseconds (kanaria's recorder makes them
      // strictly increasing), firstTimestamp whole seconds only.
      .sort((a, b) => firstHappened(a) - firstHappened(b))
      .map((e) => ({
        reason: String(e.reason),
        message: String(e.message),
        type: String(e.type),
        count: Number(e.count ?? 1),
      }))
  );
}

/**
 * Polls a value in the background and records every distinct value in order (consecutive repeats
 * collapsed), e.g. the canary weight on an Ingress while a rollout runs.
 */
export function recordChanges<T>(
  read: () => Promise<T>,
  intervalMs = 200,
): { values: T[]; stop: () => Promise<T[]> } {
  const values: T[] = [];
  let running = true;
  const sample = async () => {
    try {
      const v = await read();
      if (values.length === 0 || JSON.stringify(values.at(-1)) !== JSON.stringify(v)) values.push(v);
    } catch {
      // The object may not exist yet.
    }
  };
  const loop = (async () => {
    while (running) {
      await sample();
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    values,
    /** Stops polling after one last sample, so a change the caller just waited for is included. */
    async stop() {
      running = false;
      await loop;
      await sample();
      return values;
    },
  };
}

/**
 * Every write to one Deployment from now on, in order, through a watch: unlike polling, no version in
 * between is missed. Resolves once the watch is established, so no write after the call is lost.
 */
export async function watchDeploymentWrites(
  namespace: string,
  name: string,
): Promise<{ writes: Deployment[]; stop: () => void }> {
  return watchWrites(
    `/apis/apps/v1/namespaces/${namespace}/deployments`,
    { fieldSelector: `metadata.name=${name}` },
    `Deployment ${namespace}/${name}`,
    (object: Deployment) => object,
  );
}

/**
 * Every ADDED or MODIFIED object the watch on PATH (with QUERY) delivers from now on, in order, as
 * RECORD makes it (called as the write arrives, so it may note the time). Resolves once the watch is
 * established. WHAT names the watched objects in the error stop() throws if the watch ended before
 * it: writes after that would be missing.
 */
export async function watchWrites<T, W>(
  path: string,
  query: Record<string, string>,
  what: string,
  record: (object: T) => W,
): Promise<{ writes: W[]; stop: () => void }> {
  const writes: W[] = [];
  let ended: string | undefined;
  const request = await new k8s.Watch(kubeConfig()).watch(
    path,
    query,
    (type: string, object: T) => {
      if (type === "ADDED" || type === "MODIFIED") writes.push(record(object));
    },
    (err: unknown) => {
      ended ??= err ? String(err) : "closed by the API server";
    },
  );
  return {
    writes,
    /** Throws if the watch ended before this call: writes after that would be missing. */
    stop: () => {
      const early = ended;
      request.abort();
      if (early) throw new Error(`the watch on ${what} ended early: ${early}`);
    },
  };
}

/** The nginx canary weight and how many pods of each Deployment were ready, at one moment. */
export interface TrafficSample {
  atMs: number;
  weight: number;
  primaryReady: number;
  canaryReady: number;
}

/** Pods of a Deployment (by its app label) that are Ready and not being deleted. */
export async function readyPods(client: KubeClient, namespace: string, app: string): Promise<number> {
  type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
  const pods = await client.list<Pod>("v1", "Pod", namespace, `app=${app}`);
  return pods.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

/** Samples the route's split and both Deployments' ready pods until stopped (the route read first). */
export function recordTraffic(
  client: KubeClient,
  namespace: string,
  name: string,
  intervalMs = 250,
): { stop: () => Promise<TrafficSample[]> } {
  const samples: TrafficSample[] = [];
  let running = true;
  const sample = async () => {
    const atMs = Date.now();
    const weight = Number.parseInt(await canaryIngressWeight(client, namespace, name), 10) || 0;
    const [primaryReady, canaryReady] = await Promise.all([
      readyPods(client, namespace, `${name}-primary`),
      readyPods(client, namespace, name),
    ]);
    samples.push({ atMs, weight, primaryReady, canaryReady });
  };
  const loop = (async () => {
    while (running) {
      await sample();
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    // One last sample when asked: the state the caller has just waited for (e.g. the route back at 0
    // once the Canary says Succeeded) may be younger than the last one of the loop.
    async stop() {
      running = false;
      await loop;
      await sample();
      return samples;
    },
  };
}

/** The distinct weights in order (consecutive repeats collapsed). */
export function weightsOf(samples: TrafficSample[]): number[] {
  return samples.map((s) => s.weight).filter((w, i, all) => i === 0 || all[i - 1] !== w);
}

/**
 * The longest stretch (ms) in which the route sent a share of the traffic to a Deployment with no
 * ready pod, from the first sample that showed it to the first that did not; 0 when none did.
 */
export function longestUnreadyTrafficMs(samples: TrafficSample[]): number {
  let longest = 0;
  let since: number | undefined;
  for (const s of samples) {
    const bad = (s.weight < 100 && s.primaryReady === 0) || (s.weight > 0 && s.canaryReady === 0);
    if (bad) since ??= s.atMs;
    else if (since !== undefined) {
      longest = Math.max(longest, s.atMs - since);
      since = undefined;
    }
  }
  const last = samples.at(-1);
  if (since !== undefined && last) longest = Math.max(longest, last.atMs - since + 1);
  return longest;
}
