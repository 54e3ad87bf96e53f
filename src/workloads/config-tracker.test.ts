import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import {
  canaryFixture,
  configMapFixture,
  deploymentFixture,
  NS,
  secretFixture,
} from "../../test/helpers/fixtures.ts";
import {
  CONFIG_TRACKING_ANNOTATION,
  ConfigTrackingError,
  copyConfigsToPrimary,
  findConfigRefs,
  rewriteTemplateForPrimary,
  trackConfigs,
} from "./config-tracker.ts";
import type { ConfigMap, Secret } from "./meta.ts";

/** A template that references configs in every place a pod can. */
function everyKindOfReference(): V1PodTemplateSpec {
  return {
    spec: {
      initContainers: [
        { name: "init", env: [{ name: "A", valueFrom: { configMapKeyRef: { name: "init-cm", key: "a" } } }] },
      ],
      containers: [
        {
          name: "app",
          env: [
            { name: "B", valueFrom: { secretKeyRef: { name: "env-secret", key: "b", optional: true } } },
            { name: "PLAIN", value: "x" },
          ],
          envFrom: [{ configMapRef: { name: "envfrom-cm" } }, { secretRef: { name: "env-secret" } }],
        },
      ],
      volumes: [
        { name: "v1", configMap: { name: "vol-cm", optional: true } },
        { name: "v2", secret: { secretName: "vol-secret" } },
        {
          name: "v3",
          projected: { sources: [{ configMap: { name: "proj-cm" } }, { secret: { name: "proj-secret" } }] },
        },
        { name: "v4", emptyDir: {} },
      ],
    },
  };
}

describe("findConfigRefs", () => {
  it("finds ConfigMaps and Secrets in volumes, projected volumes, env, envFrom and init containers", () => {
    const refs = findConfigRefs(everyKindOfReference());
    expect(refs.map((r) => `${r.kind}/${r.name}`).sort()).toEqual([
      "configmap/envfrom-cm",
      "configmap/init-cm",
      "configmap/proj-cm",
      "configmap/vol-cm",
      "secret/env-secret",
      "secret/proj-secret",
      "secret/vol-secret",
    ]);
  });

  it("treats a config as optional only when every reference to it is optional", () => {
    const refs = findConfigRefs(everyKindOfReference());
    expect(refs.find((r) => r.name === "vol-cm")?.optional).toBe(true);
    // env-secret is optional in env but required in envFrom.
    expect(refs.find((r) => r.name === "env-secret")?.optional).toBe(false);
  });

  it("returns nothing for a template without a spec", () => {
    expect(findConfigRefs({})).toEqual([]);
  });
});

describe("trackConfigs", () => {
  const target = deploymentFixture();

  it("checksums every referenced config under configmap/NAME and secret/NAME", async () => {
    const client = new FakeKubeClient([configMapFixture(), secretFixture()]);
    const tracked = await trackConfigs(client, target);
    expect(Object.keys(tracked).sort()).toEqual(["configmap/podinfo-config", "secret/podinfo-secret"]);
    for (const sum of Object.values(tracked)) expect(sum).toMatch(/^[0-9a-f]{16}$/);
  });

  it("changes a checksum when the data changes and never exposes the data", async () => {
    const before = await trackConfigs(new FakeKubeClient([configMapFixture(), secretFixture()]), target);
    const after = await trackConfigs(
      new FakeKubeClient([configMapFixture("podinfo-config", { color: "green" }), secretFixture()]),
      target,
    );
    expect(after["configmap/podinfo-config"]).not.toBe(before["configmap/podinfo-config"]);
    expect(after["secret/podinfo-secret"]).toBe(before["secret/podinfo-secret"]);
    expect(JSON.stringify(after)).not.toContain("czNjcjN0");
  });

  it("skips a missing optional reference", async () => {
    const d = deploymentFixture();
    const cm = d.spec?.template.spec?.volumes?.[0]?.configMap;
    if (cm) cm.optional = true;
    expect(await trackConfigs(new FakeKubeClient([secretFixture()]), d)).toEqual({
      "secret/podinfo-secret": expect.any(String),
    });
  });

  it("rejects a missing required reference, naming the Deployment and the ConfigMap", async () => {
    const err = await trackConfigs(new FakeKubeClient([secretFixture()]), target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigTrackingError);
    expect((err as Error).message).toContain(`Deployment ${NS}/podinfo references ConfigMap podinfo-config`);
    expect((err as Error).message).toContain("optional: true");
  });

  it(`ignores configs annotated ${CONFIG_TRACKING_ANNOTATION}: disabled`, async () => {
    const cm = configMapFixture();
    cm.metadata.annotations = { [CONFIG_TRACKING_ANNOTATION]: "disabled" };
    expect(Object.keys(await trackConfigs(new FakeKubeClient([cm, secretFixture()]), target))).toEqual([
      "secret/podinfo-secret",
    ]);
  });

  it("ignores image pull and token Secrets", async () => {
    const secret: Secret = { ...secretFixture(), type: "kubernetes.io/dockerconfigjson" };
    expect(Object.keys(await trackConfigs(new FakeKubeClient([configMapFixture(), secret]), target))).toEqual(
      ["configmap/podinfo-config"],
    );
  });
});

