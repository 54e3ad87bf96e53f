import type { V1PodTemplateSpec } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { FakeKubeClient } from "../../test/helpers/fake-client.ts";
import { configMapFixture, deploymentFixture, secretFixture } from "../../test/helpers/fixtures.ts";
import { canonicalJson } from "./hash.ts";
import { computeRevision, resolveRevision } from "./revision.ts";

function template(image: string): V1PodTemplateSpec {
  return {
    metadata: { labels: { app: "podinfo" } },
    spec: { containers: [{ name: "app", image, ports: [{ containerPort: 80 }] }] },
  };
}

describe("canonicalJson", () => {
  it("sorts keys at every level and keeps list order", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
  });
});

describe("computeRevision", () => {
  it("gives a frozen (cached) template the same hash as a copy, for each set of configs", () => {
    const frozen = Object.freeze(template("web:1"));
    const configs = { "configmap/a": "1111111111111111" };
    expect(computeRevision(frozen, {})).toBe(computeRevision(template("web:1"), {}));
    expect(computeRevision(frozen, configs)).toBe(computeRevision(template("web:1"), configs));
    expect(computeRevision(frozen, configs)).not.toBe(computeRevision(frozen, {}));
  });

  it("is a short hex hash", () => {
    expect(computeRevision(template("web:1"), {})).toMatch(/^[0-9a-f]{16}$/);
  });

  it("does not depend on key order", () => {
    const reordered: V1PodTemplateSpec = {
      spec: { containers: [{ ports: [{ containerPort: 80 }], image: "web:1", name: "app" }] },
      metadata: { labels: { app: "podinfo" } },
    };
    expect(computeRevision(reordered, {})).toBe(computeRevision(template("web:1"), {}));
  });

  it("changes with the template and returns to the old hash when the change is reverted", () => {
    const v1 = computeRevision(template("web:1"), {});
    const v2 = computeRevision(template("web:2"), {});
    expect(v2).not.toBe(v1);
    expect(computeRevision(template("web:1"), {})).toBe(v1);
  });

  it("changes with a config checksum and returns when the config is reverted", () => {
    const v1 = computeRevision(template("web:1"), { "configmap/c": "aaaa" });
    expect(computeRevision(template("web:1"), { "configmap/c": "bbbb" })).not.toBe(v1);
    expect(computeRevision(template("web:1"), { "configmap/c": "aaaa" })).toBe(v1);
  });
});

describe("resolveRevision", () => {
  it("hashes the target's template with the checksums of the configs it reads", async () => {
    const target = deploymentFixture();
    const client = new FakeKubeClient([configMapFixture(), secretFixture()]);
    const revision = await resolveRevision(client, target);
    expect(Object.keys(revision.trackedConfigs).sort()).toEqual([
      "configmap/podinfo-config",
      "secret/podinfo-secret",
    ]);
    expect(revision.hash).toBe(computeRevision(target.spec?.template ?? {}, revision.trackedConfigs));

    client.seed(configMapFixture("podinfo-config", { color: "green" }));
    expect((await resolveRevision(client, target)).hash).not.toBe(revision.hash);
    client.seed(configMapFixture());
    expect((await resolveRevision(client, target)).hash).toBe(revision.hash);
  });
});
