/**
 * Observe, the first verb of a reconcile: what the cluster holds for one Canary (its target, primary,
 * route and drift), read from the watch caches, and the blockers its owner must fix, found before
 * anything is written.
 */
import type { Canary, ProviderName } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import { driftMode } from "../api/drift-mode.ts";
import { type Blocker, blockerOf } from "../errors.ts";
import type { KubeClient, KubeObject } from "../kube/types.ts";
import type { RouterCapabilities } from "../routers/capabilities.ts";
import type { Router, RouterTarget, Routes } from "../routers/router.ts";
import { serviceReadyEndpoints } from "../workloads/endpoints.ts";
import { targetKind } from "../workloads/kinds.ts";
import type { Workload } from "../workloads/meta.ts";
import { observeWorkload, primaryName } from "../workloads/primary.ts";
import { type Revision, resolveRevision } from "../workloads/revision.ts";
import { selectorLabel } from "../workloads/selector.ts";
import { serviceNames, servicePorts } from "../workloads/services.ts";
import type { Autoscaling } from "./autoscaling.ts";
import type { Decision } from "./decide.ts";
import { type DriftFound, findDrift, NO_DRIFT } from "./drift-check.ts";
import type { Observations, WorkloadObservation } from "./observations.ts";

/** What observing needs of the reconciler's dependencies. */
export interface ObserveDeps {
  client: KubeClient;
  now: () => Date;
  router: (provider: ProviderName) => Router;
  /** The Canaries of a namespace as last seen (the manager answers from its watch cache). */
  listCanaries: (namespace: string) => Promise<(Canary & KubeObject)[]>;
}

export interface Observed {
  observations: Observations;
  target: Workload | undefined;
  revision: Revision | undefined;
  primaryDeployment?: Workload | undefined;
  /** spec.autoscalerRef's autoscaler and the primary's copy; undefined without one (or when blocked). */
  autoscaling?: Autoscaling | undefined;
}

export interface Routing {
  router: Router | undefined;
  capabilities: RouterCapabilities;
  /** An unknown provider, or routing settings the router rejects (checked without touching the cluster). */
  blocker: Blocker | undefined;
}

const NO_ROUTING: RouterCapabilities = {
  weights: false,
  match: undefined,
  mirroring: false,
  sessionAffinity: false,
  serviceFields: [],
};

export function pickRouter(deps: ObserveDeps, canary: Canary, resolved: ResolvedCanary): Routing {
  let router: Router;
  try {
    router = deps.router(resolved.provider);
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { router: undefined, capabilities: NO_ROUTING, blocker };
  }
  try {
    router.check({ canary, resolved });
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { router, capabilities: router.capabilities, blocker };
  }
  return { router, capabilities: router.capabilities, blocker: undefined };
}

/** The split the router reads back now; a route it cannot read is a blocker the owner must fix. */
async function observeRoutes(
  routing: Routing,
  target: RouterTarget,
): Promise<{ routes: Routes | undefined; blocker: Blocker | undefined }> {
  if (!routing.router || routing.blocker) return { routes: undefined, blocker: routing.blocker };
  try {
    return { routes: await routing.router.getRoutes(target), blocker: undefined };
  } catch (err) {
    const blocker = blockerOf(err);
    if (!blocker) throw err;
    return { routes: undefined, blocker };
  }
}

export async function observe(
  deps: ObserveDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  routing: Routing,
): Promise<Observed> {
  const namespace = canary.metadata.namespace ?? "";
  const { routes, blocker: routingBlocker } = await observeRoutes(routing, { canary, resolved });
  const base = { now: deps.now(), checks: undefined, offlineProviders: undefined, routes };
  const targetRef = canary.spec.targetRef;
  const kind = targetKind(canary);
  const [target, primary] = await Promise.all([
    deps.client.get<Workload>(kind.ref(namespace, targetRef.name)),
    deps.client.get<Workload>(kind.ref(namespace, primaryName(targetRef.name))),
  ]);
  const primaryObservation = primary ? workloadObservation(primary) : undefined;
  if (!target) {
    return {
      observations: { ...base, target: undefined, primary: primaryObservation, blocker: undefined },
      target,
      revision: undefined,
    };
  }
  let blocker = (await conflictingCanary(deps, canary)) ?? routingBlocker;
  let revision: Revision | undefined;
  try {
    // Configuration problems surface here, before anything is written, rather than halfway through converge.
    selectorLabel(target);
    kind.check(target);
    servicePorts(canary, target);
    revision = await resolveRevision(deps.client, target);
  } catch (err) {
    blocker ??= blockerFrom(err);
  }
  const targetObservation = revision
    ? { ...workloadObservation(target), revision: revision.hash, trackedConfigs: revision.trackedConfigs }
    : undefined;
  if (targetObservation && firstTrafficDue(canary, targetObservation)) {
    const endpoints = await serviceReadyEndpoints(deps.client, namespace, serviceNames(canary).canary);
    if (endpoints !== undefined) targetObservation.endpointsReady = endpoints;
  }
  return {
    observations: { ...base, target: targetObservation, primary: primaryObservation, blocker },
    target,
    revision,
    primaryDeployment: primary,
  };
}

