import pino from "pino";
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import {
  CachedKubeClient,
  CacheRegistry,
  type CacheSource,
  cacheForm,
  contains,
  equalitySelector,
} from "./cached-client.ts";
import { ConflictError } from "./errors.ts";
import type { KubeObject, ObjectRef } from "./types.ts";
import { type WatchEvent, Watcher } from "./watcher.ts";

/** A watch cache that only learns what the API server holds when told to (a watch that lags). */
class LaggingCache implements CacheSource {
  readonly objects = new Map<string, KubeObject>();
  private readonly server: FakeKubeClient;
  private readonly kind: { apiVersion: string; kind: string };
  constructor(server: FakeKubeClient, kind: { apiVersion: string; kind: string }) {
    this.server = server;
    this.kind = kind;
  }
  get(key: string) {
    return this.objects.get(key);
  }
  list() {
    return [...this.objects.values()];
  }
  /** Delivers the server's current objects of the kind, as a watch would. */
  async catchUp(): Promise<void> {
    this.objects.clear();
    for (const o of await this.server.list(this.kind.apiVersion, this.kind.kind)) {
      this.objects.set(`${o.metadata.namespace}/${o.metadata.name}`, cacheForm(o));
    }
  }
}

const CM = { apiVersion: "v1", kind: "ConfigMap" };
const cmRef = (name: string, namespace = "apps"): ObjectRef => ({ ...CM, namespace, name });
const configMap = (name: string, data: Record<string, string>, labels?: Record<string, string>) => ({
  ...CM,
  metadata: { name, namespace: "apps", ...(labels ? { labels } : {}) },
  data,
});

async function setup(scope: { namespace?: string } = { namespace: "apps" }) {
  const server = new FakeKubeClient();
  const registry = new CacheRegistry();
  const cache = new LaggingCache(server, CM);
  const unregister = registry.register({ ...CM, ...scope }, cache);
  const client = new CachedKubeClient(server, registry);
  return { server, cache, client, unregister };
}

describe("CachedKubeClient reads", () => {
  it("answers from the cache of the kind and namespace, and goes to the API server for the rest", async () => {
    const { server, cache, client, unregister } = await setup();
    server.seed(configMap("a", { k: "1" }));
    server.seed({ ...configMap("b", { k: "2" }), metadata: { name: "b", namespace: "other" } });
    server.seed({ apiVersion: "v1", kind: "Service", metadata: { name: "svc", namespace: "apps" } });
    await cache.catchUp();
    server.seed(configMap("a", { k: "changed behind the cache" }));

    expect((await client.get<KubeObject & { data: object }>(cmRef("a")))?.data).toEqual({ k: "1" });
    expect(client.stats).toMatchObject({ hits: 1, misses: 0 });
    // Another namespace and an unwatched kind come from the API server.
    expect(await client.get(cmRef("b", "other"))).toBeDefined();
    expect(
      await client.get({ apiVersion: "v1", kind: "Service", namespace: "apps", name: "svc" }),
    ).toBeDefined();
    expect(client.stats).toMatchObject({ hits: 1, misses: 2 });
    // A missing object in a watched namespace is missing: no request.
    expect(await client.get(cmRef("nope"))).toBeUndefined();
    expect(client.stats).toMatchObject({ hits: 2, misses: 2 });

    unregister();
    expect((await client.get<KubeObject & { data: object }>(cmRef("a")))?.data).toEqual({
      k: "changed behind the cache",
    });
  });

  it("uses a cache over all namespaces for any namespace", async () => {
    const { server, cache, client } = await setup({});
    server.seed({ ...configMap("b", { k: "2" }), metadata: { name: "b", namespace: "other" } });
    await cache.catchUp();
    expect(await client.get(cmRef("b", "other"))).toBeDefined();
    expect(client.stats.misses).toBe(0);
  });

  it("lists from the cache with equality selectors and sends set-based ones to the API server", async () => {
    const { server, cache, client } = await setup();
    server.seed(configMap("a", {}, { app: "x", tier: "web" }));
    server.seed(configMap("b", {}, { app: "y" }));
    await cache.catchUp();
    const names = async (selector?: string) =>
      (await client.list("v1", "ConfigMap", "apps", selector)).map((o) => o.metadata.name).sort();
    expect(await names()).toEqual(["a", "b"]);
    expect(await names("app=x,tier==web")).toEqual(["a"]);
    expect(await names("app!=x")).toEqual(["b"]);
    expect(client.stats.misses).toBe(0);
    await expect(names("app in (x)")).rejects.toThrow(/only equality label selectors/);
    expect(client.stats.misses).toBe(1);
  });

  it("gives out frozen objects without managedFields", async () => {
    const { server, cache, client } = await setup();
    server.seed({
      ...configMap("a", { k: "1" }),
      metadata: { name: "a", namespace: "apps", managedFields: [{ manager: "kubectl" }] },
    } as KubeObject);
    await cache.catchUp();
    const cached = await client.get<KubeObject & { data: Record<string, string> }>(cmRef("a"));
    expect(cached?.metadata).not.toHaveProperty("managedFields");
    expect(() => {
      if (cached) cached.data.k = "2";
    }).toThrow(TypeError);
  });

  it("keeps no copy of the manifest from client-side apply, and every other annotation", async () => {
    const { server, cache, client } = await setup();
    const annotations = {
      "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(configMap("a", { k: "1" })),
      "team.example.com/owner": "payments",
    };
    server.seed({ ...configMap("a", { k: "1" }), metadata: { name: "a", namespace: "apps", annotations } });
    server.seed(configMap("b", { k: "1" }));
    await cache.catchUp();
    expect((await client.get(cmRef("a")))?.metadata.annotations).toEqual({
      "team.example.com/owner": "payments",
    });
    expect((await client.get(cmRef("b")))?.metadata).not.toHaveProperty("annotations");
  });

  it("keeps no data of Secrets kanaria never reads and reads those live", async () => {
    const server = new FakeKubeClient();
    const registry = new CacheRegistry();
    const secrets = new LaggingCache(server, { apiVersion: "v1", kind: "Secret" });
    registry.register({ apiVersion: "v1", kind: "Secret", namespace: "apps" }, secrets);
    const client = new CachedKubeClient(server, registry);
    const secret = (name: string, type: string) =>
      ({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace: "apps" },
        type,
        data: { token: "c2VjcmV0" },
      }) as KubeObject;
    server.seed(secret("app", "Opaque"));
    server.seed(secret("release", "helm.sh/release.v1"));
    await secrets.catchUp();

    expect(secrets.get("apps/release")).not.toHaveProperty("data");
    expect(secrets.get("apps/app")).toHaveProperty("data.token", "c2VjcmV0");
    const ref = { apiVersion: "v1", kind: "Secret", namespace: "apps" };
    expect(await client.get({ ...ref, name: "app" })).toHaveProperty("data.token");
    expect(client.stats).toMatchObject({ hits: 1, misses: 0 });
    expect(await client.get({ ...ref, name: "release" })).toHaveProperty("data.token");
    expect(client.stats).toMatchObject({ hits: 1, misses: 1 });
  });
});

