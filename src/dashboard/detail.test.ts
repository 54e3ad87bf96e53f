import { describe, expect, it } from "vitest";
import type { EventRecord } from "../cli/canaries.ts";
import { releasesFrom, weightsFrom } from "./detail.ts";

const ev = (time: string, reason: string, message = ""): EventRecord => ({
  type: reason === "RolledBack" ? "Warning" : "Normal",
  reason,
  message,
  count: 1,
  time: `2026-12-06T10:${time}:00Z`,
});

const events = [
  ev("00", "NewRevision", "New revision detected! Scaling up web"),
  ev("01", "Progressing", "Advance web canary weight 10"),
  ev("02", "Progressing", "Advance web canary weight 20"),
  ev("03", "Succeeded", "Promotion completed! web revision a1 is live"),
  ev("10", "NewRevision", "New revision detected! Scaling up web"),
  ev("11", "Progressing", "Advance web canary weight 10"),
  ev(
    "12",
    "RolledBack",
    "Canary failed! Rolling back web: failed checks threshold reached 1/1: latency 900 above max 500",
  ),
  ev("20", "NewRevision", "New revision detected! Scaling up web"),
];

describe("releasesFrom", () => {
  it("cuts the Events into releases with their outcome and cause", () => {
    expect(releasesFrom(events)).toEqual([
      {
        started: "2026-12-06T10:00:00Z",
        ended: "2026-12-06T10:03:00Z",
        outcome: "promoted",
        cause: "Promotion completed! web revision a1 is live",
      },
      {
        started: "2026-12-06T10:10:00Z",
        ended: "2026-12-06T10:12:00Z",
        outcome: "rolled back",
        cause:
          "Canary failed! Rolling back web: failed checks threshold reached 1/1: latency 900 above max 500",
      },
      { started: "2026-12-06T10:20:00Z", outcome: "under way" },
    ]);
  });
});

describe("weightsFrom", () => {
  it("reads the weight steps inside the window and drops to 0 at the rollback", () => {
    const from = new Date("2026-12-06T10:10:00Z");
    const to = new Date("2026-12-06T10:12:00Z");
    expect(weightsFrom(events, from, to)).toEqual([
      { time: "2026-12-06T10:10:00.000Z", weight: 0 },
      { time: "2026-12-06T10:11:00Z", weight: 10 },
      { time: "2026-12-06T10:12:00Z", weight: 0 },
    ]);
  });
});
