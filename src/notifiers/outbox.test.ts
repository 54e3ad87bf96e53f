import { describe, expect, it } from "vitest";
import { SUCCESS_RATE_FAILED } from "../../test/helpers/alerts.ts";
import type { AlertRecord } from "../api/alert-outbox.ts";
import type { CanarySpec, CanaryStatus, CheckStatus } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import type { CanaryEvent } from "../api/events.ts";
import { KEEP_FINISHED, type OutboxInput, passesFilter, pendingDeliveries, withAlerts } from "./outbox.ts";

const NOW = new Date("2026-01-01T00:10:00Z");
const STARTED = "2026-01-01T00:07:30Z";

const spec = (
  alerts: CanarySpec["analysis"]["alerts"],
  analysis: Partial<CanarySpec["analysis"]> = {},
): CanarySpec => ({
  provider: "nginx",
  targetRef: { name: "podinfo" },
  ingressRef: { name: "podinfo" },
  service: { port: 80 },
  analysis: { interval: "30s", threshold: 2, stepWeight: 25, maxWeight: 50, alerts, ...analysis },
});

const ALL = [
  { name: "info", severity: "info" as const, providerRef: { name: "slack-info" } },
  { name: "warn", severity: "warn" as const, providerRef: { name: "teams-warn", namespace: "ops" } },
  { name: "error", severity: "error" as const, providerRef: { name: "pager" } },
];

const reconciling: CanaryStatus["conditions"] = [
  { type: "Reconciling", status: "True", reason: "Progressing", lastTransitionTime: STARTED },
];

const failedCheck: CheckStatus = { ...SUCCESS_RATE_FAILED, result: "fail", time: NOW.toISOString() };
const passedCheck: CheckStatus = {
  ...failedCheck,
  name: "request-duration",
  result: "pass",
  value: 80,
  thresholdRange: { max: 500 },
};

function input(over: Partial<OutboxInput> & { events: CanaryEvent[] }): OutboxInput {
  const s = over.spec ?? spec(ALL);
  return {
    namespace: "test",
    spec: s,
    resolved: resolveCanary(s),
    before: {},
    after: {},
    now: NOW,
    images: {
      canary: ["ghcr.io/stefanprodan/podinfo:6.0.2"],
      primary: ["ghcr.io/stefanprodan/podinfo:6.0.1"],
    },
    defaultProvider: undefined,
    ...over,
  };
}

const ev = (
  reason: string,
  message = `${reason} happened`,
  extra: Partial<CanaryEvent> = {},
): CanaryEvent => ({
  type: "Normal",
  reason,
  message,
  ...extra,
});

const only = (status: CanaryStatus): AlertRecord => {
  expect(status.alerts).toHaveLength(1);
  return status.alerts?.[0] as AlertRecord;
};
const providers = (a: AlertRecord) => a.deliveries.map((d) => d.provider);

describe("severity filter (Flagger's)", () => {
  it.each([
    ["info", "info", true],
    ["warn", "info", true],
    ["error", "info", true],
    ["info", "warn", false],
    ["warn", "warn", true],
    ["error", "warn", true],
    ["info", "error", false],
    ["warn", "error", false],
    ["error", "error", true],
    ["info", undefined, true],
  ] as const)("a %s alert to a provider at %s: %s", (alert, least, sent) => {
    expect(passesFilter(alert, least)).toBe(sent);
  });
});

