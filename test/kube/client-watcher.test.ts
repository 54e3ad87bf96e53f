// The Kubernetes edge against the real API server: KubeClient reads and writes, the status
// subresource with optimistic concurrency, Events, and the Watcher (including a real 410 Gone).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, inject, it } from "vitest";
import { type Canary, canary } from "../../src/api/canary.ts";
import { API_VERSION } from "../../src/api/common.ts";
import { eventRecords } from "../../src/cli/release-facts.ts";
import { createKubeClient } from "../../src/kube/client.ts";
import { ConflictError, KubeApiError } from "../../src/kube/errors.ts";
import type { KubeClient, KubeObject } from "../../src/kube/types.ts";
import { apiServerWatchSource, type WatchEvent, Watcher, type WatchSource } from "../../src/kube/watcher.ts";
import { kubeConnection, useNamespace, waitFor } from "../support/k8s.ts";

const namespace = useNamespace("kube-client");
const logger = pino({ level: process.env.KANARIA_TEST_LOG ?? "silent" });

type ConfigMap = KubeObject & { data?: Record<string, string> };
type CoreEvent = KubeObject & {
  involvedObject: { kind: string; name: string; uid?: string };
  reason: string;
  message: string;
  type: string;
  count?: number;
  reportingComponent?: string;
  eventTime?: string;
  series?: { count?: number; lastObservedTime?: string };
};

function configMap(
  name: string,
  data: Record<string, string>,
  labels: Record<string, string> = {},
): ConfigMap {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace, labels }, data };
}

function cmRef(name: string) {
  return { apiVersion: "v1", kind: "ConfigMap", namespace, name };
}

/** Canary's zod type has an open metadata record, which KubeObject's client-node metadata type rejects. */
type CanaryObject = KubeObject & Pick<Canary, "spec" | "status">;

function newCanary(name: string): CanaryObject {
  const parsed = canary.parse({
    apiVersion: API_VERSION,
    kind: "Canary",
    metadata: { name, namespace },
    spec: {
      provider: "kubernetes",
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "web" },
      service: { port: 80 },
      analysis: { interval: "30s", threshold: 2, iterations: 3 },
    },
  });
  return parsed as unknown as CanaryObject;
}

const client = () => createKubeClient(kubeConnection(), logger);

/** The Events recorded for `subject`, once there are `count` of them. */
const eventsOf = (kube: KubeClient, subject: KubeObject, count: number) =>
  waitFor(
    async () =>
      (await kube.list<CoreEvent>("v1", "Event", namespace)).filter(
        (e) => e.involvedObject.uid === subject.metadata.uid,
      ),
    { description: `${count} Events of ${subject.metadata.name}`, until: (e) => e.length === count },
  );

/** etcd's client URL when the test cluster is our own local one (its env file names the port). */
function etcdUrl(): string | undefined {
  const dir = inject("clusterDir");
  const env = dir && existsSync(join(dir, "env")) ? readFileSync(join(dir, "env"), "utf8") : "";
  const port = /^ETCD_PORT=(\d+)$/m.exec(env)?.[1];
  return port ? `http://127.0.0.1:${port}` : undefined;
}

