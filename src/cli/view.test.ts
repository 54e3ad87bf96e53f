// The live view of `kanaria status --watch NAME` and `make demo`: the status block, the log lines and the redraw.
import { describe, expect, it } from "vitest";
import type { CheckStatus } from "../api/canary.ts";
import {
  type CanaryView,
  clock,
  eventLine,
  formatChecks,
  makeStyle,
  PlainRenderer,
  statusBlock,
  statusLine,
  TtyRenderer,
  tagOf,
  truncate,
  visibleLength,
  wrapUnder,
} from "./view.ts";

const plain = makeStyle(false);
const color = makeStyle(true);

const checks: CheckStatus[] = [
  {
    name: "request-success-rate",
    result: "fail",
    value: 89.904,
    thresholdRange: { min: 99 },
    provider: "prometheus",
    message: "request-success-rate 89.90 is below the minimum 99 (prometheus)",
    time: "2026-01-01T00:00:10Z",
  },
  {
    name: "request-duration",
    result: "pass",
    value: 80.5,
    thresholdRange: { max: 500 },
    provider: "prometheus",
    message: "request-duration 80.50 is within the range (maximum 500) (prometheus)",
    time: "2026-01-01T00:00:10Z",
  },
];

const view: CanaryView = {
  title: "podinfo.podinfo",
  stage: "release 2/2: 6.0.2",
  phase: "Progressing",
  canaryWeight: 20,
  release: "at 20%, up to 60%",
  failedChecks: 1,
  threshold: 2,
  checks,
  message: "failed checks 1/2: request-success-rate 89.90 is below the minimum 99 (prometheus)",
  primary: { name: "podinfo-primary", image: "ghcr.io/stefanprodan/podinfo:6.0.1", replicas: 2, ready: 2 },
  canary: { name: "podinfo", image: "ghcr.io/stefanprodan/podinfo:6.0.2", replicas: 2, ready: 1 },
};

describe("the demo's formatting", () => {
  it("shows each check's value against its range, aligned", () => {
    expect(formatChecks(checks, plain)).toEqual([
      "request-success-rate  89.90  min 99   FAIL",
      "request-duration      80.50  max 500  pass",
    ]);
    expect(
      formatChecks(
        [{ name: "x", result: "nodata", thresholdRange: { min: 1, max: 2 }, message: "", time: "" }],
        plain,
      ),
    ).toEqual(["x  -  1..2  no data"]);
  });

  it("draws a status block with phase, traffic split, pods, checks and status", () => {
    const lines = statusBlock(view, { style: plain, width: 200, elapsedMs: 75_000 });
    expect(lines[0]).toBe("  01:15  podinfo.podinfo  release 2/2: 6.0.2");
    expect(lines[1]).toBe("  phase    Progressing  at 20%, up to 60%  failed checks 1/2");
    expect(lines[2]).toBe("  traffic  primary  80% ████████████████░░░░  20% canary");
    expect(lines[3]).toBe("  pods     podinfo-primary 6.0.1 2/2 ready  |  podinfo 6.0.2 1/2 ready");
    expect(lines[4]).toBe("  checks   request-success-rate  89.90  min 99   FAIL");
    expect(lines[5]).toBe("           request-duration      80.50  max 500  pass");
    expect(lines[6]).toContain("status   failed checks 1/2: request-success-rate 89.90");
    expect(lines).toHaveLength(7);
  });

  it("fits every block line into the terminal, colors included, so the redraw can count lines", () => {
    for (const width of [40, 80]) {
      const lines = statusBlock(view, { style: color, width, elapsedMs: 0 });
      for (const line of lines) expect(visibleLength(line)).toBeLessThanOrEqual(width - 1);
    }
    expect(truncate(color.red("abcdef"), 4)).toBe("\x1b[31mabc\x1b[39m…");
    expect(truncate("日本語のテキスト", 7)).toBe("日本語…");
    expect(truncate("abc", 4)).toBe("abc");
  });

  it("says when a Deployment is scaled to zero and when there are no checks yet", () => {
    const lines = statusBlock(
      { ...view, checks: undefined, canary: { name: "podinfo", replicas: 0, ready: 0 }, message: undefined },
      { style: plain, width: 200, elapsedMs: 0 },
    );
    expect(lines[3]).toContain("podinfo ? scaled to zero");
    expect(lines[4]).toBe("  checks   none in this analysis yet");
    expect(lines).toHaveLength(5);
  });

  it("shows the split measured from the answers under the weight, with the failed requests", () => {
    const measured = {
      windowSeconds: 5,
      answers: [
        { label: "6.0.2", count: 33 },
        { label: "6.0.1", count: 200 },
      ],
      failed: 17,
      routeWeight: 20,
      routeKind: "HTTPRoute",
      failedThisRelease: 41,
    };
    const lines = statusBlock({ ...view, measured }, { style: plain, width: 200, elapsedMs: 0 });
    expect(lines[2]).toBe("  traffic  primary  80% ████████████████░░░░  20% canary");
    expect(lines[3]).toBe(
      "  measured 6.0.2 13% · 6.0.1 80% · failed 17 of 250 in 5s · this release: 41 failed · HTTPRoute 20%",
    );
    expect(lines[4]).toContain("pods");
    expect(lines).toHaveLength(8);
    const quiet = { windowSeconds: 5, answers: [], failed: 0 };
    expect(statusBlock({ ...view, measured: quiet }, { style: plain, width: 200, elapsedMs: 0 })[3]).toBe(
      "  measured no answers in the last 5s",
    );
    // A measurement changes with every request: a log line per change would flood, so logs leave it out.
    expect(statusLine({ ...view, measured }, plain)).toBe(statusLine(view, plain));
  });

  it("puts the status on one line for logs", () => {
    expect(statusLine(view, plain)).toBe(
      "phase Progressing (at 20%, up to 60%) | canary weight 20% | failed checks 1/2 | request-success-rate 89.90 (min 99) FAIL, request-duration 80.50 (max 500) pass",
    );
  });

  it("formats events, times and image tags", () => {
    expect(
      eventLine(
        { type: "Warning", reason: "CheckFailed", message: "Halt podinfo.podinfo advancement", count: 3 },
        plain,
      ),
    ).toBe("event Warning CheckFailed: Halt podinfo.podinfo advancement (x3)");
    expect(eventLine({ type: "Normal", reason: "Initialized", message: "done", count: 1 }, plain)).toBe(
      "event Normal  Initialized: done",
    );
    expect(clock(75_400)).toBe("01:15");
    expect(clock(3_725_000)).toBe("1:02:05");
    expect(tagOf("ghcr.io/stefanprodan/podinfo:6.0.1")).toBe("6.0.1");
    expect(tagOf("localhost:5000/podinfo")).toBe("latest");
  });
});

