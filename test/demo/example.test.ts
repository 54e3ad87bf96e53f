// Keeps `make demo` honest without running it: examples/podinfo/ validates, and the simulator's
// profiles make the good release pass the Canary's checks and the bad one fail them.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/api/common.ts";
import { tagOf } from "../../src/cli/view.ts";
import { validatePaths } from "../../src/validate/index.ts";
import { EXAMPLES_DIR, IMAGE_REPO, loadExample, PROFILES, type Profile, RELEASES } from "./example.ts";
import { REPO_ROOT } from "./processes.ts";

describe("examples/podinfo", () => {
  it("passes `kanaria validate --strict`, and so does every other example directory", async () => {
    const own = await validatePaths([EXAMPLES_DIR], { strict: true });
    expect(own.problems).toEqual([]);
    expect(own.objects).toBe(1);
    // Each example is a starting point of its own (several release the same podinfo), so each is
    // validated as the repository a user would copy it into.
    const dirs = readdirSync(`${REPO_ROOT}/examples`, { withFileTypes: true }).filter((d) => d.isDirectory());
    expect(dirs.length).toBeGreaterThan(5);
    for (const dir of dirs) {
      const result = await validatePaths([`${REPO_ROOT}/examples/${dir.name}`], { strict: false });
      expect(
        result.problems.filter((p) => p.severity === "error"),
        `examples/${dir.name}`,
      ).toEqual([]);
      expect(result.exitCode, `examples/${dir.name}`).toBe(0);
    }
  });

  it("is the app and Canary the demo describes", () => {
    const example = loadExample();
    expect(example.objects.map((o) => `${o.obj.kind}/${o.obj.metadata.name}`)).toEqual([
      "Namespace/podinfo",
      "Deployment/podinfo",
      "Ingress/podinfo",
      "Canary/podinfo",
    ]);
    expect(example.startImage).toBe(`${IMAGE_REPO}:6.0.0`);
    const { spec } = example.canary;
    expect(spec.provider).toBe("nginx");
    expect(spec.ingressRef?.name).toBe("podinfo");
    expect(spec.analysis).toMatchObject({ interval: "10s", threshold: 2, stepWeight: 20, maxWeight: 60 });
    expect(spec.analysis.metrics?.map((m) => m.name)).toEqual(["request-success-rate", "request-duration"]);
    // A few minutes in all: steps at 20, 40 and 60, each an interval long.
    const stepsMs =
      ((spec.analysis.maxWeight ?? 100) / (spec.analysis.stepWeight ?? 1)) * parseDuration("10s");
    expect(stepsMs).toBeLessThanOrEqual(60_000);
  });

  it("has simulator profiles that pass the checks for the good release and fail them for the bad one", () => {
    const { canary, startImage } = loadExample();
    const metrics = canary.spec.analysis.metrics ?? [];
    const passes = (p: Profile): boolean =>
      metrics.every((m) => {
        const range = m.thresholdRange ?? {};
        // request-success-rate is a percentage; request-duration the p99 in milliseconds.
        const value = m.name === "request-success-rate" ? p.successRate * 100 : p.p99;
        return (
          (range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max)
        );
      });
    expect(PROFILES[tagOf(startImage)]).toBeDefined();
    for (const release of RELEASES) {
      const profile = PROFILES[release.tag];
      expect(profile, `a profile for ${release.tag}`).toBeDefined();
      expect(passes(profile as Profile), release.tag).toBe(release.expected === "promoted");
    }
    expect(RELEASES.map((r) => r.expected)).toEqual(["promoted", "rolled back"]);
  });
});
