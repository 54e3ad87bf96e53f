/**
 * What the dashboard's server sends and its page reads: plain data, no imports, so the browser code
 * (client/) shares these declarations with the server instead of repeating them.
 */

export interface CheckFact {
  name: string;
  result: string;
  /** "89.90", or "-" without a value. */
  value: string;
  /** "min 99", "0..500", "no range". */
  range: string;
  message: string;
}

/** One line of the list: everything shown without opening the Canary. */
export interface CanaryRow {
  /** "namespace/name" */
  key: string;
  namespace: string;
  name: string;
  phase: string;
  suspended: boolean;
  /** The revision under analysis (status.lastAppliedSpec). */
  revision?: string;
  canaryWeight: number;
  maxWeight: number;
  failedChecks: number;
  threshold: number;
  checks: CheckFact[];
  /** Gates and windows holding the release, one phrase each. */
  holding: string[];
  /** The Promoted condition's message: what the controller is doing or waiting for. */
  message: string;
  /** When the Canary entered its phase (ISO), if known. */
  phaseSince?: string;
  /** Request annotation values the controller acted on (status.requests). */
  acted: Record<string, string>;
  /** What the buttons may do now. */
  actions: Action[];
}

export type Action = "promote" | "abort" | "retry" | "resume";

export interface WorkloadFact {
  name: string;
  image: string;
  tag: string;
  replicas: number;
  ready: number;
  /** status.lastAppliedSpec (canary) or lastPromotedSpec (primary). */
  revision?: string;
}

export interface MetricCurve {
  name: string;
  min?: number;
  max?: number;
  /** "min 99" */
  range: string;
  points: { time: string; value: number; fails: boolean }[];
  /** Why there is no curve (provider unreachable, no history): never read as a pass. */
  error?: string;
}

export interface Release {
  /** When it started (the NewRevision Event). */
  started: string;
  ended?: string;
  outcome: "promoted" | "rolled back" | "under way";
  /** The RolledBack/Succeeded Event's message. */
  cause?: string;
}

export interface Timeline {
  from: string;
  to: string;
  weights: { time: string; weight: number }[];
  metrics: MetricCurve[];
  /** Set when the release was rolled back: why, and the checks that failed. */
  rolledBack?: { time: string; message: string; failing: string[] };
}

export interface CanaryDetail {
  row: CanaryRow;
  canary?: WorkloadFact;
  primary?: WorkloadFact;
  webhooks: {
    name: string;
    type: string;
    result: string;
    code?: number;
    message: string;
    time: string;
  }[];
  alerts: {
    kind: string;
    severity: string;
    time: string;
    message: string;
    deliveries: { provider: string; state: string; attempts?: number; error?: string }[];
  }[];
  events: { type: string; reason: string; message: string; count: number; time: string }[];
  releases: Release[];
  timeline: Timeline;
}
