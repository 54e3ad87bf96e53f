// What a first `make demo` has to build before it starts, and the line it prints before building, so a
// cold machine's long wait is announced (the data plane's Traefik build is the longest part).
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { readEnvFile } from "../support/env-file.ts";
import { REPO_ROOT } from "./processes.ts";

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? "").split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, command)));
}

/** The data plane's parts, as missingBinaries names them. */
const DATAPLANE_PART = /^(Traefik|podinfo|Flagger's load tester|hey) /;

/**
 * What `cluster.sh up` still has to build or install into the cache (KANARIA_CACHE_DIR, default
 * ~/.cache/kanaria: a `<tool>-<version>/.complete` marks a finished build), with how.
 */
export function missingBinaries(opts: { dataplane: boolean; env?: NodeJS.ProcessEnv }): string[] {
  const env = opts.env ?? process.env;
  const versions = readEnvFile(path.join(REPO_ROOT, "test/cluster/versions.env"));
  const cache = env.KANARIA_CACHE_DIR ?? path.join(homedir(), ".cache/kanaria");
  const built = (dir: string) => existsSync(path.join(cache, dir, ".complete"));
  const assets = env.KUBEBUILDER_ASSETS ?? "";
  const fromAssets = (bin: string) => assets !== "" && existsSync(path.join(assets, bin));
  const missing: string[] = [];
  const k8sFromAssets = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"].every(fromAssets);
  if (!k8sFromAssets && !built(`k8s-${versions.KUBERNETES_VERSION}`))
    missing.push(`Kubernetes ${versions.KUBERNETES_VERSION} (built from source with Go)`);
  if (!fromAssets("etcd") && !built(`etcd-${versions.ETCD_VERSION}`))
    missing.push(`etcd ${versions.ETCD_VERSION} (built with Go)`);
  if (!onPath("kwok", env) && !built(`kwok-${versions.KWOK_VERSION}`))
    missing.push(`KWOK ${versions.KWOK_VERSION} (built with Go)`);
  if (!onPath("prometheus", env) && !existsSync("/usr/bin/prometheus")) missing.push("Prometheus (apt-get)");
  if (!env.KANARIA_MOTO_SERVER && !built(`moto-${versions.MOTO_VERSION}`))
    missing.push(`moto ${versions.MOTO_VERSION} (pip, in a virtualenv)`);
  if (opts.dataplane) {
    // cluster.sh's cache dirs: TRAEFIK_CACHE, PODINFO_CACHE (app version and the pseudo-version's
    // commit), LOADTESTER_CACHE, HEY_CACHE.
    const commit = (versions.PODINFO_VERSION ?? "").split("-").at(-1);
    if (!built(`traefik-${versions.TRAEFIK_VERSION}`))
      missing.push(`Traefik ${versions.TRAEFIK_VERSION} (built with Go: the longest part)`);
    if (!built(`podinfo-${versions.PODINFO_APP_VERSION}-${commit}`))
      missing.push(`podinfo ${versions.PODINFO_APP_VERSION} (built with Go)`);
    if (!built(`loadtester-${versions.LOADTESTER_VERSION}`))
      missing.push(`Flagger's load tester ${versions.LOADTESTER_VERSION} (built with Go)`);
    if (!built(`hey-${versions.HEY_VERSION}`)) missing.push(`hey ${versions.HEY_VERSION} (built with Go)`);
  }
  return missing;
}

/** The lines printed before a first run builds `missing` (README "Two commands" has the figures). */
export function firstRunNotice(missing: string[], dataplane: boolean): string {
  const onlyDataplane = missing.every((m) => DATAPLANE_PART.test(m));
  const lines = [
    `    First run: building/installing ${missing.join(", ")} into the cache (~/.cache/kanaria).`,
    onlyDataplane
      ? "    This takes a long while (the data plane: 11-42 minutes on 2 cores, mostly Traefik), once; later runs start in about 30 seconds."
      : `    This takes a long while (10-30 minutes for the control plane, mostly compiling Kubernetes${dataplane ? "; the data plane adds 11-42, mostly Traefik" : ""}), once; later runs start in seconds.`,
  ];
  if (dataplane)
    lines.push("    KANARIA_DATAPLANE=off make demo skips the data plane: the simulator makes the metrics.");
  return lines.join("\n");
}
