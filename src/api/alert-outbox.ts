import { z } from "zod";

/**
 * The alert outbox in a Canary's status: the reconciler adds an entry in the same status write that
 * records a transition, and the delivery queue records each provider's outcome there, so a restart,
 * a resync or another replica never sends an alert twice.
 */
export const ALERT_KINDS = [
  "NewRevision",
  "Step",
  "Promoted",
  "WaitingApproval",
  "Halted",
  "RolledBack",
  "Drift",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const SEVERITIES = ["info", "warn", "error"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ROLLBACK_CAUSES = [
  "failed-checks",
  "canary-not-ready",
  "primary-not-ready",
  "webhook",
  "manual",
  "metrics-unavailable",
] as const;
export type RollbackCause = (typeof ROLLBACK_CAUSES)[number];

const alertCheck = z.strictObject({
  name: z.string(),
  result: z.string(),
  value: z.number().optional(),
  thresholdRange: z.strictObject({ min: z.number().optional(), max: z.number().optional() }).optional(),
  provider: z.string().optional(),
  series: z.string().optional(),
  message: z.string(),
});

export const alertDelivery = z
  .strictObject({
    provider: z.string().meta({ description: "AlertProvider as namespace/name." }),
    state: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int().optional(),
    time: z.string().optional().meta({ description: "When it was delivered or given up." }),
    error: z.string().optional().meta({ description: "Why the last attempt failed (addresses redacted)." }),
  })
  .meta({ description: "One AlertProvider's delivery of an alert." });

const revisionFacts = z.strictObject({
  hash: z.string().optional(),
  images: z.array(z.string()).optional(),
});

export const alertRecord = z
  .strictObject({
    id: z.string().meta({ description: "Stable id: revision, transition and step." }),
    kind: z.enum(ALERT_KINDS),
    severity: z.enum(SEVERITIES),
    time: z.string(),
    message: z.string().meta({ description: "What happened and why (the event message)." }),
    phase: z.string().optional(),
    cause: z.enum(ROLLBACK_CAUSES).optional(),
    canary: revisionFacts.optional().meta({ description: "The revision under analysis." }),
    primary: revisionFacts
      .optional()
      .meta({ description: "The revision the primary runs (kept on rollback)." }),
    weight: z.number().int().optional().meta({ description: "Canary weight reached." }),
    step: z.number().int().optional(),
    steps: z.number().int().optional(),
    failedChecks: z.number().int().optional(),
    threshold: z.number().int().optional(),
    durationSeconds: z.number().int().optional(),
    checks: z.array(alertCheck).optional().meta({ description: "The failing checks." }),
    deliveries: z.array(alertDelivery),
  })
  .meta({ description: "An alert about one transition and its delivery to each AlertProvider." });

export type AlertRecord = z.infer<typeof alertRecord>;
export type AlertDelivery = z.infer<typeof alertDelivery>;