describe("transitions become alerts", () => {
  const progressingBefore: CanaryStatus = {
    phase: "Progressing",
    lastAppliedSpec: "rev-b0123456789abc",
    lastPromotedSpec: "rev-a",
    canaryWeight: 25,
    failedChecks: 1,
    conditions: reconciling,
  };

  it.each([
    { reason: "NewRevision", kind: "NewRevision", severity: "info", to: ["test/slack-info"] },
    { reason: "Succeeded", kind: "Promoted", severity: "info", to: ["test/slack-info"] },
    { reason: "CheckFailed", kind: "Halted", severity: "warn", to: ["test/slack-info", "ops/teams-warn"] },
    {
      reason: "MetricsUnavailable",
      kind: "Halted",
      severity: "warn",
      to: ["test/slack-info", "ops/teams-warn"],
    },
    { reason: "NoData", kind: "Halted", severity: "warn", to: ["test/slack-info", "ops/teams-warn"] },
    {
      reason: "RolledBack",
      kind: "RolledBack",
      severity: "error",
      to: ["test/slack-info", "ops/teams-warn", "test/pager"],
    },
  ])(
    "$reason -> $kind ($severity) to the providers that take $severity",
    ({ reason, kind, severity, to }) => {
      const a = only(
        withAlerts(
          input({ events: [ev(reason)], before: progressingBefore, after: { ...progressingBefore } }),
        ),
      );
      expect(a).toMatchObject({ kind, severity, message: `${reason} happened` });
      expect(providers(a)).toEqual(to);
      expect(a.deliveries.every((d) => d.state === "pending")).toBe(true);
    },
  );

  it.each(["Initializing", "Initialized", "Promoting", "Finalising", "Reverted", "Terminating"])(
    "sends nothing for %s",
    (reason) => {
      const status = withAlerts(input({ events: [ev(reason)] }));
      expect(status.alerts).toBeUndefined();
    },
  );

  it("sends nothing for an event muted by a webhook's muteAlert", () => {
    const status = withAlerts(input({ events: [ev("RolledBack", "x", { muteAlert: true })] }));
    expect(status.alerts).toBeUndefined();
  });

  it("sends a step only to providers that asked for steps", () => {
    const s = spec([...ALL, { name: "steps", providerRef: { name: "steps" }, steps: true }]);
    const status = withAlerts(
      input({
        spec: s,
        events: [ev("Progressing", "Advance podinfo.test canary weight 50")],
        before: { ...progressingBefore, failedChecks: 0 },
        after: { ...progressingBefore, failedChecks: 0, canaryWeight: 50 },
      }),
    );
    const a = only(status);
    expect(a).toMatchObject({ kind: "Step", severity: "info", weight: 50, step: 2, steps: 2 });
    expect(providers(a)).toEqual(["test/steps"]);
  });

  it("asks for approval (warn) once per revision and phase while a gate holds it, unless muted", () => {
    const before: CanaryStatus = { ...progressingBefore, canaryWeight: 50 };
    const after: CanaryStatus = { ...before, phase: "WaitingPromotion" };
    const holding = ev("Waiting", "podinfo.test passed its analysis; promotion waits for approval");
    const first = withAlerts(input({ events: [holding], before, after }));
    const a = only(first);
    expect(a).toMatchObject({ kind: "WaitingApproval", severity: "warn", phase: "WaitingPromotion" });
    expect(a.message).toBe(holding.message);
    expect(providers(a)).toEqual(["test/slack-info", "ops/teams-warn"]);
    const again = ev("Waiting", "podinfo.test passed its analysis; promotion waits for approval (gate: no)");
    const second = withAlerts(input({ events: [again], before: first, after: first }));
    expect(second.alerts, "a changed reason is not a second alert").toHaveLength(1);
    const muted = withAlerts(
      input({ events: [ev("WebhookFailed", "gate said no", { muteAlert: true }), holding], before, after }),
    );
    expect(muted.alerts).toBeUndefined();
    const starting = withAlerts(
      input({
        events: [ev("Waiting", "waiting for approval to roll out")],
        after: { ...after, phase: "Waiting" },
      }),
    );
    expect(only(starting).phase).toBe("Waiting");
  });

  it("uses --alert-provider for a Canary without alerts, but sends it no steps", () => {
    const s = spec(undefined);
    const defaultProvider = { namespace: "kanaria", name: "default" };
    const a = only(withAlerts(input({ spec: s, defaultProvider, events: [ev("NewRevision")] })));
    expect(providers(a)).toEqual(["kanaria/default"]);
    const step = withAlerts(
      input({
        spec: s,
        defaultProvider,
        events: [ev("Progressing")],
        before: progressingBefore,
        after: { ...progressingBefore, canaryWeight: 50 },
      }),
    );
    expect(step.alerts).toBeUndefined();
    expect(
      withAlerts(input({ spec: s, events: [ev("NewRevision")] })).alerts,
      "no provider at all",
    ).toBeUndefined();
  });

  it("sends to a provider named by two alerts once", () => {
    const s = spec([
      { name: "a", providerRef: { name: "slack" } },
      { name: "b", severity: "error", providerRef: { name: "slack", namespace: "test" } },
    ]);
    const a = only(withAlerts(input({ spec: s, events: [ev("RolledBack")] })));
    expect(providers(a)).toEqual(["test/slack"]);
  });
});

