/**
 * A problem in the user's objects that only they can fix (a missing Ingress, a bad port, a foreign
 * `-primary` Deployment...). The reconciler maps every one of them the same way: a Stalled condition
 * with `reason` and the message, one Warning event, nothing else written, and a retry; never an
 * endless error backoff. Each message names the object, the field and the fix.
 */
/** A problem the Canary's owner must fix (missing target, conflicting Canary, bad port...). */
export interface Blocker {
  reason: string;
  message: string;
}

export class ConfigBlockerError extends Error {
  override readonly name: string = "ConfigBlockerError";
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The blocker an error stands for, or undefined when it is not the user's to fix. */
export function blockerOf(err: unknown): Blocker | undefined {
  return err instanceof ConfigBlockerError ? { reason: err.reason, message: err.message } : undefined;
}