describe("copyConfigsToPrimary", () => {
  it("applies -primary copies owned by the Canary", async () => {
    const client = new FakeKubeClient([configMapFixture(), secretFixture()]);
    const tracked = await trackConfigs(client, deploymentFixture());
    const copied = await copyConfigsToPrimary(client, canaryFixture(), tracked);
    expect(copied.sort()).toEqual(["podinfo-config-primary", "podinfo-secret-primary"]);
    const cm = await client.get<ConfigMap>({
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: NS,
      name: "podinfo-config-primary",
    });
    expect(cm?.data).toEqual({ color: "blue" });
    expect(cm?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Canary", name: "podinfo", uid: "canary-uid-1", controller: true }),
    ]);
    const secret = await client.get<Secret>({
      apiVersion: "v1",
      kind: "Secret",
      namespace: NS,
      name: "podinfo-secret-primary",
    });
    expect(secret).toMatchObject({ type: "Opaque", data: { token: "czNjcjN0" } });
  });

  it("updates a copy when the original changed and drops removed keys", async () => {
    const client = new FakeKubeClient([configMapFixture("podinfo-config", { color: "blue", size: "L" })]);
    await copyConfigsToPrimary(client, canaryFixture(), { "configmap/podinfo-config": "x" });
    client.seed(configMapFixture("podinfo-config", { color: "green" }));
    await copyConfigsToPrimary(client, canaryFixture(), { "configmap/podinfo-config": "y" });
    const cm = await client.get<ConfigMap>({
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: NS,
      name: "podinfo-config-primary",
    });
    expect(cm?.data).toEqual({ color: "green" });
  });

  it("keeps a promoted copy of each, written again only when the original changed", async () => {
    const client = new FakeKubeClient([configMapFixture("podinfo-config", { color: "blue" })]);
    const ref = {
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: NS,
      name: "podinfo-config-primary-promoted",
    };
    await copyConfigsToPrimary(client, canaryFixture(), { "configmap/podinfo-config": "x" });
    expect(await client.get<ConfigMap>(ref)).toMatchObject({
      data: { color: "blue" },
      metadata: { ownerReferences: [expect.objectContaining({ kind: "Canary", name: "podinfo" })] },
    });
    const writes = client.writes.length;
    await copyConfigsToPrimary(client, canaryFixture(), { "configmap/podinfo-config": "x" });
    expect(client.writes.slice(writes).map((w) => [w.op, w.ref.name])).toEqual([
      ["apply", "podinfo-config-primary"],
    ]);
    client.seed(configMapFixture("podinfo-config", { color: "green" }));
    await copyConfigsToPrimary(client, canaryFixture(), { "configmap/podinfo-config": "y" });
    expect((await client.get<ConfigMap>(ref))?.data).toEqual({ color: "green" });
  });

  it("leaves an object of the promoted copy's name that is not the Canary's", async () => {
    const theirs = configMapFixture("podinfo-config-primary-promoted", { mine: "yes" });
    const client = new FakeKubeClient([configMapFixture(), theirs]);
    await copyConfigsToPrimary(client, canaryFixture(), { "configmap/podinfo-config": "x" });
    const ref = {
      apiVersion: "v1",
      kind: "ConfigMap",
      namespace: NS,
      name: "podinfo-config-primary-promoted",
    };
    expect((await client.get<ConfigMap>(ref))?.data).toEqual({ mine: "yes" });
  });

  it("fails clearly when a tracked config was deleted", async () => {
    await expect(
      copyConfigsToPrimary(new FakeKubeClient(), canaryFixture(), { "secret/gone": "x" }),
    ).rejects.toThrow(/Secret shop\/gone was deleted after it was tracked/);
  });
});

describe("rewriteTemplateForPrimary", () => {
  it("re-points tracked references only and leaves the input alone", () => {
    const template = everyKindOfReference();
    const before = structuredClone(template);
    const out = rewriteTemplateForPrimary(template, {
      "configmap/vol-cm": "a",
      "secret/env-secret": "b",
      "secret/proj-secret": "c",
    });
    expect(template).toEqual(before);
    const spec = out.spec;
    expect(spec?.volumes?.[0]?.configMap?.name).toBe("vol-cm-primary");
    expect(spec?.volumes?.[1]?.secret?.secretName).toBe("vol-secret");
    expect(spec?.volumes?.[2]?.projected?.sources?.[0]?.configMap?.name).toBe("proj-cm");
    expect(spec?.volumes?.[2]?.projected?.sources?.[1]?.secret?.name).toBe("proj-secret-primary");
    expect(spec?.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name).toBe("env-secret-primary");
    expect(spec?.containers[0]?.envFrom?.[1]?.secretRef?.name).toBe("env-secret-primary");
    expect(spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name).toBe("envfrom-cm");
  });

  it("re-points init containers too", () => {
    const out = rewriteTemplateForPrimary(everyKindOfReference(), { "configmap/init-cm": "a" });
    expect(out.spec?.initContainers?.[0]?.env?.[0]?.valueFrom?.configMapKeyRef?.name).toBe("init-cm-primary");
  });
});
