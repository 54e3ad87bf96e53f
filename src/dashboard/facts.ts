/**
 * What the dashboard says about a Canary, in the words `kanaria status` uses: the facts come from the
 * status command's summary and the phrases from the CLI's view, so the two never drift apart. The
 * one place the dashboard's words are made; pure, for the server (rows, detail) and its tests.
 */

import type { Phase } from "../api/canary.ts";
import type { CanaryObject, EventRecord } from "../cli/canaries.ts";
import { UNDER_WAY } from "../cli/canaries.ts";
import { type CanarySummary, summarize } from "../cli/commands/status.ts";
import { holding, rangeText, valueText } from "../cli/release-facts.ts";
import { tagOf } from "../cli/view.ts";
import type { Action, CanaryRow } from "./wire.ts";

export type { Action, CanaryRow, CheckFact } from "./wire.ts";

export function canaryRow(canary: CanaryObject, now = new Date()): CanaryRow {
  const namespace = canary.metadata.namespace ?? "";
  const base = {
    key: `${namespace}/${canary.metadata.name}`,
    namespace,
    name: canary.metadata.name,
    acted: { ...(canary.status?.requests ?? {}) },
    ...(canary.status?.lastTransitionTime ? { phaseSince: canary.status.lastTransitionTime } : {}),
  };
  let s: CanarySummary;
  try {
    s = summarize(canary, []);
  } catch (err) {
    // A spec the API server took but kanaria cannot read: shown, not hidden.
    return {
      ...base,
      phase: canary.status?.phase ?? "(not reconciled yet)",
      suspended: false,
      canaryWeight: 0,
      maxWeight: 100,
      failedChecks: 0,
      threshold: 1,
      checks: [],
      holding: [],
      message: `spec cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      actions: [],
    };
  }
  return {
    ...base,
    phase: s.phase,
    suspended: s.suspended,
    ...(s.revision ? { revision: s.revision } : {}),
    canaryWeight: s.canaryWeight,
    maxWeight: s.maxWeight,
    failedChecks: s.failedChecks,
    threshold: s.threshold,
    checks: s.checks.map((c) => ({
      name: c.name,
      result: c.result,
      value: valueText(c.value),
      range: rangeText(c.thresholdRange),
      message: c.message,
    })),
    holding: holding(canary, now),
    message: s.message,
    actions: actions(s),
  };
}

function actions(s: CanarySummary): Action[] {
  const out: Action[] = [];
  if ((UNDER_WAY as readonly string[]).includes(s.phase) && s.revision) out.push("promote", "abort");
  if ((s.phase as Phase) === "Failed" && s.revision) out.push("retry");
  if (s.suspended) out.push("resume");
  return out;
}

/** "podinfo 6.0.1": a Deployment's first container image, by its tag as the status view shows it. */
export function imageFact(image: string | undefined): { image: string; tag: string } {
  return { image: image ?? "", tag: tagOf(image) };
}

export type { EventRecord };