/**
 * The canary's pods are ready and its analysis has not sent it a request yet: the one moment its
 * Service's endpoints are read (decide() holds the first step until they list the ready pods). One list
 * request per reconcile in that window only; an idle Canary makes none.
 */
function firstTrafficDue(canary: Canary, target: WorkloadObservation): boolean {
  const status = canary.status ?? {};
  return status.phase === "Progressing" && status.lastStepTime === undefined && target.readyPercent > 0;
}

function workloadObservation(workload: Workload): WorkloadObservation {
  const state = observeWorkload(workload);
  // Readiness thresholds below 100% make sense only if a rollout counts as done once every pod is
  // updated, whether or not all of them are available yet: decide() compares readyPercent itself.
  return {
    replicas: state.replicas,
    readyPercent: state.readyPercent,
    available: availablePods(workload),
    rolloutComplete: state.updated,
    draining: state.draining,
    revision: state.revision,
  };
}

/** Pods available for minReadySeconds: Deployment availableReplicas, DaemonSet numberAvailable. */
function availablePods(workload: Workload): number {
  const status = workload.status as { availableReplicas?: number; numberAvailable?: number } | undefined;
  return (workload.kind === "DaemonSet" ? status?.numberAvailable : status?.availableReplicas) ?? 0;
}

/** Configuration errors the user must fix become a blocker; anything else is retried with backoff. */
function blockerFrom(err: unknown): Blocker {
  const blocker = blockerOf(err);
  if (!blocker) throw err;
  return blocker;
}

/** The oldest Canary on a Deployment owns it; every later one is blocked until one of them goes. */
async function conflictingCanary(deps: ObserveDeps, canary: Canary): Promise<Blocker | undefined> {
  const namespace = canary.metadata.namespace ?? "";
  const all = await deps.listCanaries(namespace);
  const sameTarget = all
    .filter((c) => c.spec?.targetRef?.name === canary.spec.targetRef.name)
    .sort((a, b) => order(a).localeCompare(order(b)));
  const owner = sameTarget[0];
  if (!owner || owner.metadata.name === canary.metadata.name) return undefined;
  return {
    reason: "ConflictingCanary",
    message: `${targetKind(canary).kind} ${namespace}/${canary.spec.targetRef.name} is already the target of Canary ${owner.metadata.name}: delete one of the two Canaries or point spec.targetRef at another ${targetKind(canary).kind}`,
  };
}

function order(c: Canary & KubeObject): string {
  const created = (c.metadata as { creationTimestamp?: string | Date }).creationTimestamp;
  const time = created instanceof Date ? created.toISOString() : (created ?? "");
  return `${time}/${c.metadata.name}`;
}

/** Drift in what the Canary owns, when converge is about to run (it needs the target and its revision). */
export async function observeDrift(
  deps: ObserveDeps,
  canary: Canary,
  resolved: ResolvedCanary,
  decided: Decision,
  observed: Observed,
  routing: Routing,
): Promise<DriftFound> {
  const { target, revision, primaryDeployment: primary } = observed;
  if (!target || !revision || !routing.router) return NO_DRIFT;
  const input = {
    client: deps.client,
    canary,
    resolved,
    target,
    revision,
    primary,
    before: canary.status ?? {},
    after: decided.status,
    router: routing.router,
    routes: observed.observations.routes,
  };
  try {
    return await findDrift(input, driftMode(canary.metadata.annotations));
  } catch (err) {
    // A configuration the owner must fix: converge reports it; drift is looked at once it is fixed.
    if (blockerOf(err)) return NO_DRIFT;
    throw err;
  }
}
