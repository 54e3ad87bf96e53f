// The vocabulary of decide()'s table tests: a Case (what is observed) run through decide(), the
// workloads, checks and statuses the cases are built from. Shared by decide.test.ts (the phases) and
// decide-hooks.test.ts (webhooks, requests and windows).
import type { CanarySpec, CanaryStatus, CheckStatus } from "../../src/api/canary.ts";
import { resolveCanary } from "../../src/api/defaults.ts";
import { type Decision, decide } from "../../src/controller/decide.ts";
import type { DecideInput } from "../../src/controller/decide-context.ts";
import { desiredState } from "../../src/controller/desired.ts";
import type { Observations, WorkloadObservation } from "../../src/controller/observations.ts";
import type { Requests } from "../../src/controller/requests.ts";
import { routerCapabilities } from "../../src/routers/factory.ts";
import type { Routes } from "../../src/routers/router.ts";
import type { WebhookAnswer } from "../../src/webhooks/calls.ts";

export const T0 = Date.parse("2026-01-01T00:00:00Z");
export const at = (seconds: number) => new Date(T0 + seconds * 1000);
export const iso = (seconds: number) => at(seconds).toISOString();

export const canarySpec = (
  analysis: Partial<CanarySpec["analysis"]> = {},
  extra: Partial<CanarySpec> = {},
): CanarySpec => ({
  provider: "nginx",
  targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
  ingressRef: { name: "podinfo" },
  service: { port: 80 },
  analysis: { interval: "30s", threshold: 2, maxWeight: 30, stepWeight: 10, ...analysis },
  progressDeadlineSeconds: 60,
  ...extra,
});

export const ready = (revision: string, replicas = 2): WorkloadObservation => ({
  replicas,
  readyPercent: 100,
  rolloutComplete: true,
  draining: false,
  revision,
});
export const notReady = (revision: string): WorkloadObservation => ({
  replicas: 2,
  readyPercent: 50,
  rolloutComplete: false,
  draining: false,
  revision,
});
export const scaledDown = (revision: string): WorkloadObservation => ({
  replicas: 0,
  readyPercent: 0,
  rolloutComplete: true,
  draining: false,
  revision,
});

export interface Case {
  spec?: CanarySpec;
  status?: CanaryStatus;
  target?: WorkloadObservation | undefined;
  primary?: WorkloadObservation | undefined;
  checks?: CheckStatus[];
  now?: number;
  deleting?: boolean;
  blocker?: Observations["blocker"];
  offlineProviders?: string[];
  /** What the route carries; by default the split the input status asks for (it was applied). */
  routes?: Routes | undefined;
  webhooks?: WebhookAnswer[];
  requests?: Requests;
}

export function capabilitiesOf(spec: CanarySpec) {
  const capabilities = routerCapabilities(resolveCanary(spec).provider);
  if (!capabilities) throw new Error(`test uses provider ${spec.provider}, which has no router`);
  return capabilities;
}

export function run(c: Case): Decision {
  const spec = c.spec ?? canarySpec();
  const resolved = resolveCanary(spec);
  const input: DecideInput = {
    name: "podinfo",
    namespace: "test",
    generation: 3,
    deleting: c.deleting ?? false,
    spec,
    status: c.status ?? {},
    resolved,
    capabilities: capabilitiesOf(spec),
    observed: {
      now: at(c.now ?? 100),
      target:
        "target" in c
          ? c.target && { ...c.target, trackedConfigs: {} }
          : { ...ready("rev-b"), trackedConfigs: {} },
      primary: "primary" in c ? c.primary : ready("rev-a"),
      blocker: c.blocker,
      checks: c.checks,
      offlineProviders: c.offlineProviders,
      routes: "routes" in c ? c.routes : desiredState(c.status ?? {}, resolved).routes,
      ...(c.webhooks ? { webhooks: c.webhooks } : {}),
      ...(c.requests ? { requests: c.requests } : {}),
    },
  };
  return decide(input);
}

export const pass = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "pass",
  value: 100,
  message: `${name} 100 is within [99, -]`,
  time: iso(100),
});
export const fail = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "fail",
  value: 87.5,
  thresholdRange: { min: 99 },
  message: `${name} 87.50 is below the minimum 99 (prometheus)`,
  time: iso(100),
});
export const noData = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "nodata",
  message: `${name}: no data`,
  time: iso(100),
});
export const errored = (name = "request-success-rate"): CheckStatus => ({
  name,
  result: "error",
  message: `${name}: prometheus query timed out after 10s`,
  time: iso(100),
});

export const progressing = (weight: number, extra: CanaryStatus = {}): CanaryStatus => ({
  phase: "Progressing",
  lastAppliedSpec: "rev-b",
  lastPromotedSpec: "rev-a",
  canaryWeight: weight,
  failedChecks: 0,
  iterations: 0,
  lastStepTime: iso(60),
  stepRoutedTime: iso(60),
  ...extra,
});

export const reasons = (d: Decision) => d.events.map((e) => e.reason);
export const condition = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);
