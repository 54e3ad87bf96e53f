import pino from "pino";
import { describe, expect, it } from "vitest";
import { servedKinds, WATCHED_KINDS } from "./watched-kinds.ts";

const logger = pino({ level: "silent" });

describe("WATCHED_KINDS", () => {
  it("lists each kind once", () => {
    const keys = WATCHED_KINDS.map((k) => `${k.apiVersion}/${k.kind}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("gates only the optional APIs on discovery", () => {
    expect(WATCHED_KINDS.filter((k) => k.requiresApi).map((k) => k.kind)).toEqual([
      "VirtualRouter",
      "HTTPRoute",
      "ScaledObject",
    ]);
  });
});

describe("servedKinds", () => {
  it("keeps every kind where the server serves the optional APIs", async () => {
    const asked: string[] = [];
    const kinds = await servedKinds(
      WATCHED_KINDS,
      async (group, version) => {
        asked.push(`${group}/${version}`);
        return true;
      },
      logger,
    );
    expect(kinds).toEqual(WATCHED_KINDS);
    expect(asked).toEqual(["appmesh.k8s.aws/v1beta2", "gateway.networking.k8s.io/v1", "keda.sh/v1alpha1"]);
  });

  it("drops a kind whose group/version the server does not serve, and only that one", async () => {
    const kinds = await servedKinds(
      WATCHED_KINDS,
      async (group) => group === "gateway.networking.k8s.io",
      logger,
    );
    expect(kinds.map((k) => k.kind)).toEqual([
      "Deployment",
      "DaemonSet",
      "ConfigMap",
      "Secret",
      "Service",
      "MetricTemplate",
      "Ingress",
      "HTTPRoute",
      "HorizontalPodAutoscaler",
    ]);
  });

  it("fails when discovery fails, rather than watching less", async () => {
    const failing = async () => {
      throw new Error("connection refused");
    };
    await expect(servedKinds(WATCHED_KINDS, failing, logger)).rejects.toThrow("connection refused");
  });
});
