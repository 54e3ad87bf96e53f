/**
 * One Canary in full: the current release as a timeline (weight over time from the controller's
 * Events; each metric's values over the release from the metric provider's own history, replayed
 * as `kanaria backtest` does), webhook and gate answers, alerts and their delivery, Events, the
 * canary's and primary's images and revisions, and the last releases with their outcome and cause.
 *
 * Why the provider's history and not values recorded per step in the status: the provider already
 * keeps every value, at any resolution, for any window; recording them would grow every Canary's
 * status (written at each step, read by every watch) for a picture only people opening a dashboard
 * look at. The Events give the steps (weights) and outcomes; the provider gives the curves.
 */
import type { CanaryStatus } from "../api/canary.ts";
import { resolveCanary } from "../api/defaults.ts";
import type { MetricReport } from "../backtest/run.ts";
import { type CanaryObject, canaryEvents, type EventRecord } from "../cli/canaries.ts";
import { rangeText } from "../cli/release-facts.ts";
import type { KubeClient } from "../kube/types.ts";
import { targetKind } from "../workloads/kinds.ts";
import type { Workload } from "../workloads/meta.ts";
import { observeWorkload, readyPods } from "../workloads/primary.ts";
import { canaryRow, imageFact } from "./facts.ts";
import type { CanaryDetail, MetricCurve, Release, Timeline, WorkloadFact } from "./wire.ts";

/** Reads a metric's history for a window; `kanaria backtest`'s replay in production. */
export type HistoryReader = (canary: CanaryObject, from: Date, to: Date) => Promise<MetricReport[]>;

export async function canaryDetail(
  client: KubeClient,
  canary: CanaryObject,
  history: HistoryReader,
  now = new Date(),
): Promise<CanaryDetail> {
  const status = canary.status ?? {};
  const namespace = canary.metadata.namespace ?? "";
  const target = canary.spec.targetRef.name;
  const [events, canaryDeployment, primaryDeployment] = await Promise.all([
    canaryEvents(client, canary),
    client.get<Workload>(targetKind(canary).ref(namespace, target)),
    client.get<Workload>(targetKind(canary).ref(namespace, `${target}-primary`)),
  ]);
  const releases = releasesFrom(events);
  const current = releases.at(-1);
  const from = current ? new Date(current.started) : new Date(status.lastTransitionTime ?? now);
  const to = current?.ended ? new Date(current.ended) : now;
  return {
    row: canaryRow(canary, now),
    ...(canaryDeployment ? { canary: workload(canaryDeployment, status.lastAppliedSpec) } : {}),
    ...(primaryDeployment ? { primary: workload(primaryDeployment, status.lastPromotedSpec) } : {}),
    webhooks: status.webhooks ?? [],
    alerts: status.alerts ?? [],
    events,
    releases: releases.slice(-10).reverse(),
    timeline: {
      from: from.toISOString(),
      to: to.toISOString(),
      weights: [
        ...weightsFrom(events, from, to),
        // A release under way is at its current weight now, whatever the last Event said.
        ...(current?.ended ? [] : [{ time: to.toISOString(), weight: status.canaryWeight ?? 0 }]),
      ],
      metrics: await curves(canary, history, from, to),
      ...rolledBack(events, status, current),
    },
  };
}

function workload(d: Workload, revision: string | undefined): WorkloadFact {
  return {
    name: d.metadata.name,
    ...imageFact(d.spec?.template?.spec?.containers?.[0]?.image),
    replicas: observeWorkload(d).replicas,
    ready: readyPods(d),
    ...(revision ? { revision } : {}),
  };
}

/** Releases from the Events: each starts at a NewRevision and ends at Succeeded or RolledBack. */
export function releasesFrom(events: EventRecord[]): Release[] {
  const releases: Release[] = [];
  for (const e of events) {
    const open = releases.at(-1)?.outcome === "under way" ? releases.at(-1) : undefined;
    if (e.reason === "NewRevision") {
      if (!open || open.started !== e.time) releases.push({ started: e.time, outcome: "under way" });
    } else if (open && (e.reason === "Succeeded" || e.reason === "RolledBack")) {
      open.ended = e.time;
      open.outcome = e.reason === "Succeeded" ? "promoted" : "rolled back";
      open.cause = e.message;
    }
  }
  return releases;
}

const WEIGHT = /canary weight (\d+)/;

/** The canary's weight over the release: each "Advance ... canary weight N" Event, 0 at its end. */
export function weightsFrom(events: EventRecord[], from: Date, to: Date): Timeline["weights"] {
  const inside = events.filter((e) => {
    const t = Date.parse(e.time);
    return t >= from.getTime() && t <= to.getTime();
  });
  const points = [{ time: from.toISOString(), weight: 0 }];
  for (const e of inside) {
    const m = WEIGHT.exec(e.message);
    if (m) points.push({ time: e.time, weight: Number(m[1]) });
    else if (e.reason === "RolledBack" || e.reason === "Succeeded") points.push({ time: e.time, weight: 0 });
  }
  return points;
}

async function curves(
  canary: CanaryObject,
  history: HistoryReader,
  from: Date,
  to: Date,
): Promise<MetricCurve[]> {
  const metrics = safeMetrics(canary);
  if (metrics.length === 0) return [];
  let reports: MetricReport[];
  try {
    reports = await history(canary, from, to);
  } catch (err) {
    const error = `history unavailable: ${err instanceof Error ? err.message : String(err)}`;
    return metrics.map((m) => ({ name: m.name, range: rangeText(m.thresholdRange), points: [], error }));
  }
  return reports.map((r) => {
    const range = r.threshold ?? undefined;
    const points = r.series
      .filter((w) => w.value !== undefined)
      .map((w) => ({
        time: w.time.toISOString(),
        value: w.value as number,
        fails: outside(w.value as number, range),
      }));
    return {
      name: r.name,
      ...(range?.min !== undefined ? { min: range.min } : {}),
      ...(range?.max !== undefined ? { max: range.max } : {}),
      range: rangeText(range),
      points,
      ...(r.error ? { error: r.error } : points.length === 0 ? { error: "no data in this window" } : {}),
    };
  });
}

function safeMetrics(canary: CanaryObject) {
  try {
    return resolveCanary(canary.spec).metrics;
  } catch {
    return [];
  }
}

function outside(value: number, range: { min?: number; max?: number } | undefined): boolean {
  return (range?.min !== undefined && value < range.min) || (range?.max !== undefined && value > range.max);
}

/** The current release's rollback: the Event's words and the checks it names (alert record first). */
function rolledBack(
  events: EventRecord[],
  status: CanaryStatus,
  current: Release | undefined,
): Pick<Timeline, "rolledBack"> {
  if (current?.outcome !== "rolled back" || !current.ended) return {};
  const record = (status.alerts ?? []).filter((a) => a.kind === "RolledBack").at(-1);
  const event = events.filter((e) => e.reason === "RolledBack").at(-1);
  const message = event?.message ?? current.cause ?? "";
  // Without alerts configured there is no record: the last step's checks that did not pass.
  const failing = record?.checks?.length
    ? record.checks.map((c) => c.name)
    : (status.checks ?? []).filter((c) => c.result !== "pass").map((c) => c.name);
  return { rolledBack: { time: current.ended, message, failing } };
}