describe("fitting a terminal", () => {
  it("wraps long text under its own column, at word boundaries, within the width", () => {
    const lines = wrapUnder(
      "  status   ",
      "failed checks 1/2: request-success-rate 89.90 is below the minimum 99 (prometheus)",
      40,
    );
    expect(lines).toEqual([
      "  status   failed checks 1/2:",
      "           request-success-rate 89.90 is",
      "           below the minimum 99",
      "           (prometheus)",
    ]);
    for (const line of lines) expect(visibleLength(line)).toBeLessThanOrEqual(40);
    expect(wrapUnder("> ", "a long line for a pipe", Number.POSITIVE_INFINITY)).toEqual([
      "> a long line for a pipe",
    ]);
  });
});

describe("the renderers", () => {
  it("redraws the status block in place on a terminal, with log lines scrolling above it", () => {
    let out = "";
    let now = 1_000;
    const r = new TtyRenderer({
      write: (s) => {
        out += s;
      },
      style: plain,
      startedAt: 0,
      now: () => now,
      columns: () => 200,
    });
    expect(out).toBe("\x1b[?25l");
    out = "";
    r.status(view);
    expect(out.split("\n")).toHaveLength(8);
    expect(out.startsWith("  00:01  podinfo.podinfo")).toBe(true);
    out = "";
    now = 2_000;
    r.log("event Normal Progressing: Advance");
    // Back to the block's first line, clear, the new line, then the block again.
    expect(
      out.startsWith("\x1b[7F\x1b[J00:02 event Normal Progressing: Advance\n  00:02  podinfo.podinfo"),
    ).toBe(true);
    out = "";
    r.status({ ...view, checks: undefined, message: undefined });
    expect(out.startsWith("\x1b[7F\x1b[J  00:02  podinfo.podinfo")).toBe(true);
    out = "";
    r.close();
    expect(out.startsWith("\x1b[5F\x1b[J")).toBe(true);
    expect(out.endsWith("\x1b[?25h")).toBe(true);
    out = "";
    r.log("after");
    expect(out).toBe("00:02 after\n");
  });

  it("wraps a long log line under the text after its time stamp, not at column 0", () => {
    let out = "";
    const r = new TtyRenderer({
      write: (s) => {
        out += s;
      },
      style: plain,
      startedAt: 0,
      now: () => 61_000,
      columns: () => 41,
    });
    out = "";
    r.log(
      "event Warning RolledBack: Canary failed! Rolling back podinfo.test: failed checks threshold reached 2/2",
    );
    expect(out.split("\n")).toEqual([
      "01:01 event Warning RolledBack: Canary",
      "      failed! Rolling back podinfo.test:",
      "      failed checks threshold reached",
      "      2/2",
      "",
    ]);
  });

  it("prints a line per change without a terminal", () => {
    const lines: string[] = [];
    let now = 0;
    const r = new PlainRenderer({ write: (s) => lines.push(s), style: plain, startedAt: 0, now: () => now });
    r.status(view);
    r.status(view);
    r.tick();
    now = 61_000;
    r.status({ ...view, canaryWeight: 40 });
    r.log("event Normal Progressing: Advance");
    expect(lines).toEqual([
      `00:00 status ${statusLine(view, plain)}\n`,
      `01:01 status ${statusLine({ ...view, canaryWeight: 40 }, plain)}\n`,
      "01:01 event Normal Progressing: Advance\n",
    ]);
  });
});
