import type { CheckStatus } from "../api/canary.ts";
import type { Blocker } from "../errors.ts";
import type { Routes } from "../routers/router.ts";
import type { WebhookAnswer } from "../webhooks/calls.ts";
import type { Requests } from "./requests.ts";

/** What the reconciler saw of a Deployment (the target, or <target>-primary). */
export interface WorkloadObservation {
  /** spec.replicas */
  replicas: number;
  /** readyReplicas as a percentage of spec.replicas; 0 when scaled to zero. */
  readyPercent: number;
  /** status.availableReplicas: the ready pods (the primary's capacity, see status.primaryScaler). */
  available?: number;
  /** The controller has rolled out the current spec: observedGeneration caught up, all replicas updated. */
  rolloutComplete: boolean;
  /** Scaled to zero with its pods not yet reported gone: wait before scaling it up (WorkloadState.draining). */
  draining: boolean;
  /** Target: hash of its pod template and tracked configs. Primary: the revision it was copied from. */
  revision: string | undefined;
  /**
   * Target only, read while its first traffic is due: the ready pods the `-canary` Service's
   * EndpointSlices list (what a proxy routes to). undefined when not read, or nothing publishes slices.
   */
  endpointsReady?: number;
}

export interface Observations {
  now: Date;
  target: (WorkloadObservation & { trackedConfigs: Record<string, string> }) | undefined;
  primary: WorkloadObservation | undefined;
  blocker: Blocker | undefined;
  /** The traffic split the router reads from the cluster now; undefined before its objects exist. */
  routes: Routes | undefined;
  /** Results of the metric checks, present only when the previous call asked for them. */
  checks: CheckStatus[] | undefined;
  /** Metric providers that cannot be reached (empty: all online), present only when asked for. */
  offlineProviders: string[] | undefined;
  /** Answers of the webhooks the previous call asked for (Decision.needsWebhooks); absent otherwise. */
  webhooks?: WebhookAnswer[];
  /** The request annotations of kanaria promote/abort/retry (see requests.ts). */
  requests?: Requests;
}
