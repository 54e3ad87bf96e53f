// The Helm chart in tests: helm from test/cluster/helm.sh, rendering, server-side dry runs and apply
// of rendered objects, and a kubeconfig that authenticates as the chart's ServiceAccount.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { PatchStrategy } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { KubeRest } from "../../src/kube/rest.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { kubeConfig, kubeConnection } from "../support/k8s.ts";

const run = promisify(execFile);
export const repoRoot = join(import.meta.dirname, "../..");
export const chartDir = join(repoRoot, "charts/kanaria");

let helmPath: Promise<string> | undefined;

/** helm, built from its Go module the first time (minutes on a cold machine), then from the cache. */
export function helm(): Promise<string> {
  helmPath ??= run("bash", [join(repoRoot, "test/cluster/helm.sh"), "build"], {
    maxBuffer: 16 << 20,
    timeout: 20 * 60_000,
  }).then(({ stdout }) => stdout.trim().split("\n").at(-1) ?? "");
  return helmPath;
}

export async function runHelm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(await helm(), args, { maxBuffer: 16 << 20, timeout: 120_000, env: helmEnv() });
}

/** Keeps helm's caches and config out of the user's home. */
function helmEnv(): NodeJS.ProcessEnv {
  const home = join(repoRoot, ".kanaria", "helm-home");
  return {
    PATH: process.env.PATH,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
  };
}

export function releaseName(): string {
  return `kanaria-${randomBytes(3).toString("hex")}`;
}

export interface TemplateOptions {
  release: string;
  namespace: string;
  /** --set-json key=value pairs. */
  set?: Record<string, unknown>;
  includeCrds?: boolean;
}

export async function helmTemplate(options: TemplateOptions): Promise<KubeObject[]> {
  const args = ["template", options.release, chartDir, "--namespace", options.namespace];
  if (options.includeCrds) args.push("--include-crds");
  for (const [key, value] of Object.entries(options.set ?? {}))
    args.push("--set-json", `${key}=${JSON.stringify(value)}`);
  const { stdout } = await runHelm(args);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

export function rest(): KubeRest {
  return new KubeRest(kubeConnection());
}

/** Server-side apply of one object as the admin; `dryRun` asks the API server to check it only. */
export async function serverSideApply(object: KubeObject, dryRun = false): Promise<KubeObject> {
  const r = rest();
  const path = await r.resourcePath({
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
  });
  return r.request<KubeObject>("PATCH", path, {
    query: { fieldManager: "kanaria-chart-test", force: true, ...(dryRun ? { dryRun: "All" } : {}) },
    body: object,
    contentType: PatchStrategy.ServerSideApply,
  });
}

export const isRbac = (o: KubeObject) =>
  o.kind === "ServiceAccount" || o.apiVersion === "rbac.authorization.k8s.io/v1";

/** Applies the ServiceAccount and RBAC objects of a rendering; returns what to delete afterwards. */
export async function applyRbac(objects: KubeObject[]): Promise<() => Promise<void>> {
  const applied = objects.filter(isRbac);
  for (const o of applied) await serverSideApply(o);
  return async () => {
    const r = rest();
    for (const o of applied.filter((o) => !o.metadata.namespace)) {
      const path = await r.resourcePath({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name });
      await r.request("DELETE", path).catch(() => {});
    }
  };
}

export interface ServiceAccountCredentials {
  server: string;
  caData: string;
  token: string;
  /** A kubeconfig file with that token (no admin certificate in it). */
  kubeconfig: string;
}

/** A token for the ServiceAccount from the TokenRequest API, as the kubelet would mount it. */
export async function serviceAccountCredentials(
  namespace: string,
  name: string,
): Promise<ServiceAccountCredentials> {
  const kc = kubeConfig();
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData) throw new Error("the test kubeconfig has no certificate-authority-data");
  const response = await rest().request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const token = response.status.token;
  const dir = join(repoRoot, ".kanaria", "test-logs");
  mkdirSync(dir, { recursive: true });
  const kubeconfig = join(dir, `kubeconfig-${namespace}-${name}`);
  writeFileSync(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: test",
      "  cluster:",
      `    server: ${cluster.server}`,
      `    certificate-authority-data: ${cluster.caData}`,
      "users:",
      `- name: ${name}`,
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: sa",
      "  context:",
      "    cluster: test",
      `    user: ${name}`,
      `    namespace: ${namespace}`,
      "current-context: sa",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return { server: cluster.server, caData: cluster.caData, token, kubeconfig };
}

export interface Access {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** `kubectl auth can-i --as`: a SubjectAccessReview for the user, answered by the API server's RBAC. */
export async function canI(user: string, access: Access): Promise<boolean> {
  const review = await rest().request<{ status: { allowed: boolean } }>(
    "POST",
    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    {
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user,
          groups: [
            "system:serviceaccounts",
            `system:serviceaccounts:${user.split(":")[2]}`,
            "system:authenticated",
          ],
          resourceAttributes: { group: access.group ?? "", ...access },
        },
      },
    },
  );
  return review.status.allowed;
}

export const describeAccess = (a: Access) =>
  `${a.verb} ${a.group ? `${a.group}/` : ""}${a.resource}${a.subresource ? `/${a.subresource}` : ""}${a.name ? ` ${a.name}` : ""}${a.namespace ? ` in ${a.namespace}` : " cluster-wide"}`;
