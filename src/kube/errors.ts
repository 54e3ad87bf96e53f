/** The errors of the Kubernetes API layer, one hierarchy: callers test with instanceof. */

/** A failed API request; `message` carries the API server's Status.message so callers can show it. */
export class KubeApiError extends Error {
  override readonly name: string = "KubeApiError";
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

/**
 * A 409: a write lost a race (Conflict: the object moved on since it was read) or its object exists
 * already (AlreadyExists). The caller re-reads the object and tries again.
 */
export class ConflictError extends KubeApiError {
  override readonly name: string = "ConflictError";

  constructor(message: string, reason = "Conflict", options?: ErrorOptions) {
    super(409, message, reason, options);
  }
}

/** The error for a failed request: a ConflictError for 409, a KubeApiError otherwise. */
export function apiErrorFor(
  code: number,
  message: string,
  reason?: string,
  options?: ErrorOptions,
): KubeApiError {
  return code === 409
    ? new ConflictError(message, reason, options)
    : new KubeApiError(code, message, reason, options);
}

/** The API server does not serve this apiVersion/kind (its CRD is not installed): not a missing object. */
export class UnservedKindError extends Error {
  override readonly name: string = "UnservedKindError";
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
