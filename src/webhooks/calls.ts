/**
 * The webhook vocabulary decide() and the reconciler share: a call decide asks for, and the answer
 * the reconciler hands back on the next decide call.
 */
import type { Phase, WebhookType } from "../api/canary.ts";

/** A webhook decide wants called, and the phase to put in its payload. */
export interface WebhookCall {
  name: string;
  type: WebhookType;
  phase: Phase;
}

/** One webhook's answer to a call decide asked for. */
export interface WebhookAnswer {
  name: string;
  type: WebhookType;
  result: "pass" | "fail" | "error";
  /** The HTTP status, when the hook answered at all. */
  code?: number;
  message: string;
}

/** What one HTTP call of a hook returns; the dispatcher adds the hook's name and type. */
export type CallResult = Omit<WebhookAnswer, "name" | "type">;
