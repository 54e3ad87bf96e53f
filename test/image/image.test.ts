// The controller image as a runtime sees it: `make image` writes an OCI archive, umoci unpacks it into
// a runtime bundle, and the bundle's process (user, cwd, env, args) runs chrooted into its root
// filesystem with the chart's ServiceAccount mounted as a kubelet would (token, ca.crt, namespace,
// KUBERNETES_SERVICE_HOST/PORT), against the local control plane, until a Canary is Initialized.
import { type ChildProcess, execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyRbac,
  helm,
  helmTemplate,
  releaseName,
  repoRoot,
  serviceAccountCredentials,
} from "../chart/support.ts";
import { testClient, waitForPhase } from "../support/canary-observer.ts";
import { spawnLogged } from "../support/child-log.ts";
import { useNamespace } from "../support/k8s.ts";
import { nginxApp } from "../support/manifests.ts";

const run = promisify(execFile);
const ns = useNamespace("image");
const client = testClient();
const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string })
  .version;
const archive = join(repoRoot, ".kanaria", "image", `kanaria-${version}.oci.tar`);

interface RuntimeConfig {
  process: { user: { uid: number; gid: number }; cwd: string; env: string[]; args: string[] };
}

let work = "";
let bundle = "";
let config: RuntimeConfig;
let cleanupRbac: (() => Promise<void>) | undefined;
let child: ChildProcess | undefined;

beforeAll(async () => {
  // make decides whether the archive is older than the sources; usually it is up to date.
  await run("make", ["-s", "image"], { cwd: repoRoot, timeout: 10 * 60_000, maxBuffer: 16 << 20 });
  work = mkdtempSync(join(tmpdir(), "kanaria-image-"));
  await run("tar", ["-xf", archive, "-C", work]);
  bundle = join(work, "bundle");
  await run("umoci", ["unpack", "--image", `${work}:${version}`, bundle], { maxBuffer: 16 << 20 });
  config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as RuntimeConfig;
  await helm();
}, 30 * 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await cleanupRbac?.();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the kanaria image", () => {
  it("runs `kanaria controller` as non-root 65532 from Node 24 and the bundle, with no node_modules", () => {
    expect(config.process.user).toMatchObject({ uid: 65532, gid: 65532 });
    // V8's young generation capped, and its memory saver mode (see the Dockerfile).
    expect(config.process.args).toEqual([
      "/usr/local/bin/node",
      "--max-semi-space-size=2",
      "--memory-saver-mode",
      "/app/dist/bundle/main.js",
      "controller",
    ]);
    expect(config.process.cwd).toBe("/app");
    const rootfs = join(bundle, "rootfs");
    // The bundle carries the production dependencies; the image has no node_modules, no tsc output
    // beside the bundle and no TypeScript sources.
    expect(readdirSync(join(rootfs, "app")).sort()).toEqual(["dist", "package.json"]);
    expect(readdirSync(join(rootfs, "app/dist"))).toEqual(["bundle"]);
    const bundled = readdirSync(join(rootfs, "app/dist/bundle"));
    expect(bundled).toContain("main.js");
    expect(
      bundled.filter((f) => !f.endsWith(".js")),
      "only JavaScript in the bundle",
    ).toEqual([]);
    // zod, pino and prom-client are in it, not imported from a node_modules the image does not have.
    const main = readFileSync(join(rootfs, "app/dist/bundle/main.js"), "utf8");
    expect(main).not.toMatch(/from ["'](zod|pino|prom-client|commander|yaml)["']/);
    expect(readFileSync(join(rootfs, "etc/passwd"), "utf8")).toContain("nonroot:x:65532:65532:");
  });

  it("matches the Dockerfile: the same user, working directory and entrypoint", () => {
    const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
    expect(dockerfile).toContain("USER 65532:65532");
    expect(dockerfile).toContain(`WORKDIR ${config.process.cwd}`);
    expect(dockerfile).toContain(`ENTRYPOINT ${JSON.stringify(config.process.args).replaceAll(",", ", ")}`);
    // The environment too, MALLOC_ARENA_MAX included (make bench runs the controller with it, as shipped).
    const env = /^ENV (.*)$/m
      .exec(dockerfile)?.[1]
      ?.split(" ")
      .filter((e) => !e.startsWith("HOME="));
    expect(config.process.env).toEqual(expect.arrayContaining(env ?? ["ENV line missing"]));
    expect(env).toContain("MALLOC_ARENA_MAX=2");
  });

  it("initialises a Canary as the chart's ServiceAccount, mounted as in a Pod", async () => {
    const release = releaseName();
    cleanupRbac = await applyRbac(await helmTemplate({ release, namespace: ns }));
    const sa = await serviceAccountCredentials(ns, release);
    const rootfs = join(bundle, "rootfs");
    // What the kubelet mounts; the controller finds its namespace (for the Lease) there too.
    const mount = join(rootfs, "var/run/secrets/kubernetes.io/serviceaccount");
    mkdirSync(mount, { recursive: true });
    writeFileSync(join(mount, "token"), sa.token);
    writeFileSync(join(mount, "ca.crt"), Buffer.from(sa.caData, "base64"));
    writeFileSync(join(mount, "namespace"), ns);
    const { hostname, port } = new URL(sa.server);

    const logFile = join(repoRoot, ".kanaria", "test-logs", `image-controller-${ns}.log`);
    const env = Object.fromEntries(config.process.env.map((e) => e.split(/=(.*)/s, 2) as [string, string]));
    const { uid, gid } = config.process.user;
    child = spawnLogged(
      "chroot",
      [
        `--userspec=${uid}:${gid}`,
        rootfs,
        ...config.process.args,
        `--namespace=${ns}`,
        "--metrics-bind-address=127.0.0.1:0",
        "--leader-elect",
        "--log-level=debug",
      ],
      logFile,
      // Only the image's environment plus what the kubelet sets: nothing leaks in from this machine.
      {
        env: { ...env, KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port },
      },
    );
    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));

    for (const o of nginxApp(ns, "podinfo", {
      interval: "10s",
      threshold: 1,
      stepWeight: 50,
      maxWeight: 50,
    })) {
      await client.apply(o);
    }
    await waitForPhase(client, ns, "podinfo", "Initialized", 60_000);
    child.kill("SIGTERM");
    expect(await exited, `exit code (log: ${logFile})`).toBe(0);
    const output = readFileSync(logFile, "utf8");
    expect(output).toContain("became the leader");
    expect(output).toContain(`"lease":"${ns}/kanaria-leader"`);
    expect(output.split("\n").filter((l) => /forbidden|EACCES|EROFS/i.test(l))).toEqual([]);
  });
});
