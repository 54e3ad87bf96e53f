import { describe, expect, it } from "vitest";
import { resolveCanary } from "../api/defaults.ts";
import { canaryFixture } from "../testing/fixtures.ts";
import { KubernetesRouter } from "./kubernetes.ts";

describe("KubernetesRouter", () => {
  const target = (iterations?: number) => {
    const canary = canaryFixture({ provider: "kubernetes" });
    if (iterations !== undefined) canary.status = { iterations };
    return { canary, resolved: resolveCanary(canary.spec) };
  };

  it("reports all traffic on the primary before the analysis iterates", async () => {
    expect(await new KubernetesRouter().getRoutes(target())).toEqual({
      primaryWeight: 100,
      canaryWeight: 0,
      matched: false,
      mirrored: false,
    });
  });

  it("reports the canary as the one under test once iterations started (as Flagger)", async () => {
    expect(await new KubernetesRouter().getRoutes(target(2))).toMatchObject({
      primaryWeight: 0,
      canaryWeight: 100,
    });
  });

  it("writes nothing", async () => {
    const router = new KubernetesRouter();
    await expect(router.reconcile(target())).resolves.toBeUndefined();
    await expect(
      router.setRoutes(target(), { primaryWeight: 0, canaryWeight: 100, matched: false, mirrored: false }),
    ).resolves.toBeUndefined();
    await expect(router.finalize(target())).resolves.toBeUndefined();
  });
});
