import { routerServiceFields } from "../api/canary.ts";
import type { RouterCapabilities } from "./capabilities.ts";
import { RouterConfigError } from "./errors.ts";
import { ALL_PRIMARY, type Router, type RouterTarget, type Routes } from "./router.ts";

/** Plain Services switch everything at once: no weights, no matches, no mirroring. */
export const KUBERNETES_CAPABILITIES: RouterCapabilities = {
  weights: false,
  match: undefined,
  mirroring: false,
  sessionAffinity: false,
  serviceFields: routerServiceFields("kubernetes"),
};

/**
 * The `kubernetes` provider: blue/green with plain ClusterIP Services (Flagger's NopRouter). There is
 * nothing to shift: the apex Service always selects the primary's pods, the analysis sends its test
 * traffic to the -canary Service directly, and promotion switches traffic by rolling the primary onto
 * the new revision. The Services themselves are workloads/services.ts's job, so this router writes
 * nothing and reports what is true of the data plane: all traffic on the primary.
 */
export class KubernetesRouter implements Router {
  readonly capabilities = KUBERNETES_CAPABILITIES;

  check(_target: RouterTarget): void {}

  async reconcile(_target: RouterTarget): Promise<void> {}

  /** decide() never asks this router for a split (its capabilities say it has none); a caller that does is a bug. */
  async setRoutes(target: RouterTarget, routes: Routes): Promise<void> {
    if (routes.canaryWeight !== 0 || routes.matched || routes.mirrored) {
      throw new RouterConfigError(
        `Canary ${target.canary.metadata.namespace}/${target.canary.metadata.name}: provider kubernetes cannot route ` +
          `${routes.canaryWeight}% of traffic to the canary (it switches all at once on promotion); use provider nginx or gatewayapi`,
      );
    }
  }

  async getRoutes(_target: RouterTarget): Promise<Routes> {
    return ALL_PRIMARY;
  }

  async finalize(_target: RouterTarget): Promise<void> {}
}
