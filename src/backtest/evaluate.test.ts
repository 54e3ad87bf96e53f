import { describe, expect, it } from "vitest";
import { combine, countRollbacks, distribution, type Outcome, outcome, replay } from "./evaluate.ts";

const shape = { steps: 3, threshold: 2 };
const all = (n: number) => Array.from({ length: n }, () => true);
const parse = (s: string): Outcome[] => [...s].map((c) => (c === "F" ? "fail" : c === "S" ? "skip" : "pass"));

describe("outcome", () => {
  it("fails outside the range (inclusive bounds) and on no data unless onNoData is skip", () => {
    const t = new Date(0);
    expect(outcome({ time: t, value: 99 }, { min: 99 }, "fail")).toBe("pass");
    expect(outcome({ time: t, value: 98.9 }, { min: 99 }, "fail")).toBe("fail");
    expect(outcome({ time: t, value: 501 }, { max: 500 }, "fail")).toBe("fail");
    expect(outcome({ time: t, value: undefined }, { max: 500 }, "fail")).toBe("fail");
    expect(outcome({ time: t, value: undefined }, { max: 500 }, "skip")).toBe("skip");
    expect(outcome({ time: t, value: 1e9 }, undefined, "fail")).toBe("pass");
  });
});

describe("replay", () => {
  it("promotes after `steps` passes and retries a failed step, as decide does", () => {
    expect(replay(parse("PPP"), all(3), 0, shape)).toBe("promoted");
    expect(replay(parse("PFPP"), all(4), 0, shape)).toBe("promoted");
    expect(replay(parse("PFPF"), all(4), 0, shape)).toBe("rolledBack");
    expect(replay(parse("FF"), all(2), 0, shape)).toBe("rolledBack");
  });

  it("does not count a release that runs past the range or into an excluded window", () => {
    expect(replay(parse("PP"), all(2), 0, shape)).toBeUndefined();
    expect(replay(parse("PPP"), [true, false, true], 0, shape)).toBeUndefined();
  });

  it("lets no data with onNoData skip pass a step but never the last one", () => {
    expect(replay(parse("SSP"), all(3), 0, shape)).toBe("promoted");
    expect(replay(parse("PPS"), all(3), 0, shape)).toBeUndefined();
    expect(replay(parse("PPSP"), all(4), 0, shape)).toBe("promoted");
  });
});

describe("countRollbacks", () => {
  it("counts every start position whose release ends in the range", () => {
    // Starts of PPPFFPPP: 0 PPP promoted; 1 PPFF, 2 PFF and 3 FF rolled back (two failures before
    // three passes); 4 FPPP and 5 PPP promoted; 6 and 7 run past the end.
    expect(countRollbacks(parse("PPPFFPPP"), all(8), shape)).toEqual({
      releases: 6,
      rolledBack: 3,
      rate: 0.5,
    });
  });

  it("is 0 of 0 without complete releases", () => {
    expect(countRollbacks(parse("P"), all(1), shape)).toEqual({ releases: 0, rolledBack: 0, rate: 0 });
  });
});

describe("combine and distribution", () => {
  it("fails a step when any metric fails", () => {
    expect(combine([parse("PFPS"), parse("PPSP")])).toEqual(parse("PFSS"));
  });

  it("summarises values by quantiles", () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    expect(distribution(values)).toEqual({ min: 0, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(distribution([])).toBeNull();
  });
});
