/**
 * Fault injection for restart-safety tests: with KANARIA_CRASH_AT="<point>:<text>" the process kills
 * itself (SIGKILL, no cleanup, as when a node dies) at <point> of the first reconcile whose decision
 * has an event mentioning <text>, e.g. "after-status-write:canary weight 40". The variable is read
 * once; when it is unset, crashPoint() is a comparison against undefined and nothing else.
 */
import type { CanaryEvent } from "../api/events.ts";

/** The points of a tick between two writes, in the order the reconciler passes them. */
export const CRASH_POINTS = [
  "after-status-write",
  "after-services",
  "after-primary",
  "after-scale-up",
  "after-route",
  "after-scale-down",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

interface CrashSpec {
  point: CrashPoint;
  text: string;
}

function parse(raw: string | undefined): CrashSpec | undefined {
  if (!raw) return undefined;
  const at = raw.indexOf(":");
  const point = (at < 0 ? raw : raw.slice(0, at)) as CrashPoint;
  if (!CRASH_POINTS.includes(point)) {
    throw new Error(
      `KANARIA_CRASH_AT: unknown point ${JSON.stringify(point)}; one of ${CRASH_POINTS.join(", ")}`,
    );
  }
  return { point, text: at < 0 ? "" : raw.slice(at + 1) };
}

const crash = parse(process.env.KANARIA_CRASH_AT);

export function crashPoint(point: CrashPoint, events: readonly CanaryEvent[]): void {
  if (crash === undefined || crash.point !== point) return;
  if (!events.some((e) => e.message.includes(crash.text))) return;
  process.stderr.write(`KANARIA_CRASH_AT: killing the process at ${point} (${crash.text})\n`);
  process.kill(process.pid, "SIGKILL");
}
