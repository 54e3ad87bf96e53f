import type { RollbackCause } from "./alert-outbox.ts";

/**
 * One event a decision emits: recorded as a Kubernetes Event on the Canary, sent to its `event`
 * webhooks, and turned into alerts. Shared by controller/, notifiers/ and webhooks/, so it lives here.
 */
export interface CanaryEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /** Why a RolledBack event rolled back, for the alert that reports it. */
  cause?: RollbackCause;
  /** Send no alert for this event (a webhook's muteAlert). */
  muteAlert?: boolean;
}
