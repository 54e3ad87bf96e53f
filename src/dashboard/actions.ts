/**
 * The dashboard's buttons: the same requests as `kanaria promote/abort/retry/resume`, written with the
 * user's own kubeconfig identity, so the API server's RBAC decides whether this person may.
 */
import type { Phase } from "../api/canary.ts";
import {
  type CanaryObject,
  CliError,
  type Cluster,
  resumeCanary,
  UNDER_WAY,
  writeRequest,
} from "../cli/canaries.ts";
import type { Action } from "./facts.ts";

export const ACTIONS: readonly Action[] = ["promote", "abort", "retry", "resume"];

const ALLOWED: Record<Exclude<Action, "resume">, readonly Phase[]> = {
  promote: UNDER_WAY,
  abort: UNDER_WAY,
  retry: ["Failed"],
};

export interface ActionInput {
  reason?: string;
}

export interface ActionResult {
  /** What was written, in the CLI's words. */
  message: string;
  /** The annotation value: status.requests holds it once the controller has acted on it. */
  request?: string;
}

export async function act(
  cluster: Cluster,
  canary: CanaryObject,
  action: Action,
  input: ActionInput,
): Promise<ActionResult> {
  const ref = `${canary.metadata.namespace}/${canary.metadata.name}`;
  if (action === "resume") {
    await resumeCanary(cluster, canary);
    return { message: `${ref} resumed` };
  }
  const reason = input.reason?.trim();
  if (action === "abort" && !reason) throw new CliError("an abort needs a reason (it goes into the Event)");
  const { revision, value } = await writeRequest(
    cluster,
    canary,
    action,
    ALLOWED[action],
    action === "abort" && reason ? { reason } : {},
  );
  const what = { promote: "promotion", abort: "rollback", retry: "new analysis" }[action];
  return { message: `${what} of ${ref} revision ${revision} requested`, request: value };
}
