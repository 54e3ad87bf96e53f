/**
 * revertOnDeletion: before the Canary goes, give the target back its traffic, as if kanaria had never
 * been there. The primary and the generated Services and routes are then garbage-collected with the
 * Canary; the apex Service is released first, so it survives. Which step comes next is deletionStep()'s
 * decision (desired.ts); this file only carries it out.
 */
import type { Canary } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { KubeClient } from "../kube/types.ts";
import type { Router } from "../routers/router.ts";
import type { Workload } from "../workloads/meta.ts";
import { isReady, observeWorkload, scaleTarget } from "../workloads/primary.ts";
import { releaseApexService } from "../workloads/services.ts";
import { deletionStep } from "./desired.ts";

/** Returns true once the target serves the apex Service on its own. */
export async function restoreTarget(
  client: KubeClient,
  /** undefined: the provider has no router here, so nothing was routed to take back. */
  router: Router | undefined,
  canary: Canary,
  resolved: ResolvedCanary,
  target: Workload | undefined,
  primaryReplicas: number | undefined,
): Promise<boolean> {
  const state = target && observeWorkload(target);
  const observed = state && {
    replicas: state.replicas,
    ready: isReady(state, resolved.canaryReadyThreshold),
    draining: state.draining,
  };
  const step = deletionStep(observed, primaryReplicas);
  switch (step.kind) {
    case "done":
      return true;
    case "wait":
      return false;
    case "scale-target":
      if (target) await scaleTarget(client, target, step.replicas);
      return false;
    case "release":
      if (target) await releaseApexService(client, canary, target);
      await router?.finalize({ canary, resolved });
      return true;
  }
}
