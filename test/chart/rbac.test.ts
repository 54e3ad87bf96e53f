// The chart's RBAC is enough and not more: the controller runs as the chart's ServiceAccount (a token
// from the TokenRequest API, no admin credentials) through a release and a deletion, with leader
// election on, and never meets a "forbidden"; SubjectAccessReviews show what it must not do.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canaryIngressWeight,
  getCanary,
  getDeployment,
  imageOf,
  initializationConverged,
  recordChanges,
  testClient,
  waitForPhase,
} from "../support/canary-observer.ts";
import { type ControllerProcess, startControllerProcess } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { deployment, IMAGE, nginxApp } from "../support/manifests.ts";
import {
  type Access,
  applyRbac,
  canI,
  describeAccess,
  helm,
  helmTemplate,
  releaseName,
  rest,
  serviceAccountCredentials,
} from "./support.ts";

const ns = useNamespace("chart-rbac");
const other = useNamespace("chart-rbac-other");
const client = testClient();
const release = releaseName();
const user = () => `system:serviceaccount:${ns}:${release}`;
let cleanup: (() => Promise<void>) | undefined;
let controller: ControllerProcess | undefined;
let namespacedUser = "";

beforeAll(async () => {
  await helm();
  cleanup = await applyRbac(await helmTemplate({ release, namespace: ns }));
  // A second release in namespaced mode: Roles in `other` only.
  const namespaced = releaseName();
  namespacedUser = `system:serviceaccount:${ns}:${namespaced}`;
  await applyRbac(
    await helmTemplate({ release: namespaced, namespace: ns, set: { watchNamespaces: [other] } }),
  );
}, 25 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await cleanup?.();
});

