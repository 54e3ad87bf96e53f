/**
 * revertOnDeletion: before the Canary goes, give the target back its traffic, as if kanaria had never
 * been there. The primary and the generated Services and routes are then garbage-collected with the
 * Canary; the apex Service is released first, so it survives.
 */
import type { Canary } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { Deployment } from "../workloads/meta.ts";
import { isReady, observeWorkload, primaryName, scaleTarget } from "../workloads/primary.ts";
import { releaseApexService } from "../workloads/services.ts";
import type { ReconcilerDeps } from "./reconciler.ts";

/** Returns true once the target serves the apex Service on its own. */
export async function restoreTarget(
  deps: ReconcilerDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  target: Deployment | undefined,
): Promise<boolean> {
  if (!target) return true;
  const namespace = canary.metadata.namespace ?? "";
  if ((target.spec?.replicas ?? 1) === 0) {
    const primary = await deps.client.get<Deployment>({
      apiVersion: "apps/v1",
      kind: "Deployment",
      namespace,
      name: primaryName(target.metadata.name),
    });
    await scaleTarget(deps.client, target, Math.max(1, primary?.spec?.replicas ?? 1));
    return false;
  }
  if (!isReady(observeWorkload(target), resolved.canaryReadyThreshold)) return false;
  await releaseApexService(deps.client, canary, target);
  await deps.router(resolved.provider).finalize({ canary, resolved });
  return true;
}
