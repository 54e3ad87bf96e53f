import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { formatSummary } from "./format.ts";
import { validateSources } from "./index.ts";

type Obj = Record<string, unknown>;

/** A Canary as Flagger's docs write one, with only the apiVersion changed. */
const canary = (spec: Obj): Obj => ({
  apiVersion: "kanaria.dev/v1alpha1",
  kind: "Canary",
  metadata: { name: "podinfo", namespace: "test" },
  spec: {
    targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
    service: { port: 9898 },
    ...spec,
  },
});

function validate(o: Obj) {
  return validateSources([{ file: "c.yaml", text: stringify(o) }]);
}

const gateway = { gatewayRefs: [{ name: "public", namespace: "gateways" }], port: 9898 };

describe("Flagger's spellings and deprecated fields", () => {
  it.each<[string, Obj, { severity: string; path: string; message: string }[]]>([
    [
      "gatewayapi:v1 runs gatewayapi (a note, not a warning)",
      { provider: "gatewayapi:v1", service: gateway, analysis: { stepWeight: 10 } },
      [
        {
          severity: "note",
          path: "spec.provider",
          message:
            "provider gatewayapi:v1 runs kanaria's gatewayapi router (it writes HTTPRoutes as gateway.networking.k8s.io/v1)",
        },
      ],
    ],
    [
      "gatewayapi:v1beta1 runs gatewayapi",
      { provider: "gatewayapi:v1beta1", service: gateway, analysis: { iterations: 5 } },
      [
        {
          severity: "note",
          path: "spec.provider",
          message:
            "provider gatewayapi:v1beta1 runs kanaria's gatewayapi router (it writes HTTPRoutes as gateway.networking.k8s.io/v1, which every Gateway API release since v1.0 serves as v1beta1 too)",
        },
      ],
    ],
    [
      "appmesh:v1beta2 needs no meshName",
      { provider: "appmesh:v1beta2", analysis: { stepWeight: 10 } },
      [
        {
          severity: "note",
          path: "spec.provider",
          message:
            "provider appmesh:v1beta2 runs kanaria's appmesh router (it writes appmesh.k8s.aws/v1beta2 objects without a mesh name: App Mesh takes the namespace's mesh)",
        },
      ],
    ],
    [
      "iterations with stepWeight: iterations win, and the warning says so",
      { provider: "kubernetes", analysis: { iterations: 10, stepWeight: 5 } },
      [
        {
          severity: "warning",
          path: "spec.analysis.stepWeight",
          message:
            "analysis.stepWeight ignored: analysis.iterations selects blue/green, as in Flagger; remove it to silence this warning",
        },
      ],
    ],
    [
      "the kubernetes provider with stepWeight runs blue/green",
      { provider: "kubernetes", analysis: { stepWeight: 20, maxWeight: 60 } },
      [
        {
          severity: "warning",
          path: "spec.analysis.stepWeight",
          message:
            "analysis.stepWeight and analysis.maxWeight ignored: provider kubernetes switches all traffic at once (blue/green), run with analysis.iterations 10, as in Flagger; remove it to silence this warning",
        },
      ],
    ],
    [
      "the kubernetes provider with match runs blue/green, with Flagger's 10 iterations",
      {
        provider: "kubernetes",
        analysis: { match: [{ headers: { "x-canary": { exact: "insider" } } }] },
      },
      [
        {
          severity: "warning",
          path: "spec.analysis.match",
          message:
            "analysis.match ignored: provider kubernetes cannot route by header or cookie (A/B testing), as in Flagger; remove it to silence this warning",
        },
      ],
    ],
    [
      "without provider, neither iterations nor weights",
      { analysis: { interval: "1m" } },
      [
        {
          severity: "error",
          path: "spec.analysis.stepWeight",
          message: "set stepWeight or stepWeights (canary) or iterations (blue/green, A/B)",
        },
      ],
    ],
    [
      "empty webhook type and alert severity, disableTLS, threshold and query are accepted",
      {
        provider: "kubernetes",
        analysis: {
          iterations: 3,
          webhooks: [{ name: "load", type: "", url: "https://tester.test/", disableTLS: true }],
          alerts: [{ name: "on-call", severity: "", providerRef: { name: "slack" } }],
          metrics: [
            { name: "request-success-rate", threshold: 99 },
            { name: "request-duration", threshold: 500 },
            {
              name: "404s",
              threshold: 3,
              query: 'sum(rate(http_requests_total{status="404"}[{{ interval }}]))',
            },
          ],
        },
      },
      [{ severity: "warning", path: "spec.analysis.alerts[0].providerRef", message: expect.any(String) }],
    ],
  ])("%s", (_name, spec, expected) => {
    const { problems } = validate(canary(spec));
    expect(problems.map(({ severity, path, message }) => ({ severity, path, message }))).toEqual(expected);
  });

  it("counts notes apart: they never fail a run, even with --strict", () => {
    const o = canary({ provider: "gatewayapi:v1", service: gateway, analysis: { stepWeight: 10 } });
    const strict = validateSources([{ file: "c.yaml", text: stringify(o) }], { strict: true });
    expect(strict).toMatchObject({ errors: 0, warnings: 0, notes: 1, exitCode: 0 });
    expect(formatSummary(strict)).toBe("1 file, 1 kanaria object: 0 errors, 0 warnings, 1 note");
  });
});
