import { describe, expect, it } from "vitest";
import { ALERTS, alertMessage } from "../../test/helpers/alerts.ts";
import { ALERT_KINDS } from "../api/alert-outbox.ts";
import { buildView, describeCheck, humanDuration } from "./message.ts";

describe("the alert a person reads", () => {
  it("says for a rollback what failed, by how much, what was kept and what to do next", () => {
    const view = buildView(alertMessage(ALERTS.RolledBack));
    expect(view.title).toBe("Rolled back podinfo.test: request-success-rate, request-duration failed");
    expect(view.severity).toBe("error");
    expect(view.facts).toEqual([
      { label: "Canary", value: "podinfo in namespace test" },
      { label: "Cluster", value: "prod-eu-1" },
      { label: "Rolled back", value: "ghcr.io/stefanprodan/podinfo:6.0.2 (revision 5f7c9d2e1a)" },
      { label: "Kept", value: "ghcr.io/stefanprodan/podinfo:6.0.1 (revision 1a2b3c4d5e)" },
      { label: "Weight reached", value: "25%" },
      { label: "Steps", value: "1 of 2" },
      { label: "Failed checks", value: "2 (rollback at 2)" },
      { label: "Ran for", value: "1m 40s" },
    ]);
    expect(view.failing).toEqual([
      "request-success-rate 90.12, allowed: at least 99 (prometheus)",
      "request-duration 812.40, allowed: at most 500 (prometheus)",
    ]);
    expect(view.nextActions.map((a) => a.command)).toEqual([
      "kubectl -n test describe canary podinfo",
      "kanaria status podinfo -n test",
      "kanaria retry podinfo -n test",
      "kubectl -n test rollout restart deployment/podinfo",
    ]);
    // The plain text fallback carries all of it too (Slack notifications, logs).
    for (const part of [view.title, "Cluster: prod-eu-1", view.failing[0], "kanaria retry podinfo -n test"]) {
      expect(view.text).toContain(part);
    }
  });

  it.each([
    ["canary-not-ready", "Rolled back podinfo.test: the canary never became ready"],
    [
      "primary-not-ready",
      "Rolled back podinfo.test: the promoted primary was not ready, so it goes back to the last promoted revision",
    ],
    ["webhook", "Rolled back podinfo.test: a webhook failed"],
    ["manual", "Rolled back podinfo.test: aborted by request"],
    [
      "metrics-unavailable",
      "Rolled back podinfo.test: its metrics could not be read (provider unreachable or no data), not failed checks",
    ],
  ] as const)("titles a rollback by its cause (%s)", (cause, title) => {
    const { checks: _, ...alert } = ALERTS.RolledBack;
    expect(buildView(alertMessage({ ...alert, cause })).title).toBe(title);
  });

  it.each(ALERT_KINDS)("builds a %s alert with the canary and cluster in it", (kind) => {
    const view = buildView(alertMessage(ALERTS[kind]));
    expect(view.title).toContain("podinfo.test");
    expect(view.facts[0]).toEqual({ label: "Canary", value: "podinfo in namespace test" });
    expect(view.facts[1]).toEqual({ label: "Cluster", value: "prod-eu-1" });
    expect(view.summary).toBe(ALERTS[kind].message);
  });

  it("titles the other kinds", () => {
    const title = (kind: keyof typeof ALERTS) => buildView(alertMessage(ALERTS[kind])).title;
    expect(title("NewRevision")).toBe("New revision of podinfo.test: ghcr.io/stefanprodan/podinfo:6.0.2");
    expect(title("Step")).toBe("podinfo.test: canary weight 25% (step 1 of 2)");
    expect(title("Promoted")).toBe("Promoted podinfo.test: ghcr.io/stefanprodan/podinfo:6.0.2 is live");
    expect(title("WaitingApproval")).toBe("podinfo.test passed its analysis and is waiting to be promoted");
    expect(buildView(alertMessage({ ...ALERTS.WaitingApproval, phase: "Waiting" })).title).toBe(
      "podinfo.test is waiting for approval to start",
    );
    expect(title("Halted")).toBe("Halted podinfo.test at weight 25%: failed checks 1/2");
  });

  it("leaves the cluster out when --cluster-name is not set", () => {
    const view = buildView({ ...alertMessage(ALERTS.NewRevision), cluster: undefined });
    expect(view.facts.map((f) => f.label)).not.toContain("Cluster");
  });

  it("describes a check without a value by its message, and ranges both ways", () => {
    expect(describeCheck({ name: "errors", result: "nodata", message: "errors: no data" })).toBe(
      "errors: no data",
    );
    expect(describeCheck({ name: "errors", result: "error", message: "query timed out" })).toBe(
      "errors: query timed out",
    );
    expect(
      describeCheck({
        name: "cpu",
        result: "fail",
        value: 3,
        thresholdRange: { min: 0, max: 2 },
        message: "",
      }),
    ).toBe("cpu 3.00, allowed: 0 to 2");
    // A built-in that read the serving implementation's series says whose, as the check's message does.
    expect(
      describeCheck({
        name: "request-success-rate",
        result: "fail",
        value: 66.4,
        thresholdRange: { min: 99 },
        provider: "prometheus",
        series: "Traefik's series",
        message: "request-success-rate 66.40 is below the minimum 99 (prometheus, Traefik's series)",
      }),
    ).toBe("request-success-rate 66.40, allowed: at least 99 (prometheus, Traefik's series)");
    expect(humanDuration(7260)).toBe("2h 1m");
    expect(humanDuration(42)).toBe("42s");
  });
});
