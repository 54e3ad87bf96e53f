/** `kanaria validate` for promotionWindows and freezeWindows: cron expressions, time zones, durations. */
import type { TimeWindow } from "../api/canary.ts";
import { windowProblems } from "../windows/windows.ts";
import type { Manifest } from "./load.ts";
import { problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";

export function windowCheck(canary: Manifest): Problem[] {
  const analysis = (canary.value as { spec?: { analysis?: Record<string, unknown> } }).spec?.analysis;
  return (["promotionWindows", "freezeWindows"] as const).flatMap((field) => {
    const windows = analysis?.[field];
    if (!Array.isArray(windows)) return [];
    return windows.flatMap((w, i) => {
      // Shape errors (a missing schedule, a bad duration format) are the schema check's to report.
      if (typeof w?.schedule !== "string" || typeof w?.duration !== "string") return [];
      return windowProblems(w as TimeWindow)
        .filter((p) => p.field !== "duration" || !p.message.startsWith("invalid duration"))
        .map((p) => problemAt(canary, ["spec", "analysis", field, i, p.field], "error", p.message));
    });
  });
}
