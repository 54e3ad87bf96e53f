// Windows against a fake clock: every time is an argument, written in UTC with the local time beside it.
import { describe, expect, it } from "vitest";
import type { TimeWindow } from "../api/canary.ts";
import { promotionWindowState, windowProblems } from "./windows.ts";

const at = (iso: string) => new Date(iso);
const office: TimeWindow = { schedule: "0 9 * * 1-5", duration: "8h", timeZone: "Europe/Berlin" };
const nightly: TimeWindow = { schedule: "0 22 * * *", duration: "4h", timeZone: "UTC" };
const berlinNine: TimeWindow = { schedule: "0 9 * * *", duration: "1h", timeZone: "Europe/Berlin" };

interface Row {
  name: string;
  promotion?: TimeWindow[];
  freeze?: TimeWindow[];
  now: string;
  allowed: boolean;
  next?: string;
  reason?: RegExp;
}

const rows: Row[] = [
  { name: "no windows: always allowed", now: "2026-12-01T03:00:00Z", allowed: true },
  // Tuesday 2026-12-01, Berlin is UTC+1 in winter.
  {
    name: "inside office hours (10:00 Berlin)",
    promotion: [office],
    now: "2026-12-01T09:00:00Z",
    allowed: true,
  },
  {
    name: "at the opening itself (09:00 Berlin)",
    promotion: [office],
    now: "2026-12-01T08:00:00Z",
    allowed: true,
  },
  {
    name: "before office hours (08:30 Berlin): waits until 09:00 Berlin",
    promotion: [office],
    now: "2026-12-01T07:30:00Z",
    allowed: false,
    next: "2026-12-01T08:00:00.000Z",
    reason: /outside the promotion windows/,
  },
  {
    name: "at the close (17:00 Berlin): the next weekday",
    promotion: [office],
    now: "2026-12-01T16:00:00Z",
    allowed: false,
    next: "2026-12-02T08:00:00.000Z",
  },
  {
    name: "Friday evening: Monday morning",
    promotion: [office],
    now: "2026-12-04T18:00:00Z",
    allowed: false,
    next: "2026-12-07T08:00:00.000Z",
  },
  // A window spanning midnight: 22:00-02:00 UTC.
  {
    name: "nightly window before midnight",
    promotion: [nightly],
    now: "2026-12-01T23:30:00Z",
    allowed: true,
  },
  { name: "nightly window after midnight", promotion: [nightly], now: "2026-12-02T01:59:59Z", allowed: true },
  {
    name: "nightly window closed at 02:00",
    promotion: [nightly],
    now: "2026-12-02T02:00:00Z",
    allowed: false,
    next: "2026-12-02T22:00:00.000Z",
  },
  // DST: Berlin moves from UTC+1 to UTC+2 on 2026-03-29 and back on 2026-10-25.
  {
    name: "09:00 Berlin before spring DST is 08:00Z",
    promotion: [berlinNine],
    now: "2026-03-28T08:30:00Z",
    allowed: true,
  },
  {
    name: "09:00 Berlin after spring DST is 07:00Z",
    promotion: [berlinNine],
    now: "2026-03-29T07:30:00Z",
    allowed: true,
  },
  {
    name: "08:30Z after spring DST is 10:30 Berlin: closed",
    promotion: [berlinNine],
    now: "2026-03-29T08:30:00Z",
    allowed: false,
    next: "2026-03-30T07:00:00.000Z",
  },
  {
    name: "closed on the night of the spring change: the next opening is 09:00 CEST",
    promotion: [berlinNine],
    now: "2026-03-29T00:30:00Z",
    allowed: false,
    next: "2026-03-29T07:00:00.000Z",
  },
  {
    name: "after autumn DST the opening is 08:00Z again",
    promotion: [berlinNine],
    now: "2026-10-25T07:30:00Z",
    allowed: false,
    next: "2026-10-25T08:00:00.000Z",
  },
  {
    name: "an opening at 02:30 that does not exist on the spring change day fires at 03:00 CEST",
    promotion: [{ schedule: "30 2 * * *", duration: "30m", timeZone: "Europe/Berlin" }],
    now: "2026-03-29T00:45:00Z",
    allowed: false,
    next: "2026-03-29T01:00:00.000Z",
  },
  // Freezes.
  {
    name: "a freeze inside a promotion window blocks it",
    promotion: [office],
    freeze: [{ schedule: "0 12 * * *", duration: "2h", timeZone: "Europe/Berlin" }],
    now: "2026-12-01T11:30:00Z",
    allowed: false,
    next: "2026-12-01T13:00:00.000Z",
    reason: /in freeze window 0 \(0 12 \* \* \*, 2h, Europe\/Berlin\)/,
  },
  {
    name: "overlapping freezes: waits for the later end, then the next promotion window",
    promotion: [office],
    freeze: [
      { schedule: "0 0 24 12 *", duration: "48h", timeZone: "Europe/Berlin" },
      { schedule: "0 0 25 12 *", duration: "48h", timeZone: "Europe/Berlin" },
    ],
    // Thursday 24 Dec 10:00 Berlin; the freezes end on Sunday 27 Dec 00:00 Berlin; Monday 09:00 opens.
    now: "2026-12-24T09:00:00Z",
    allowed: false,
    next: "2026-12-28T08:00:00.000Z",
  },
  {
    name: "outside a freeze without promotion windows: allowed",
    freeze: [{ schedule: "0 0 24 12 *", duration: "48h", timeZone: "UTC" }],
    now: "2026-12-27T00:00:00Z",
    allowed: true,
  },
  {
    name: "a freeze that never ends: no opening within a year",
    freeze: [{ schedule: "* * * * *", duration: "1h" }],
    now: "2026-12-01T00:00:00Z",
    allowed: false,
    reason: /freeze window 0/,
  },
];

describe("promotionWindowState", () => {
  it.each(rows)("$name", (row) => {
    const state = promotionWindowState(row.promotion, row.freeze, at(row.now));
    expect(state.allowed).toBe(row.allowed);
    expect(state.nextOpening?.toISOString()).toBe(row.next);
    if (row.reason) expect(state.reason).toMatch(row.reason);
    if (row.allowed) expect(state.reason).toBeUndefined();
  });

  it("never allows promotion with an invalid window, and names the field", () => {
    const state = promotionWindowState(
      [office],
      [{ schedule: "0 9 * *", duration: "1h", timeZone: "Europe/Berlin" }],
      at("2026-12-01T09:00:00Z"),
    );
    expect(state.allowed).toBe(false);
    expect(state.reason).toMatch(
      /^analysis\.freezeWindows\[0\]\.schedule: invalid cron expression "0 9 \* \*"/,
    );
  });
});

describe("windowProblems", () => {
  it("accepts a valid window", () => {
    expect(windowProblems(office)).toEqual([]);
  });

  it("names a bad expression, an unknown zone and a zero duration", () => {
    expect(windowProblems({ schedule: "61 * * * *", duration: "0s", timeZone: "Mars/Olympus" })).toEqual([
      {
        field: "timeZone",
        message: expect.stringMatching(/unknown time zone "Mars\/Olympus": use an IANA name/),
      },
      {
        field: "schedule",
        message: expect.stringMatching(/invalid cron expression "61 \* \* \* \*": .*out of range/),
      },
      { field: "duration", message: "must be longer than 0s" },
    ]);
  });
});
