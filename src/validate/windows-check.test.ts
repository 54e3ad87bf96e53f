import { describe, expect, it } from "vitest";
import { validateSources } from "./index.ts";

const canary = (windows: string) => `apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    name: podinfo
  service:
    port: 80
  analysis:
    stepWeight: 10
${windows}`;

const problems = (text: string) =>
  validateSources([{ file: "canary.yaml", text }]).problems.map((p) => `${p.line}:${p.path}: ${p.message}`);

describe("kanaria validate: promotion and freeze windows", () => {
  it("accepts valid windows", () => {
    expect(
      problems(
        canary(`    promotionWindows:
      - schedule: "0 9 * * 1-5"
        duration: 8h
        timeZone: Europe/Berlin
    freezeWindows:
      - schedule: "0 0 24 12 *"
        duration: 72h`),
      ),
    ).toEqual([]);
  });

  it("names a bad cron expression and an unknown time zone at their lines", () => {
    expect(
      problems(
        canary(`    promotionWindows:
      - schedule: "0 25 * * *"
        duration: 8h
    freezeWindows:
      - schedule: "0 0 24 12 *"
        duration: 1h
        timeZone: Europe/Atlantis`),
      ),
    ).toEqual([
      expect.stringMatching(
        /^14:spec\.analysis\.promotionWindows\[0\]\.schedule: invalid cron expression "0 25 \* \* \*": .*out of range/,
      ),
      expect.stringMatching(
        /^19:spec\.analysis\.freezeWindows\[0\]\.timeZone: unknown time zone "Europe\/Atlantis"/,
      ),
    ]);
  });
});