/** Drops etcd's history up to now (through its JSON gateway), as the API server does every 5 minutes. */
async function compactEtcd(url: string): Promise<void> {
  const post = async (path: string, body: unknown): Promise<unknown> => {
    const response = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`etcd ${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  };
  const range = (await post("/v3/kv/range", { key: Buffer.from("/").toString("base64"), limit: 1 })) as {
    header: { revision: string };
  };
  await post("/v3/kv/compaction", { revision: range.header.revision, physical: true });
}

describe("KubeClient", () => {
  it("applies, reads, merge-patches, lists and deletes a ConfigMap", async () => {
    const kube = client();
    const created = await kube.apply(configMap("settings", { a: "1" }, { app: "kube-client-test" }));
    expect(created.metadata.uid).toBeTruthy();
    expect(created.data).toEqual({ a: "1" });
    // Raw JSON, not client-node's models: timestamps stay strings.
    expect(typeof created.metadata.creationTimestamp).toBe("string");

    // Applying again with a field dropped removes it: kanaria owns what it applied last.
    const reapplied = await kube.apply(configMap("settings", { b: "2" }, { app: "kube-client-test" }));
    expect(reapplied.data).toEqual({ b: "2" });
    expect(reapplied.metadata.uid).toBe(created.metadata.uid);

    const patched = await kube.mergePatch<ConfigMap>(cmRef("settings"), {
      metadata: { annotations: { "kanaria.dev/note": "patched" } },
      data: { c: "3" },
    });
    expect(patched.data).toEqual({ b: "2", c: "3" });

    const read = await kube.get<ConfigMap>(cmRef("settings"));
    expect(read?.metadata.annotations).toEqual({ "kanaria.dev/note": "patched" });
    expect(read?.metadata.resourceVersion).toBe(patched.metadata.resourceVersion);

    const listed = await kube.list<ConfigMap>("v1", "ConfigMap", namespace, "app=kube-client-test");
    expect(listed.map((cm) => [cm.kind, cm.apiVersion, cm.metadata.name])).toEqual([
      ["ConfigMap", "v1", "settings"],
    ]);

    await kube.delete(cmRef("settings"));
    await waitFor(() => kube.get(cmRef("settings")), {
      description: "the ConfigMap to be gone",
      until: (v) => !v,
    });
    // Deleting what is already gone is not an error; reading it is undefined.
    await kube.delete(cmRef("settings"));
    expect(await kube.get(cmRef("never-existed"))).toBeUndefined();
  });

  it("keeps the API server's message in errors", async () => {
    const kube = client();
    const invalid = configMap("bad-labels", { a: "1" }, { "not a label key!": "x" });
    const error = await kube.apply(invalid).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).code).toBe(422);
    expect((error as KubeApiError).reason).toBe("Invalid");
    expect((error as Error).message).toMatch(
      /^apply ConfigMap .*\/bad-labels: .*metadata\.labels: Invalid value: "not a label key!"/,
    );
  });

  it("fails clearly for a kind the server does not serve, instead of reporting 'not found'", async () => {
    const kube = client();
    await expect(
      kube.get({ apiVersion: "nope.kanaria.dev/v1", kind: "Nothing", namespace, name: "x" }),
    ).rejects.toThrow(/cannot resolve Nothing \(nope\.kanaria\.dev\/v1\)/);
  });

  it("replaces a Canary's status through the subresource and reports a stale resourceVersion as ConflictError", async () => {
    const kube = client();
    const created = await kube.apply(newCanary("status-test"));
    expect(created.status).toBeUndefined();

    const updated = await kube.replaceStatus<CanaryObject>({
      ...created,
      // The status subresource ignores everything but status: this spec change must not stick.
      spec: { ...created.spec, suspend: true },
      status: { phase: "Initializing", canaryWeight: 0, failedChecks: 0 },
    });
    expect(updated.status?.phase).toBe("Initializing");
    expect(updated.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
    const read = await kube.get<CanaryObject>({
      apiVersion: API_VERSION,
      kind: "Canary",
      namespace,
      name: "status-test",
    });
    expect(read?.status).toEqual({ phase: "Initializing", canaryWeight: 0, failedChecks: 0 });
    expect(read?.spec.suspend).toBeUndefined();

    // Writing with the resourceVersion from before the update: someone else's change would be lost.
    const stale = { ...created, status: { phase: "Failed" as const } };
    const error = await kube.replaceStatus(stale).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toMatch(/^update status of Canary .*status-test: .*has been modified/);
  });

  it("records Events and folds identical consecutive ones into a count", async () => {
    const kube = client();
    const subject = await kube.apply(newCanary("events-test"));
    const events = async () =>
      (await kube.list<CoreEvent>("v1", "Event", namespace)).filter(
        (e) => e.involvedObject.uid === subject.metadata.uid,
      );

    await kube.event({ regarding: subject, type: "Normal", reason: "Synced", message: "initialized" });
    await kube.event({ regarding: subject, type: "Normal", reason: "Synced", message: "initialized" });
    await kube.event({ regarding: subject, type: "Warning", reason: "Halted", message: "check failed" });

    const recorded = await waitFor(events, { description: "two Events", until: (e) => e.length === 2 });
    const byReason = Object.fromEntries(recorded.map((e) => [e.reason, e]));
    expect(byReason.Synced).toMatchObject({
      type: "Normal",
      message: "initialized",
      count: 2,
      reportingComponent: "kanaria",
      involvedObject: { kind: "Canary", name: "events-test" },
    });
    expect(byReason.Halted).toMatchObject({ type: "Warning", message: "check failed", count: 1 });
  });

  it("records Events at once and folds a repeat of the last one asked for, whichever was posted last", async () => {
    const kube = client();
    const subject = await kube.apply(newCanary("events-at-once"));
    const event = (reason: string) => ({
      regarding: subject,
      type: "Normal" as const,
      reason,
      message: reason,
    });
    await Promise.all(["First", "Second", "Third"].map((reason) => kube.event(event(reason))));
    await kube.event(event("Third"));

    const recorded = await eventsOf(kube, subject, 3);
    expect(Object.fromEntries(recorded.map((e) => [e.reason, e.count]))).toEqual({
      First: 1,
      Second: 1,
      Third: 2,
    });
    // Asked for at once (often within one millisecond), they still say in which order: eventTime counts microseconds
    // up, and the repeat of Third is placed by its series.lastObservedTime.
    const byReason = Object.fromEntries(recorded.map((e) => [e.reason, e]));
    const times = ["First", "Second", "Third"].map((r) => String(byReason[r]?.eventTime));
    expect(times.every((t) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(t))).toBe(true);
    expect([...times].sort()).toEqual(times);
    expect(byReason.Third?.series).toMatchObject({ count: 2 });
    expect(String(byReason.Third?.series?.lastObservedTime) > String(times[2])).toBe(true);
    expect(eventRecords(recorded).map((e) => e.reason)).toEqual(["First", "Second", "Third"]);
  });

  it("starts a new Event once the deduplication window has passed", async () => {
    let now = Date.now();
    const kube = createKubeClient(kubeConnection(), logger, {
      eventDedupWindowMs: 60_000,
      now: () => new Date(now),
    });
    const subject = await kube.apply(newCanary("window-test"));
    const event = {
      regarding: subject,
      type: "Normal" as const,
      reason: "Waiting",
      message: "waiting for rollout",
    };
    await kube.event(event);
    now += 30_000;
    await kube.event(event);
    now += 120_000;
    await kube.event(event);

    const recorded = await eventsOf(kube, subject, 2);
    expect(recorded.map((e) => e.count).sort()).toEqual([1, 2]);
  });

  it("records a decision's Event once when a new process replays the same decision (same basis)", async () => {
    const first = client();
    const subject = await first.apply(newCanary("replay-test"));
    const event = {
      regarding: subject,
      type: "Normal" as const,
      reason: "Promoting",
      message: "Copying the template",
      basis: '{"phase":"Progressing","canaryWeight":60}',
    };
    await first.event(event);
    // A fresh client knows nothing of the first one's Events, as a restarted controller.
    await client().event(event);
    await client().event({ ...event, basis: '{"phase":"Progressing","canaryWeight":40}' });

    const recorded = await eventsOf(first, subject, 2);
    // The replay found the first Event; another basis (a later occurrence) is an Event of its own.
    expect(recorded.map((e) => e.count)).toEqual([1, 1]);
  });

  it("does not throw when an Event cannot be written", async () => {
    const kube = client();
    const ghost = {
      ...configMap("ghost", {}),
      metadata: { name: "ghost", namespace: "no-such-namespace-kanaria" },
    };
    await expect(
      kube.event({ regarding: ghost, type: "Normal", reason: "R", message: "m" }),
    ).resolves.toBeUndefined();
  });
});

describe("Watcher", () => {
  let watcher: Watcher<ConfigMap> | undefined;
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
  });

  const selector = { apiVersion: "v1", kind: "ConfigMap", namespace, labelSelector: "watched=yes" };

  function recording() {
    const seen: string[] = [];
    const handlers = {
      onAdd: (o: ConfigMap) => seen.push(`add ${o.metadata.name} ${o.data?.v}`),
      onUpdate: (o: ConfigMap) => seen.push(`update ${o.metadata.name} ${o.data?.v}`),
      onDelete: (o: ConfigMap) => seen.push(`delete ${o.metadata.name}`),
    };
    return { seen, handlers };
  }

  it("lists existing objects, then sees adds, updates and deletes", async () => {
    const kube = client();
    await kube.apply(configMap("before", { v: "1" }, { watched: "yes" }));
    const { seen, handlers } = recording();
    watcher = new Watcher(apiServerWatchSource<ConfigMap>(kubeConnection(), selector, 60_000), handlers, {
      logger,
    });
    await watcher.start();
    expect(seen).toEqual(["add before 1"]);
    expect(watcher.get(`${namespace}/before`)?.kind).toBe("ConfigMap");

    await kube.apply(configMap("after", { v: "1" }, { watched: "yes" }));
    await kube.mergePatch(cmRef("after"), { data: { v: "2" } });
    await kube.delete(cmRef("before"));
    await kube.apply(configMap("ignored", { v: "1" }, { watched: "no" }));

    await waitFor(() => seen, {
      description: "the watcher to see every change",
      until: (s) => s.length >= 4,
    });
    expect(seen).toEqual(["add before 1", "add after 1", "update after 2", "delete before"]);
    expect(watcher.list().map((o) => o.metadata.name)).toEqual(["after"]);
    await kube.delete(cmRef("after"));
    await kube.delete(cmRef("ignored"));
  });

  // A real 410 needs a resourceVersion the server no longer has. ConfigMaps are served from the watch
  // cache, which answers an old resourceVersion with a replay; Events bypass the cache (their default
  // cache size is 0), so after compacting etcd a watch from resourceVersion "1" is answered with 410.
  // Compacting needs etcd's address, which only our own local cluster tells.
  const etcd = etcdUrl();
  it.skipIf(!etcd)(
    "relists after the API server answers 410 Gone to a compacted resourceVersion",
    async () => {
      const kube = client();
      const subject = await kube.apply(configMap("gone-test", {}));
      const events = { apiVersion: "v1", kind: "Event", namespace };
      const real = apiServerWatchSource<CoreEvent>(kubeConnection(), events, 60_000);
      const firstStream: WatchEvent[] = [];
      let lists = 0;
      let watches = 0;
      const source: WatchSource<CoreEvent> = {
        list: () => {
          lists += 1;
          return real.list();
        },
        watch: async (resourceVersion, onEvent, onDone) => {
          watches += 1;
          if (watches > 1) return real.watch(resourceVersion, onEvent, onDone);
          // Recorded after the first list, so only the relist can deliver it.
          await kube.event({ regarding: subject, type: "Normal", reason: "Missed", message: "m" });
          await compactEtcd(etcd ?? "");
          const record = (event: WatchEvent): void => {
            firstStream.push(event);
            onEvent(event);
          };
          return real.watch("1", record, onDone);
        },
      };
      const reasons: string[] = [];
      // The namespace also holds the Events of the tests above; only this subject's count here.
      const onAdd = (event: CoreEvent): void => {
        if (event.involvedObject.uid === subject.metadata.uid) reasons.push(event.reason);
      };
      const watcher = new Watcher(source, { onAdd }, { logger });
      try {
        await watcher.start();
        await waitFor(() => reasons, {
          description: "the relist",
          until: (r) => r.includes("Missed"),
          timeoutMs: 20_000,
        });
        expect(lists).toBe(2);
        expect(firstStream.map((e) => [e.type, (e.object as { code?: number }).code])).toEqual([
          ["ERROR", 410],
        ]);

        await kube.event({ regarding: subject, type: "Normal", reason: "Later", message: "m" });
        await waitFor(() => reasons, { description: "the new stream", until: (r) => r.includes("Later") });
        expect(reasons).toEqual(["Missed", "Later"]);
      } finally {
        await watcher.stop();
      }
    },
  );
});
