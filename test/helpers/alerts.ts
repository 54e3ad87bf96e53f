// Alert records for notifier unit tests: one per kind, as the outbox writes them.
import type { AlertKind, AlertRecord, Severity } from "../../src/api/alert-outbox.ts";
import type { AlertMessage } from "../../src/notifiers/message.ts";

const base = {
  time: "2026-01-01T00:10:00.000Z",
  canary: { hash: "5f7c9d2e1a0b99", images: ["ghcr.io/stefanprodan/podinfo:6.0.2"] },
  primary: { hash: "1a2b3c4d5e", images: ["ghcr.io/stefanprodan/podinfo:6.0.1"] },
  deliveries: [{ provider: "test/slack", state: "pending" as const }],
};

/** The failing check both the halt and the rollback report. */
export const SUCCESS_RATE_FAILED = {
  name: "request-success-rate",
  result: "fail",
  value: 90.12,
  thresholdRange: { min: 99 },
  provider: "prometheus",
  message: "request-success-rate 90.12 is below the minimum 99 (prometheus)",
};

export const ALERTS: Record<AlertKind, AlertRecord> = {
  NewRevision: {
    ...base,
    id: "5f7c9d2e1a0b-NewRevision-0",
    kind: "NewRevision",
    severity: "info",
    phase: "Progressing",
    message: "New revision detected! Scaling up podinfo.test",
  },
  Step: {
    ...base,
    id: "5f7c9d2e1a0b-Step-1.0",
    kind: "Step",
    severity: "info",
    phase: "Progressing",
    message: "Advance podinfo.test canary weight 25",
    weight: 25,
    step: 1,
    steps: 2,
    durationSeconds: 40,
  },
  Promoted: {
    ...base,
    id: "5f7c9d2e1a0b-Promoted-0.0",
    kind: "Promoted",
    severity: "info",
    phase: "Succeeded",
    message: "Promotion completed! podinfo.test revision 5f7c9d2e1a0b99 is live",
    durationSeconds: 185,
  },
  WaitingApproval: {
    ...base,
    id: "5f7c9d2e1a0b-WaitingApproval-2.0",
    kind: "WaitingApproval",
    severity: "warn",
    phase: "WaitingPromotion",
    message: "waiting for confirm-promotion webhook gate",
    weight: 50,
    step: 2,
    steps: 2,
  },
  Halted: {
    ...base,
    id: "5f7c9d2e1a0b-Halted-1.1",
    kind: "Halted",
    severity: "warn",
    phase: "Progressing",
    message:
      "Halt podinfo.test advancement (failed checks 1/2): request-success-rate 90.12 is below the minimum 99 (prometheus)",
    weight: 25,
    step: 1,
    steps: 2,
    failedChecks: 1,
    threshold: 2,
    durationSeconds: 70,
    checks: [SUCCESS_RATE_FAILED],
  },
  RolledBack: {
    ...base,
    id: "5f7c9d2e1a0b-RolledBack-1.2",
    kind: "RolledBack",
    severity: "error",
    phase: "Failed",
    cause: "failed-checks",
    message:
      "Canary failed! Rolling back podinfo.test: failed checks threshold reached 2/2: request-success-rate 90.12 is below the minimum 99 (prometheus); request-duration 812.40 is above the maximum 500 (prometheus)",
    weight: 25,
    step: 1,
    steps: 2,
    failedChecks: 2,
    threshold: 2,
    durationSeconds: 100,
    checks: [
      SUCCESS_RATE_FAILED,
      {
        name: "request-duration",
        result: "fail",
        value: 812.4,
        thresholdRange: { max: 500 },
        provider: "prometheus",
        message: "request-duration 812.40 is above the maximum 500 (prometheus)",
      },
    ],
  },
  Drift: {
    ...base,
    id: "5f7c9d2e1a0b-Drift-0.0",
    kind: "Drift",
    severity: "warn",
    phase: "Succeeded",
    message:
      'Deployment test/podinfo-primary was changed by kubectl-set; restored: spec.template.spec.containers[name=podinfo].image: found "ghcr.io/stefanprodan/podinfo:hotfix", restored "ghcr.io/stefanprodan/podinfo:6.0.1"',
    weight: 0,
  },
};

export const SEVERITY_OF: Record<AlertKind, Severity> = {
  NewRevision: "info",
  Step: "info",
  Promoted: "info",
  WaitingApproval: "warn",
  Halted: "warn",
  RolledBack: "error",
  Drift: "warn",
};

export function alertMessage(alert: AlertRecord, cluster: string | undefined = "prod-eu-1"): AlertMessage {
  return { alert, canary: { name: "podinfo", namespace: "test", target: "podinfo" }, cluster };
}
