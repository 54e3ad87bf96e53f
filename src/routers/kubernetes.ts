import type { Router, RouterTarget, Routes } from "./router.ts";

/**
 * The `kubernetes` provider: blue/green with plain ClusterIP Services (Flagger's NopRouter). There is
 * nothing to shift: the apex Service always selects the primary's pods, the analysis sends its test
 * traffic to the -canary Service directly, and promotion switches traffic by rolling the primary onto
 * the new revision. The Services themselves are workloads/services.ts's job, so every method that
 * would write is a no-op.
 */
export class KubernetesRouter implements Router {
  async reconcile(_target: RouterTarget): Promise<void> {}

  async setRoutes(_target: RouterTarget, _routes: Routes): Promise<void> {}

  /**
   * Derived from the Canary's progress, as Flagger does: once analysis iterations have started the
   * canary is the one under test (100), before that the primary takes everything. This is what lets
   * the controller treat a kubernetes blue/green like any other strategy.
   */
  async getRoutes(target: RouterTarget): Promise<Routes> {
    const testing = (target.canary.status?.iterations ?? 0) > 0;
    return {
      primaryWeight: testing ? 0 : 100,
      canaryWeight: testing ? 100 : 0,
      matched: false,
      mirrored: false,
    };
  }

  async finalize(_target: RouterTarget): Promise<void> {}
}
