import { describe, expect, it } from "vitest";
import type { CanaryObject, EventRecord } from "../canaries.ts";
import { visibleLength } from "../view.ts";
import { render, summarize } from "./status.ts";

const canary = {
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "Canary",
  metadata: { name: "podinfo", namespace: "test" },
  spec: {
    targetRef: { name: "podinfo" },
    service: { port: 80 },
    analysis: { interval: "30s", threshold: 2, maxWeight: 30, stepWeight: 10 },
  },
  status: {
    phase: "WaitingPromotion",
    lastAppliedSpec: "rev-b",
    canaryWeight: 30,
    failedChecks: 1,
    checks: [
      {
        name: "request-success-rate",
        result: "pass",
        value: 99.5,
        thresholdRange: { min: 99 },
        message: "ok",
        time: "2026-01-01T00:00:00Z",
      },
    ],
    webhooks: [
      {
        name: "release",
        type: "confirm-promotion",
        result: "fail",
        code: 403,
        message: "403 Forbidden",
        time: "t",
        revision: "rev-b",
        step: "promotion",
      },
      {
        name: "old",
        type: "confirm-promotion",
        result: "fail",
        message: "x",
        time: "t",
        revision: "rev-a",
        step: "promotion",
      },
      {
        name: "load",
        type: "rollout",
        result: "fail",
        message: "x",
        time: "t",
        revision: "rev-b",
        step: "weight 30",
      },
    ],
    conditions: [
      {
        type: "Promoted",
        status: "Unknown",
        reason: "WaitingPromotion",
        message: "promotion waits for approval",
      },
    ],
  },
} as unknown as CanaryObject;

