import { describe, expect, it } from "vitest";
import { parseLongDuration, parseSpan, parseTime } from "./time.ts";

const NOW = new Date("2026-12-01T12:00:00Z");

describe("parseTime", () => {
  it("reads now, now-7d, -2h, ISO 8601 and Unix seconds", () => {
    expect(parseTime("now", NOW)).toEqual(NOW);
    expect(parseTime("now-7d", NOW)).toEqual(new Date("2026-11-24T12:00:00Z"));
    expect(parseTime("-2h30m", NOW)).toEqual(new Date("2026-12-01T09:30:00Z"));
    expect(parseTime("2026-11-20T10:00:00Z", NOW)).toEqual(new Date("2026-11-20T10:00:00Z"));
    expect(parseTime("1764590400", NOW)).toEqual(new Date(1764590400 * 1000));
  });

  it("names the accepted forms on bad input", () => {
    expect(() => parseTime("yesterday", NOW)).toThrow(/invalid time "yesterday": use an ISO 8601 time/);
  });
});

describe("parseLongDuration and parseSpan", () => {
  it("knows weeks and days", () => {
    expect(parseLongDuration("2w")).toBe(14 * 86_400_000);
    expect(parseLongDuration("1d12h")).toBe(36 * 3_600_000);
    expect(parseLongDuration("90m")).toBe(90 * 60_000);
  });

  it("reads FROM/TO and rejects a span that ends before it starts", () => {
    expect(parseSpan("now-2h/now-1h", NOW, "--exclude")).toEqual({
      from: new Date("2026-12-01T10:00:00Z"),
      to: new Date("2026-12-01T11:00:00Z"),
    });
    expect(() => parseSpan("now-1h/now-2h", NOW, "--exclude")).toThrow(
      /--exclude "now-1h\/now-2h": FROM must be before TO/,
    );
    expect(() => parseSpan("now-1h", NOW, "--exclude")).toThrow(/expected FROM\/TO/);
  });
});
