import { describe, expect, it } from "vitest";
import type { Canary } from "../api/canary.ts";
import { ControllerMetrics } from "./metrics.ts";

function canary(namespace: string, name: string, status: Canary["status"]): Canary {
  return {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "Canary",
    metadata: { name, namespace },
    spec: { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name } },
    status,
  } as Canary;
}

const canaries = [
  canary("apps", "podinfo", {
    phase: "Progressing",
    canaryWeight: 20,
    checks: [
      {
        name: "request-success-rate",
        result: "pass",
        value: 99.5,
        thresholdRange: { min: 99 },
        provider: "prometheus",
        message: "ok",
        time: "2026-12-01T12:00:00Z",
      },
      // A check without a value (no data) has no series: there is nothing to plot.
      { name: "latency", result: "nodata", message: "empty", time: "2026-12-01T12:00:00Z" },
    ],
  }),
  canary("apps", "backend", { phase: "Failed", canaryWeight: 0 }),
  canary("web", "frontend", { phase: "Succeeded", canaryWeight: 0 }),
  canary("web", "new", {}),
];

function metrics(leader: boolean) {
  const m = new ControllerMetrics("1.2.3", { defaultMetrics: false });
  m.attach({ canaries: () => canaries, queueDepth: () => 3, isLeader: () => leader });
  return m;
}

describe("ControllerMetrics", () => {
  it("reports Flagger's canary series from the cache at scrape time", async () => {
    const text = await metrics(true).registry.metrics();
    expect(text).toContain('kanaria_info{version="1.2.3"} 1');
    expect(text).toContain('kanaria_canary_total{namespace="apps"} 2');
    expect(text).toContain('kanaria_canary_total{namespace="web"} 2');
    expect(text).toContain('kanaria_canary_status{name="podinfo",namespace="apps"} 0');
    expect(text).toContain('kanaria_canary_status{name="backend",namespace="apps"} 2');
    expect(text).toContain('kanaria_canary_status{name="frontend",namespace="web"} 1');
    expect(text).not.toContain('kanaria_canary_status{name="new"');
    expect(text).toContain('kanaria_canary_weight{workload="podinfo",namespace="apps"} 20');
    expect(text).toContain('kanaria_canary_weight{workload="podinfo-primary",namespace="apps"} 80');
    expect(text).toContain(
      'kanaria_canary_metric_analysis{name="podinfo",namespace="apps",metric="request-success-rate",min="99",max="",provider="prometheus"} 99.5',
    );
    expect(text).not.toContain('metric="latency"');
    expect(text).toContain("kanaria_workqueue_depth 3");
    expect(text).toContain("kanaria_leader 1");
  });

  it("a replica that is not the leader reports no canary series, so sums are not doubled", async () => {
    const text = await metrics(false).registry.metrics();
    expect(text).not.toContain("kanaria_canary_status{");
    expect(text).not.toContain("kanaria_canary_total{");
    expect(text).toContain("kanaria_leader 0");
  });

  it("counts releases that end, reconciles, errors and watch restarts; forgets deleted Canaries", async () => {
    const m = metrics(true);
    m.phaseChanged("apps", "podinfo", "Promoting", "Succeeded");
    m.phaseChanged("apps", "podinfo", "Succeeded", "Succeeded");
    m.phaseChanged("apps", "backend", "Progressing", "Failed");
    m.reconciled("apps/podinfo", 0.2, false);
    m.reconciled("apps/podinfo", 0.3, true);
    m.watchRestarted("Canary", "gone");
    m.queued(0);
    m.queued(0.7);
    let text = await m.registry.metrics();
    expect(text).toContain('kanaria_workqueue_queue_duration_seconds_bucket{le="0.5"} 1');
    expect(text).toContain('kanaria_workqueue_queue_duration_seconds_bucket{le="1"} 2');
    expect(text).toContain('kanaria_canary_successes_total{name="podinfo",namespace="apps"} 1');
    expect(text).toContain('kanaria_canary_failures_total{name="backend",namespace="apps"} 1');
    expect(text).toContain('kanaria_canary_duration_seconds_count{name="podinfo",namespace="apps"} 2');
    expect(text).toContain('kanaria_reconcile_duration_seconds_count{result="success"} 1');
    expect(text).toContain('kanaria_reconcile_duration_seconds_count{result="error"} 1');
    expect(text).toContain("kanaria_reconcile_errors_total 1");
    expect(text).toContain('kanaria_watch_restarts_total{kind="Canary",reason="gone"} 1');
    m.forget("apps", "podinfo");
    text = await m.registry.metrics();
    expect(text).not.toContain('kanaria_canary_duration_seconds_count{name="podinfo"');
    expect(text).not.toContain('kanaria_canary_successes_total{name="podinfo"');
  });

  it("counts drift put back per Canary and kind, and forgets it with the Canary", async () => {
    const m = metrics(true);
    m.driftCorrected("apps", "ledger", "Deployment");
    m.driftCorrected("apps", "ledger", "Deployment");
    m.driftCorrected("apps", "ledger", "Service");
    let text = await m.registry.metrics();
    expect(text).toContain(
      'kanaria_drift_corrections_total{name="ledger",namespace="apps",kind="Deployment"} 2',
    );
    expect(text).toContain(
      'kanaria_drift_corrections_total{name="ledger",namespace="apps",kind="Service"} 1',
    );
    m.forget("apps", "ledger");
    text = await m.registry.metrics();
    expect(text).not.toContain('kanaria_drift_corrections_total{name="ledger"');
  });
});