describe("kanaria status", () => {
  const events = Array.from({ length: 7 }, (_, i) => ({
    type: "Normal",
    reason: `R${i}`,
    message: `m${i}`,
    count: 1,
    time: `t${i}`,
  }));

  it("summarizes phase, weight, checks, the gates of this revision and the last five events", () => {
    const s = summarize(canary, events);
    expect(s).toMatchObject({
      phase: "WaitingPromotion",
      canaryWeight: 30,
      maxWeight: 30,
      failedChecks: 1,
      threshold: 2,
    });
    expect(s.gates.map((g) => g.name)).toEqual(["release"]);
    expect(s.events.map((e) => e.reason)).toEqual(["R2", "R3", "R4", "R5", "R6"]);
  });

  const NOW = new Date("2026-01-01T01:00:00Z");
  const at = (s: number) => new Date(Date.parse("2026-01-01T00:50:00Z") + s * 1000).toISOString();
  const ev = (reason: string, message: string, s: number, type = "Normal"): EventRecord => ({
    type,
    reason,
    message,
    count: 1,
    time: at(s),
  });
  /** A Canary of `namespace/name` that goes +20% up to 60%, with this status. */
  const release = (namespace: string, name: string, status: Record<string, unknown>) =>
    ({
      ...canary,
      metadata: { name, namespace },
      spec: { ...canary.spec, analysis: { interval: "30s", threshold: 2, maxWeight: 60, stepWeight: 20 } },
      status,
    }) as unknown as CanaryObject;
  const rolledBack = release("shop", "rb1", {
    phase: "Failed",
    lastAppliedSpec: "rev-c",
    lastPromotedSpec: "rev-b",
    canaryWeight: 0,
    failedChecks: 2,
    lastTransitionTime: at(90),
    conditions: [
      {
        type: "Promoted",
        status: "False",
        reason: "Failed",
        message:
          "rolled back: failed checks threshold reached 2/2: request-success-rate 89.90 is below the minimum 99 (prometheus)",
      },
    ],
  });
  const rolledBackEvents = [
    ev("Succeeded", "Promotion completed! podinfo.shop revision rev-b is live", 0),
    ev("NewRevision", "New revision detected! Scaling up podinfo.shop", 10),
    ev("Progressing", "Starting canary analysis for podinfo.shop", 30),
    ev("Progressing", "Advance podinfo.shop canary weight 20", 30),
    ev(
      "CheckFailed",
      "Halt podinfo.shop advancement (failed checks 1/2): request-success-rate 89.90 is below the minimum 99 (prometheus)",
      60,
      "Warning",
    ),
    ev(
      "RolledBack",
      "Canary failed! Rolling back podinfo.shop: failed checks threshold reached 2/2: request-success-rate 89.90 is below the minimum 99 (prometheus)",
      90,
      "Warning",
    ),
  ];
  const progressing = release("shop", "checkout", {
    phase: "Progressing",
    lastAppliedSpec: "rev-x",
    canaryWeight: 40,
    failedChecks: 0,
    lastTransitionTime: at(500),
  });
  const promoted = release("web", "search", {
    phase: "Succeeded",
    lastAppliedSpec: "rev-s",
    lastPromotedSpec: "rev-s",
    canaryWeight: 0,
    lastTransitionTime: at(-3000),
  });
  const waiting = {
    ...canary,
    status: { ...canary.status, lastTransitionTime: at(540) },
  } as unknown as CanaryObject;
  const snapshot = (canaries: CanaryObject[], events: Record<string, EventRecord[]> = {}) => ({
    canaries,
    events: new Map(Object.entries(events)),
  });
  const terminal = (columns: number, rows?: number) => ({
    columns,
    ...(rows ? { rows } : {}),
    color: false,
    now: NOW,
  });
  const four = snapshot([promoted, rolledBack, waiting, progressing], {
    "shop/rb1": rolledBackEvents,
    "test/podinfo": [ev("WebhookFailed", "confirm-promotion webhook release failed", 540, "Warning")],
    "web/search": [ev("Succeeded", "Promotion completed!", -3000)],
  });

  it("lists one line per Canary at 160x45, in flight first, with what happened to each revision", () => {
    const text = render(four, undefined, { output: "text", allNamespaces: true }, terminal(160, 45));
    expect(text.split("\n")).toEqual([
      "NAMESPACE  NAME      PHASE             RELEASE                            WEIGHT           FAILED  AGE    LAST EVENT     HELD BY",
      "shop       checkout  Progressing       at 40%, up to 60%                  ████░░░░░░  40%  0/2     100s   -              -",
      "test       podinfo   WaitingPromotion  passed at 30%, waiting to promote  ███░░░░░░░  30%  1/2     60s    WebhookFailed  confirm-promotion release: 403 Forbidd…",
      "shop       rb1       Failed            rolled back at 20%                 ░░░░░░░░░░   0%  2/2     8m30s  RolledBack     -",
      "web        search    Succeeded         promoted                           ░░░░░░░░░░   0%  0/2     60m    Succeeded      -",
      "",
    ]);
    expect(text.split("\n").every((l) => visibleLength(l) <= 160)).toBe(true);
    // Without -A the namespace column goes; a pipe (no width) cuts nothing.
    const pipe = render(four, undefined, { output: "text" }, terminal(Number.POSITIVE_INFINITY));
    expect(pipe.split("\n")[2]).toMatch(
      /^podinfo +WaitingPromotion .* confirm-promotion release: 403 Forbidden$/,
    );
  });

  it("cuts every line to a narrow terminal and keeps fifty Canaries within the rows of the watch", () => {
    for (const line of render(four, undefined, { output: "text" }, terminal(60)).trimEnd().split("\n")) {
      expect(visibleLength(line)).toBeLessThanOrEqual(60);
      if (visibleLength(line) === 60) expect(line.endsWith("…")).toBe(true);
    }
    // The longest labels are not cut at 160 columns (a blue/green release waiting to promote).
    const blueGreen = {
      ...waiting,
      spec: { ...canary.spec, analysis: { interval: "10s", iterations: 12 } },
    } as unknown as CanaryObject;
    expect(render(snapshot([blueGreen]), undefined, { output: "text" }, terminal(160))).toContain(
      "  passed 12 iterations, waiting to promote  ",
    );
    const colored = render(four, undefined, { output: "text" }, { ...terminal(60), color: true });
    expect(colored).toContain("\x1b[31m");
    for (const line of colored.trimEnd().split("\n")) expect(visibleLength(line)).toBeLessThanOrEqual(60);
    const fifty = snapshot(
      Array.from({ length: 50 }, (_, i) => ({
        ...promoted,
        metadata: { name: `app-${String(i).padStart(2, "0")}`, namespace: "web" },
      })) as CanaryObject[],
    );
    const lines = render(fifty, undefined, { output: "text" }, terminal(160, 45), true).trimEnd().split("\n");
    expect(lines).toHaveLength(44);
    expect(lines[1]).toMatch(/^app-00 /);
    expect(lines[43]).toBe("... 8 more (kanaria status NAME -n NAMESPACE shows one)");
  });

  it("shows one Canary in detail at 80x45, long text wrapped under its own column", () => {
    const text = render(
      snapshot([rolledBack], { "shop/rb1": rolledBackEvents }),
      "rb1",
      { output: "text" },
      terminal(80, 45),
    );
    expect(text.split("\n")).toEqual([
      "shop/rb1  Failed  rolled back at 20%",
      "  revision rev-c",
      "  traffic  ░░░░░░░░░░░░░░░░░░░░ 0% to the canary",
      "  failed   2/2 (rollback when 2 checks fail)",
      "  status   rolled back: failed checks threshold reached 2/2:",
      "           request-success-rate 89.90 is below the minimum 99 (prometheus)",
      "  events   9m50s ago Normal  NewRevision: New revision detected! Scaling up",
      "                     podinfo.shop",
      "           9m30s ago Normal  Progressing: Starting canary analysis for",
      "                     podinfo.shop",
      "           9m30s ago Normal  Progressing: Advance podinfo.shop canary weight 20",
      "           9m ago    Warning CheckFailed: Halt podinfo.shop advancement (failed",
      "                     checks 1/2): request-success-rate 89.90 is below the",
      "                     minimum 99 (prometheus)",
      "           8m30s ago Warning RolledBack: Canary failed! Rolling back",
      "                     podinfo.shop: failed checks threshold reached 2/2:",
      "                     request-success-rate 89.90 is below the minimum 99",
      "                     (prometheus)",
      "",
    ]);
    const held = render(snapshot([waiting]), "podinfo", { output: "text" }, terminal(80, 45));
    expect(held).toContain("test/podinfo  WaitingPromotion  passed at 30%, waiting to promote\n");
    expect(held).toContain("  held by  confirm-promotion release: 403 Forbidden\n");
    expect(held).toContain("  checks   request-success-rate  99.50  min 99  pass\n");
  });

  it("renders JSON for scripts, as before", () => {
    const json = JSON.parse(render(snapshot([canary]), undefined, { output: "json" }, terminal(80)));
    expect(json[0]).toMatchObject({ name: "podinfo", gates: [{ code: 403 }] });
    expect(Object.keys(json[0])).toEqual([
      "namespace",
      "name",
      "phase",
      "revision",
      "canaryWeight",
      "maxWeight",
      "failedChecks",
      "threshold",
      "checks",
      "gates",
      "message",
      "suspended",
      "events",
    ]);
  });
});