describe.concurrent("the chart's RBAC", () => {
  it("is enough: a release promoted and a Canary deleted as the chart's ServiceAccount, leading through its Lease", async () => {
    const sa = await serviceAccountCredentials(ns, release);
    controller = startControllerProcess(ns, [
      "--kubeconfig",
      sa.kubeconfig,
      "--leader-elect",
      `--leader-election-namespace=${ns}`,
      "--leader-election-id=kanaria-leader",
    ]);
    for (const o of nginxApp(ns, "podinfo", {
      interval: "10s",
      threshold: 1,
      stepWeight: 50,
      maxWeight: 50,
    })) {
      // revertOnDeletion: deleting the Canary below also scales the target back up, hands the apex
      // Service back and deletes the canary Ingress.
      await client.apply(
        o.kind === "Canary"
          ? { ...o, spec: { ...(o as { spec?: object }).spec, revertOnDeletion: true } }
          : o,
      );
    }
    await waitForPhase(client, ns, "podinfo", "Initialized", 60_000);
    await initializationConverged(client, ns, "podinfo");
    const weights = recordChanges(() => canaryIngressWeight(client, ns, "podinfo"));
    // The whole Deployment at the new tag (a JSON merge patch of containers[] would drop its ports).
    await client.apply(deployment(ns, "podinfo", "6.0.1"));
    await waitForPhase(client, ns, "podinfo", "Succeeded", 90_000);
    expect(await weights.stop()).toEqual(["0", "50", "0"]);
    expect(imageOf(await getDeployment(client, ns, "podinfo-primary"))).toBe(`${IMAGE}:6.0.1`);
    const lease = await rest().request<{ spec: { holderIdentity?: string } }>(
      "GET",
      `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/kanaria-leader`,
    );
    expect(lease.spec.holderIdentity, "the controller led through the chart's Lease Role").toBeTruthy();

    // Deleting the Canary runs its finalizer (patch on canaries), then the revert described above.
    await rest().request("DELETE", `/apis/kanaria.dev/v1alpha1/namespaces/${ns}/canaries/podinfo`);
    await waitFor(
      () =>
        getCanary(client, ns, "podinfo").then(
          () => false,
          () => true,
        ),
      {
        description: "Canary podinfo to be gone (finalizer removed)",
        timeoutMs: 30_000,
      },
    );
    expect(await canaryIngressWeight(client, ns, "podinfo"), "the canary Ingress was deleted").toBe("-");
    expect(
      (await getDeployment(client, ns, "podinfo"))?.spec?.replicas,
      "the target runs again",
    ).toBeGreaterThan(0);
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
    const log = readFileSync(controller.logFile, "utf8");
    const forbidden = log.split("\n").filter((line) => /forbidden/i.test(line));
    expect(forbidden, "the controller was refused something the chart does not grant").toEqual([]);
    expect(log).toContain("became the leader");
  });

  const mustNot: Access[] = [
    { verb: "create", resource: "pods", subresource: "exec", namespace: "default" },
    { verb: "create", resource: "pods", namespace: "default" },
    { verb: "delete", resource: "deployments", group: "apps", namespace: "default" },
    { verb: "update", resource: "deployments", group: "apps", namespace: "default" },
    { verb: "delete", resource: "secrets", namespace: "default" },
    { verb: "delete", resource: "services", namespace: "default" },
    { verb: "delete", resource: "httproutes", group: "gateway.networking.k8s.io", namespace: "default" },
    { verb: "deletecollection", resource: "configmaps", namespace: "default" },
    { verb: "delete", resource: "canaries", group: "kanaria.dev", namespace: "default" },
    { verb: "create", resource: "canaries", group: "kanaria.dev", namespace: "default" },
    { verb: "update", resource: "metrictemplates", group: "kanaria.dev", namespace: "default" },
    { verb: "create", resource: "namespaces" },
    { verb: "list", resource: "nodes" },
    { verb: "create", resource: "serviceaccounts", subresource: "token", namespace: "default" },
    { verb: "update", resource: "customresourcedefinitions", group: "apiextensions.k8s.io" },
    { verb: "escalate", resource: "clusterroles", group: "rbac.authorization.k8s.io" },
    { verb: "bind", resource: "clusterroles", group: "rbac.authorization.k8s.io" },
    { verb: "create", resource: "rolebindings", group: "rbac.authorization.k8s.io", namespace: "default" },
    { verb: "impersonate", resource: "users" },
    { verb: "impersonate", resource: "serviceaccounts", namespace: "default" },
    { verb: "create", resource: "mutatingwebhookconfigurations", group: "admissionregistration.k8s.io" },
    // The Lease: only its own, only in the release namespace.
    {
      verb: "update",
      resource: "leases",
      group: "coordination.k8s.io",
      namespace: "default",
      name: "kanaria-leader",
    },
    {
      verb: "update",
      resource: "leases",
      group: "coordination.k8s.io",
      name: "kube-scheduler",
      namespace: "kube-system",
    },
    {
      verb: "delete",
      resource: "leases",
      group: "coordination.k8s.io",
      name: "kanaria-leader",
      namespace: ns,
    },
  ];
  it.each(mustNot.map((a) => [describeAccess(a), a] as const))("must not: %s", async (_d, access) => {
    expect(await canI(user(), access)).toBe(false);
  });

  const must: Access[] = [
    { verb: "watch", resource: "canaries", group: "kanaria.dev", namespace: "default" },
    {
      verb: "update",
      resource: "canaries",
      subresource: "status",
      group: "kanaria.dev",
      namespace: "default",
    },
    { verb: "patch", resource: "deployments", group: "apps", namespace: "default" },
    { verb: "create", resource: "events", namespace: "default" },
    { verb: "delete", resource: "ingresses", group: "networking.k8s.io", namespace: "default" },
    { verb: "patch", resource: "httproutes", group: "gateway.networking.k8s.io", namespace: "default" },
    { verb: "create", resource: "virtualrouters", group: "appmesh.k8s.aws", namespace: "default" },
    { verb: "watch", resource: "horizontalpodautoscalers", group: "autoscaling", namespace: "default" },
    { verb: "patch", resource: "horizontalpodautoscalers", group: "autoscaling", namespace: "default" },
    { verb: "patch", resource: "scaledobjects", group: "keda.sh", namespace: "default" },
  ];
  it.each(must.map((a) => [describeAccess(a), a] as const))(
    "may (the reviews answer yes too): %s",
    async (_d, access) => {
      expect(await canI(user(), access)).toBe(true);
    },
  );

  it("takes and renews only its own Lease in the release namespace", async () => {
    const lease = (verb: string, name?: string) =>
      canI(user(), {
        verb,
        resource: "leases",
        group: "coordination.k8s.io",
        namespace: ns,
        ...(name ? { name } : {}),
      });
    expect(await lease("create")).toBe(true);
    expect(await lease("update", "kanaria-leader")).toBe(true);
    expect(await lease("update", "someone-elses-lease")).toBe(false);
    expect(await lease("list")).toBe(false);
  });

  it("with watchNamespaces, only those namespaces", async () => {
    const patch = (namespace: string) =>
      canI(namespacedUser, { verb: "patch", resource: "deployments", group: "apps", namespace });
    expect(await patch(other)).toBe(true);
    expect(await patch(ns)).toBe(false);
    expect(await patch("default")).toBe(false);
    expect(await canI(namespacedUser, { verb: "list", resource: "canaries", group: "kanaria.dev" })).toBe(
      false,
    );
  });
});