describe("CachedKubeClient read-your-writes", () => {
  it("returns its own write until the cache has it, then the cache again", async () => {
    const { server, cache, client } = await setup();
    const seeded = server.seed(configMap("a", { k: "1" }));
    await cache.catchUp();
    const written = await client.replaceStatus({ ...seeded, status: { phase: "Initialized" } } as KubeObject);

    const read = await client.get<KubeObject & { status?: object }>(cmRef("a"));
    expect(read?.status).toEqual({ phase: "Initialized" });
    expect(read?.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    expect(client.wrote(written)).toBe(true);

    // Someone else writes after us and the cache sees it: that newer version wins.
    server.seed({ ...configMap("a", { k: "theirs" }) });
    await cache.catchUp();
    expect((await client.get<KubeObject & { data: object }>(cmRef("a")))?.data).toEqual({ k: "theirs" });
    expect(client.wrote(cache.get("apps/a") as KubeObject)).toBe(false);
  });

  it("shows objects it created before the watch delivers them, in get and list", async () => {
    const { cache, client } = await setup();
    await cache.catchUp();
    await client.apply(configMap("new", { k: "1" }));
    expect(await client.get(cmRef("new"))).toBeDefined();
    expect((await client.list("v1", "ConfigMap", "apps")).map((o) => o.metadata.name)).toEqual(["new"]);
  });

  it("hides an object it deleted until the cache drops it, and shows it again once recreated", async () => {
    const { server, cache, client } = await setup();
    server.seed(configMap("a", { k: "1" }));
    await cache.catchUp();
    await client.delete(cmRef("a"));
    expect(await client.get(cmRef("a"))).toBeUndefined();
    server.seed(configMap("a", { k: "again" }));
    await cache.catchUp();
    expect((await client.get<KubeObject & { data: object }>(cmRef("a")))?.data).toEqual({ k: "again" });
  });

  it("re-reads an object after a conflict, so the retry does not conflict again", async () => {
    const { server, cache, client } = await setup();
    const seeded: KubeObject = server.seed(configMap("a", { k: "1" }));
    await cache.catchUp();
    server.seed(configMap("a", { k: "2" })); // the cache lags behind this one
    const stale = (await client.get<KubeObject>(cmRef("a"))) as KubeObject;
    expect(stale.metadata.resourceVersion).toBe(seeded.metadata.resourceVersion);
    await expect(client.replaceStatus({ ...stale, status: { x: 1 } } as KubeObject)).rejects.toThrow(
      ConflictError,
    );
    const retry = (await client.get<KubeObject>(cmRef("a"))) as KubeObject;
    const written = await client.replaceStatus({ ...retry, status: { x: 1 } } as KubeObject);
    expect(written).toHaveProperty("data.k", "2");
  });
});

describe("CachedKubeClient applies", () => {
  it("writes only when the cluster does not already carry the applied object", async () => {
    const { server, cache, client } = await setup();
    const desired = configMap("a", { k: "1" }, { app: "x" });
    await client.apply(desired);
    await cache.catchUp();
    await client.apply(desired);
    await client.apply(structuredClone(desired));
    expect(server.writes.filter((w) => w.op === "apply")).toHaveLength(1);
    expect(client.stats.skippedWrites).toBe(2);

    // A changed value is written.
    await client.apply(configMap("a", { k: "2" }, { app: "x" }));
    expect(server.writes.filter((w) => w.op === "apply")).toHaveLength(2);
    await cache.catchUp();

    // Someone else changes a field kanaria owns: the next apply puts it back.
    server.seed(configMap("a", { k: "edited" }, { app: "x" }));
    await cache.catchUp();
    await client.apply(configMap("a", { k: "2" }, { app: "x" }));
    expect(server.writes.filter((w) => w.op === "apply")).toHaveLength(3);
  });

  it("writes when kanaria stops setting a field, although the object still contains the rest", async () => {
    const { server, cache, client } = await setup();
    await client.apply(configMap("a", { k: "1" }, { app: "x", extra: "y" }));
    await cache.catchUp();
    await client.apply(configMap("a", { k: "1" }, { app: "x" }));
    expect(server.writes.filter((w) => w.op === "apply")).toHaveLength(2);
    await cache.catchUp();
    expect(cache.get("apps/a")?.metadata.labels).toEqual({ app: "x" });
  });

  it("writes once after a restart (it does not know what it applied before)", async () => {
    const { server, cache } = await setup();
    const first = new CachedKubeClient(
      server,
      (() => {
        const r = new CacheRegistry();
        r.register({ ...CM, namespace: "apps" }, cache);
        return r;
      })(),
    );
    await first.apply(configMap("a", { k: "1" }));
    await cache.catchUp();
    const registry = new CacheRegistry();
    registry.register({ ...CM, namespace: "apps" }, cache);
    const restarted = new CachedKubeClient(server, registry);
    await restarted.apply(configMap("a", { k: "1" }));
    await restarted.apply(configMap("a", { k: "1" }));
    expect(server.writes.filter((w) => w.op === "apply")).toHaveLength(2);
  });
});

describe("contains", () => {
  it.each([
    [{ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } }, true],
    [{ a: 1 }, { a: 2 }, false],
    [{ a: 1 }, { b: {} }, true],
    [{ a: 1 }, { b: [] }, true],
    [{ a: 1 }, { b: { c: 1 } }, false],
    [{ l: [{ x: 1, y: 2 }] }, { l: [{ x: 1 }] }, true],
    [{ l: [{ x: 1 }, { x: 2 }] }, { l: [{ x: 1 }] }, false],
    [{ a: "80" }, { a: 80 }, false],
    [{ a: { b: 1 } }, { a: undefined }, true],
  ])("%j contains %j: %s", (current, desired, expected) => {
    expect(contains(current, desired)).toBe(expected);
  });
});

