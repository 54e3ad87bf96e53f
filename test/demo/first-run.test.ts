// The line a cold `make demo` prints before it builds, read from a real cache directory.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readEnvFile } from "../support/env-file.ts";
import { firstRunNotice, missingBinaries } from "./first-run.ts";
import { REPO_ROOT } from "./processes.ts";

const v = readEnvFile(path.join(REPO_ROOT, "test/cluster/versions.env"));

/** A cache holding finished builds of `dirs` (cluster.sh writes .complete last). */
function cacheWith(dirs: string[]): string {
  const cache = mkdtempSync(path.join(tmpdir(), "kanaria-cache-"));
  for (const d of dirs) {
    mkdirSync(path.join(cache, d), { recursive: true });
    writeFileSync(path.join(cache, d, ".complete"), "go-build ...");
  }
  return cache;
}

const controlPlane = [
  `k8s-${v.KUBERNETES_VERSION}`,
  `etcd-${v.ETCD_VERSION}`,
  `kwok-${v.KWOK_VERSION}`,
  `moto-${v.MOTO_VERSION}`,
];
const dataplane = [
  `traefik-${v.TRAEFIK_VERSION}`,
  `podinfo-${v.PODINFO_APP_VERSION}-${(v.PODINFO_VERSION ?? "").split("-").at(-1)}`,
  `loadtester-${v.LOADTESTER_VERSION}`,
  `hey-${v.HEY_VERSION}`,
];
// Prometheus comes from Debian; the machine's own answer is not under test here.
const env = (cache: string) => ({ KANARIA_CACHE_DIR: cache, PATH: "" });
const withoutPrometheus = (m: string[]) => m.filter((x) => x !== "Prometheus (apt-get)");

describe("a first make demo", () => {
  it("on real traffic announces the data plane's build, the longest part, and how to skip it", () => {
    const cache = cacheWith(controlPlane);
    const missing = withoutPrometheus(missingBinaries({ dataplane: true, env: env(cache) }));
    expect(missing).toEqual([
      `Traefik ${v.TRAEFIK_VERSION} (built with Go: the longest part)`,
      `podinfo ${v.PODINFO_APP_VERSION} (built with Go)`,
      `Flagger's load tester ${v.LOADTESTER_VERSION} (built with Go)`,
      `hey ${v.HEY_VERSION} (built with Go)`,
    ]);
    const notice = firstRunNotice(missing, true);
    expect(notice).toContain("the data plane: 11-42 minutes on 2 cores, mostly Traefik");
    expect(notice).toContain("KANARIA_DATAPLANE=off make demo skips the data plane");
    // On the simulator the data plane is not needed and not named.
    expect(withoutPrometheus(missingBinaries({ dataplane: false, env: env(cache) }))).toEqual([]);
  });

  it("builds nothing once every part is in the cache", () => {
    const cache = cacheWith([...controlPlane, ...dataplane]);
    expect(withoutPrometheus(missingBinaries({ dataplane: true, env: env(cache) }))).toEqual([]);
  });

  it("on a cold machine names the control plane first and says what the data plane adds", () => {
    const cache = cacheWith([]);
    const missing = withoutPrometheus(missingBinaries({ dataplane: true, env: env(cache) }));
    expect(missing[0]).toBe(`Kubernetes ${v.KUBERNETES_VERSION} (built from source with Go)`);
    expect(missing).toHaveLength(8);
    expect(firstRunNotice(missing, true)).toContain("; the data plane adds 11-42, mostly Traefik");
    const simulator = withoutPrometheus(missingBinaries({ dataplane: false, env: env(cache) }));
    expect(simulator).toHaveLength(4);
    expect(firstRunNotice(simulator, false)).not.toMatch(/data plane|KANARIA_DATAPLANE/);
  });
});
