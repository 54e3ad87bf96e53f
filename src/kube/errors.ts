/** The errors of the Kubernetes API layer, one hierarchy: callers test with instanceof. */

/** A failed API request; `message` carries the API server's Status.message so callers can show it. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  /** HTTP status code (404, 422, ...). */
  readonly code: number;
  /** Status.reason ("NotFound", "Invalid", ...), when the server sent a Status. */
  readonly reason: string | undefined;

  constructor(code: number, message: string, reason?: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.reason = reason;
  }
}

/** A write lost a race (409): the caller re-reads the object and tries again. */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
