import { describe, expect, it } from "vitest";
import { canaryFixture } from "../../test/helpers/fixtures.ts";
import { routesOverRelease } from "../../test/helpers/routes.ts";
import { resolveCanary } from "../api/defaults.ts";
import { KubernetesRouter } from "./kubernetes.ts";

describe("KubernetesRouter", () => {
  const target = (iterations?: number) => {
    const canary = canaryFixture({ provider: "kubernetes" });
    if (iterations !== undefined) canary.status = { iterations };
    return { canary, resolved: resolveCanary(canary.spec) };
  };
  const ALL_PRIMARY = { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false };

  it("reports all traffic on the primary, before and during the analysis (the apex Service selects it)", async () => {
    expect(await new KubernetesRouter().getRoutes(target())).toEqual(ALL_PRIMARY);
    expect(await new KubernetesRouter().getRoutes(target(2))).toEqual(ALL_PRIMARY);
  });

  it("accepts the all-primary split and writes nothing", async () => {
    const router = new KubernetesRouter();
    await expect(router.reconcile(target())).resolves.toBeUndefined();
    await expect(router.setRoutes(target(), ALL_PRIMARY)).resolves.toBeUndefined();
    await expect(router.finalize(target())).resolves.toBeUndefined();
  });

  it("refuses a split it cannot apply rather than pretending it did", async () => {
    await expect(
      new KubernetesRouter().setRoutes(target(), { ...ALL_PRIMARY, primaryWeight: 80, canaryWeight: 20 }),
    ).rejects.toThrow(/provider kubernetes cannot route 20% of traffic to the canary/);
  });

  it("reads back every split a blue/green release asks of it", async () => {
    const router = new KubernetesRouter();
    for (const routes of routesOverRelease(target().resolved, router.capabilities)) {
      await router.setRoutes(target(), routes);
      expect(await router.getRoutes(target())).toEqual(routes);
    }
  });
});
