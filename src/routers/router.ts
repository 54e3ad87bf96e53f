import type { Canary } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { ObjectRef } from "../kube/types.ts";
import type { RouterCapabilities } from "./capabilities.ts";

/** Traffic split a router applies or reports. Weights are percentages that add up to 100. */
export interface Routes {
  primaryWeight: number;
  canaryWeight: number;
  /** A/B testing: requests matching analysis.match go to the canary, the rest to the primary. */
  matched: boolean;
  mirrored: boolean;
}

/** Everything on the primary: no weight, no match, no mirror. */
export const ALL_PRIMARY: Routes = { primaryWeight: 100, canaryWeight: 0, matched: false, mirrored: false };

export interface RouterTarget {
  canary: Canary;
  resolved: ResolvedCanary;
}

/**
 * One implementation per traffic provider (kubernetes, nginx, gatewayapi, appmesh), picked by
 * routers/factory.ts. Every method is idempotent: the controller calls them on every tick and after
 * restarts, and they converge the cluster to what is asked.
 */
export interface Router {
  /** What this router can apply; decide() stalls a Canary that asks for more (see capabilities.ts). */
  readonly capabilities: RouterCapabilities;
  /**
   * Checks the Canary's routing settings without touching the cluster and throws a RouterConfigError
   * naming the field and the fix, so the reconciler reports it before anything is written.
   */
  check(target: RouterTarget): void;
  /** Creates or updates the provider's routing objects (e.g. the <ingress>-canary Ingress). */
  reconcile(target: RouterTarget): Promise<void>;
  /** Applies a traffic split. */
  setRoutes(target: RouterTarget, routes: Routes): Promise<void>;
  /**
   * Reads the split currently applied in the cluster; undefined when the objects do not exist yet.
   * Round trip: after setRoutes(t, r), getRoutes(t) returns exactly r, so an idle tick writes nothing.
   */
  getRoutes(target: RouterTarget): Promise<Routes | undefined>;
  /**
   * The object and field that carry the split (field names from the object's root), for drift reports;
   * absent or undefined when the split lives in no object kanaria owns (the kubernetes router, a route
   * the user owns and re-applies from Git).
   */
  splitField?(target: RouterTarget): { ref: ObjectRef; path: string[] } | undefined;
  /** Removes what reconcile created and restores what it changed (Canary deletion with revertOnDeletion). */
  finalize(target: RouterTarget): Promise<void>;
}

export function sameRoutes(a: Routes, b: Routes): boolean {
  return (
    a.primaryWeight === b.primaryWeight &&
    a.canaryWeight === b.canaryWeight &&
    a.matched === b.matched &&
    a.mirrored === b.mirrored
  );
}