describe("a rollback alert carries what a person needs", () => {
  const before: CanaryStatus = {
    phase: "Progressing",
    lastAppliedSpec: "5f7c9d2e1a0b99",
    lastPromotedSpec: "1a2b3c4d5e",
    canaryWeight: 25,
    failedChecks: 1,
    checks: [failedCheck, passedCheck],
    conditions: reconciling,
  };
  const after: CanaryStatus = { ...before, phase: "Failed", canaryWeight: 0, failedChecks: 2 };
  const rolledBack = ev(
    "RolledBack",
    "Canary failed! Rolling back podinfo.test: failed checks threshold reached 2/2",
    {
      type: "Warning",
      cause: "failed-checks",
    },
  );

  it("names the failing metric with value, range and provider, the weight reached, steps and duration", () => {
    const a = only(withAlerts(input({ events: [rolledBack], before, after })));
    expect(a).toEqual({
      id: "5f7c9d2e1a0b-RolledBack-1.2",
      kind: "RolledBack",
      severity: "error",
      time: NOW.toISOString(),
      message: rolledBack.message,
      phase: "Failed",
      cause: "failed-checks",
      canary: { hash: "5f7c9d2e1a0b99", images: ["ghcr.io/stefanprodan/podinfo:6.0.2"] },
      primary: { hash: "1a2b3c4d5e", images: ["ghcr.io/stefanprodan/podinfo:6.0.1"] },
      weight: 25,
      step: 1,
      steps: 2,
      failedChecks: 2,
      threshold: 2,
      durationSeconds: 150,
      checks: [SUCCESS_RATE_FAILED],
      deliveries: [
        { provider: "test/slack-info", state: "pending" },
        { provider: "ops/teams-warn", state: "pending" },
        { provider: "test/pager", state: "pending" },
      ],
    });
  });

  it("reports a deadline rollback without checks", () => {
    const deadline = { ...rolledBack, cause: "canary-not-ready" as const };
    const a = only(
      withAlerts(input({ events: [deadline], before: { ...before, checks: undefined }, after })),
    );
    expect(a.cause).toBe("canary-not-ready");
    expect(a.checks).toBeUndefined();
  });

  it("gives a second alert with the same id (a retried revision) its own id", () => {
    const first = withAlerts(input({ events: [rolledBack], before, after }));
    const second = withAlerts(input({ events: [rolledBack], before, after: first }));
    expect(second.alerts?.map((a) => a.id)).toEqual([
      "5f7c9d2e1a0b-RolledBack-1.2",
      "5f7c9d2e1a0b-RolledBack-1.2-2",
    ]);
  });
});

describe("the outbox stays small", () => {
  it(`keeps every pending alert and the newest ${KEEP_FINISHED} finished ones`, () => {
    const finished = (n: number): AlertRecord => ({
      id: `old-${n}`,
      kind: "NewRevision",
      severity: "info",
      time: NOW.toISOString(),
      message: "m",
      deliveries: [{ provider: "test/x", state: n % 2 ? "delivered" : "failed" }],
    });
    const pending: AlertRecord = {
      ...finished(99),
      id: "pending",
      deliveries: [{ provider: "test/x", state: "pending" }],
    };
    const after: CanaryStatus = { alerts: [pending, ...Array.from({ length: 15 }, (_, i) => finished(i))] };
    const status = withAlerts(input({ events: [ev("NewRevision")], after }));
    const ids = status.alerts?.map((a) => a.id) ?? [];
    expect(ids).toContain("pending");
    expect(ids.filter((id) => id.startsWith("old-"))).toEqual(
      Array.from({ length: 10 }, (_, i) => `old-${i + 5}`),
    );
    expect(ids.at(-1)).toMatch(/-NewRevision-0$/);
    expect(pendingDeliveries(status).map((p) => p.alert.id)).toEqual(["pending", ids.at(-1)]);
  });
});
