/**
 * The per-Canary drift setting: an annotation, as Flagger's API has no field for it and the Canary
 * spec stays Flagger's. The controller reads it; kanaria validate checks its value.
 */

/** On a Canary: `warn` reports drift without putting it back (teams that hot-fix production by hand). */
export const DRIFT_ANNOTATION = "kanaria.dev/drift";
export const DRIFT_MODES = ["correct", "warn"] as const;
export type DriftMode = (typeof DRIFT_MODES)[number];

/** The Canary's drift mode; anything but `warn` corrects (kanaria validate reports a wrong value). */
export function driftMode(annotations: Record<string, string> | undefined): DriftMode {
  return annotations?.[DRIFT_ANNOTATION] === "warn" ? "warn" : "correct";
}

/** Why an annotation value is not a drift mode, or undefined when it is one. */
export function driftModeError(value: unknown): string | undefined {
  if (typeof value === "string" && (DRIFT_MODES as readonly string[]).includes(value)) return undefined;
  return `${DRIFT_ANNOTATION} must be "correct" (the default: drift is put back) or "warn" (drift is reported, not put back), got ${JSON.stringify(value)}`;
}
