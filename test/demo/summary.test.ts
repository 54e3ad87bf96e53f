// The demo's closing summary, without a cluster.
import { describe, expect, it } from "vitest";
import { makeStyle } from "../../src/cli/view.ts";
import { closingHints, duration, type ReleaseResult, summaryLines } from "./summary.ts";

const plain = makeStyle(false);

describe("the demo's summary", () => {
  const promoted: ReleaseResult = {
    index: 1,
    total: 2,
    image: "ghcr.io/stefanprodan/podinfo:6.0.1",
    expected: "promoted",
    outcome: "promoted",
    durationMs: 48_000,
    weights: [20, 40, 60],
    steps: 3,
    failedChecks: 0,
    threshold: 2,
  };
  const rolledBack: ReleaseResult = {
    index: 2,
    total: 2,
    image: "ghcr.io/stefanprodan/podinfo:6.0.2",
    expected: "rolled back",
    outcome: "rolled back",
    durationMs: 23_000,
    weights: [20],
    steps: 2,
    failedChecks: 2,
    threshold: 2,
    reason: "request-success-rate 89.90 is below the minimum 99 (prometheus)",
  };

  it("formats durations", () => {
    expect(duration(48_400)).toBe("48s");
    expect(duration(125_000)).toBe("2m05s");
  });

  it("gives each release's result, duration and steps, and the rollback's reason", () => {
    expect(summaryLines([promoted, rolledBack], plain)).toEqual([
      "Summary",
      "  release 1/2  6.0.1  promoted after 48s: 3 analysis steps at 20% -> 40% -> 60%, failed checks 0/2",
      "  release 2/2  6.0.2  rolled back after 23s: 2 analysis steps at 20%, failed checks 2/2",
      "      reason: request-success-rate 89.90 is below the minimum 99 (prometheus)",
    ]);
  });

  it("on real traffic, adds what the requests met: the failed ones and the measured share at each weight", () => {
    const lines = summaryLines(
      [
        {
          ...promoted,
          traffic: {
            requests: 2_504,
            failed: 0,
            failures: "",
            steps: [
              { weight: 20, answered: 98, requests: 500 },
              { weight: 40, answered: 203, requests: 499 },
              { weight: 60, answered: 0, requests: 0 },
            ],
          },
        },
        {
          ...rolledBack,
          traffic: {
            requests: 1_020,
            failed: 37,
            failures: "HTTP 400 ×14, HTTP 500 ×12, HTTP 409 ×11",
            steps: [{ weight: 20, answered: 66, requests: 497 }],
          },
        },
      ],
      plain,
    );
    expect(lines[2]).toBe(
      "      traffic: 2,504 requests, 0 failed; 6.0.1 answered 19.6% at weight 20%, 40.7% at weight 40%, - at weight 60%",
    );
    expect(lines[4]).toBe(
      "      traffic: 1,020 requests, 37 failed (HTTP 400 ×14, HTTP 500 ×12, HTTP 409 ×11); 6.0.2 answered 13.3% at weight 20%",
    );
    expect(lines[5]).toBe("      reason: request-success-rate 89.90 is below the minimum 99 (prometheus)");
  });

  it("says what was expected when a release went the wrong way or nowhere", () => {
    const lines = summaryLines(
      [
        { ...promoted, outcome: "rolled back" },
        { ...rolledBack, outcome: undefined, weights: [], steps: 0 },
      ],
      plain,
    );
    expect(lines[1]).toContain("rolled back (expected: promoted) after 48s");
    expect(lines[2]).toContain(
      "neither promoted nor rolled back (expected: rolled back) after 23s: 0 analysis steps,",
    );
  });
});

describe("the demo's closing hints", () => {
  const input = {
    kubeconfig: ".kanaria/demo/kubeconfig",
    namespace: "podinfo",
    name: "podinfo",
    route: "ingress" as const,
    demoDir: ".kanaria/demo",
  };

  it("offers no kubectl command for a cluster it has torn down, and says how to keep it", () => {
    const hints = closingHints({ ...input, keep: false });
    expect(hints.some((l) => l.includes("kubectl -n") || l.includes("KUBECONFIG="))).toBe(false);
    expect(hints).toContain("    KANARIA_DEMO_KEEP=1 make demo");
  });

  it("offers kubectl commands while the kept cluster runs, and how to stop it", () => {
    const hints = closingHints({ ...input, keep: true });
    expect(hints).toContain("  export KUBECONFIG=.kanaria/demo/kubeconfig");
    expect(hints).toContain("  kubectl -n podinfo get ingress podinfo-canary -o yaml");
    expect(hints.at(-1)).toBe("    KANARIA_CLUSTER_DIR=.kanaria/demo bash test/cluster/cluster.sh down");
    expect(closingHints({ ...input, keep: true, route: "httproute" })).toContain(
      "  kubectl -n podinfo get httproute podinfo -o yaml",
    );
    expect(hints.some((l) => l.includes("curl"))).toBe(false);
    expect(hints).toContain(
      "  The controller and the simulator are stopped. Stop the cluster with (the next make demo does, too):",
    );
  });

  it("on real traffic, offers a request through Traefik as the demo sent them", () => {
    const hints = closingHints({
      ...input,
      keep: true,
      route: "httproute",
      proxy: { url: "http://127.0.0.1:40001", host: "podinfo.example.test" },
    });
    expect(hints).toContain(
      "  curl -s -H 'Host: podinfo.example.test' http://127.0.0.1:40001/   # podinfo through Traefik, as the demo's requests went",
    );
    expect(hints).toContain(
      "  The controller and the demo's requests are stopped. Stop the cluster with (the next make demo does, too):",
    );
    expect(hints.at(-1)).toBe("    KANARIA_CLUSTER_DIR=.kanaria/demo bash test/cluster/cluster.sh down");
  });
});
