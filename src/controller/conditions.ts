import type { CanaryStatus, Phase } from "../api/canary.ts";
import type { Condition } from "../api/common.ts";
import { canonicalJson } from "../workloads/hash.ts";

/**
 * Conditions derived from the phase: Flagger's `Promoted`, plus kstatus' `Ready`, `Reconciling` and
 * `Stalled`, which Flux's health checks (and Argo CD through kstatus-aware checks) understand:
 * Ready=True when a release is settled; Reconciling=True while one is under way; Stalled=True when
 * it failed or the Canary cannot proceed until someone changes something.
 */
export function conditionsFor(
  phase: Phase,
  message: string,
  generation: number | undefined,
  now: string,
  previous: Condition[] = [],
  blocked?: { reason: string; message: string },
): Condition[] {
  const settled = phase === "Initialized" || phase === "Succeeded";
  const failed = phase === "Failed";
  const desired: Omit<Condition, "lastTransitionTime">[] = [
    {
      type: "Promoted",
      status: settled ? "True" : failed ? "False" : "Unknown",
      reason: phase,
      message,
    },
    blocked
      ? { type: "Ready", status: "False", reason: blocked.reason, message: blocked.message }
      : { type: "Ready", status: settled ? "True" : "False", reason: phase, message },
    blocked || settled || failed
      ? { type: "Reconciling", status: "False", reason: phase, message: "" }
      : { type: "Reconciling", status: "True", reason: phase, message },
    blocked
      ? { type: "Stalled", status: "True", reason: blocked.reason, message: blocked.message }
      : { type: "Stalled", status: failed ? "True" : "False", reason: phase, message: failed ? message : "" },
  ];
  return desired.map((c) => {
    const before = previous.find((p) => p.type === c.type);
    const lastTransitionTime =
      before && before.status === c.status ? (before.lastTransitionTime ?? now) : now;
    return { ...c, observedGeneration: generation, lastTransitionTime, lastUpdateTime: now };
  });
}

/**
 * Status equality that ignores key order (the API server returns keys sorted) and the timestamps
 * refreshed on every write, so an unchanged status is not rewritten.
 */
export function sameStatus(a: CanaryStatus | undefined, b: CanaryStatus): boolean {
  return canonicalJson(stripVolatile(a ?? {})) === canonicalJson(stripVolatile(b));
}

function stripVolatile(status: CanaryStatus): CanaryStatus {
  return {
    ...status,
    conditions: status.conditions?.map(({ lastUpdateTime: _, ...rest }) => rest),
  };
}