describe("equalitySelector", () => {
  it("parses equality terms and refuses set-based ones", () => {
    expect(equalitySelector("a=1, b!=2")?.({ a: "1", b: "3" })).toBe(true);
    expect(equalitySelector("a=1")?.({})).toBe(false);
    expect(equalitySelector("a in (1,2)")).toBeUndefined();
    expect(equalitySelector("!a")).toBeUndefined();
  });
});

describe("Watcher transform", () => {
  it("keeps the transformed object in the cache for lists and watch events", async () => {
    let onEvent: ((e: WatchEvent) => void) | undefined;
    const object = (rv: string) => ({
      ...configMap("a", { k: rv }),
      metadata: { name: "a", namespace: "apps", resourceVersion: rv, managedFields: [{ manager: "m" }] },
    });
    const watcher = new Watcher<KubeObject>(
      {
        list: async () => ({ items: [object("1") as KubeObject], resourceVersion: "1" }),
        watch: async (_rv, e) => {
          onEvent = e;
          return () => {};
        },
      },
      {},
      { logger: pino({ level: "silent" }), transform: cacheForm },
    );
    await watcher.start();
    expect(watcher.get("apps/a")?.metadata).not.toHaveProperty("managedFields");
    await new Promise((r) => setTimeout(r, 10));
    onEvent?.({ type: "MODIFIED", object: object("2") });
    expect(watcher.get("apps/a")).toMatchObject({ data: { k: "2" } });
    expect(watcher.get("apps/a")?.metadata).not.toHaveProperty("managedFields");
    await watcher.stop();
  });
});
