import type { Canary, TargetKind } from "../api/canary.ts";
import { ConfigBlockerError } from "../errors.ts";
import { DAEMONSET } from "./daemonset.ts";
import { DEPLOYMENT } from "./deployment.ts";
import type { WorkloadKind } from "./workload.ts";

/** One entry per targetRef.kind kanaria releases. */
const WORKLOAD_KINDS: Record<TargetKind, WorkloadKind> = { Deployment: DEPLOYMENT, DaemonSet: DAEMONSET };

/** The kind of a target object or a targetRef.kind; Deployment when unset (as kanaria's default). */
export function workloadKind(kind: string | undefined): WorkloadKind {
  const found = WORKLOAD_KINDS[(kind ?? "Deployment") as TargetKind];
  if (!found) {
    throw new ConfigBlockerError(
      "UnsupportedTarget",
      `spec.targetRef.kind ${kind} is not supported: set it to ${Object.keys(WORKLOAD_KINDS).join(" or ")}`,
    );
  }
  return found;
}

/** The kind a Canary releases. */
export function targetKind(canary: Pick<Canary, "spec">): WorkloadKind {
  return workloadKind(canary.spec.targetRef.kind);
}
