import { describe, expect, it } from "vitest";
import { validateSources } from "./index.ts";

const canary = (spec: string) => `apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: gatewayapi
  targetRef:
    name: podinfo
${spec}`;

const route = (backendRefs: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: shop
  namespace: test
spec:
  rules:
    - backendRefs:
        - name: cdn
          port: 80
    - backendRefs:
${backendRefs}`;

const problems = (text: string) =>
  validateSources([{ file: "canary.yaml", text }]).problems.map(
    (p) => `${p.severity} ${p.line}:${p.path}: ${p.message}`,
  );

describe("kanaria validate: provider gatewayapi", () => {
  it("accepts a generated route and a routeRef whose route has an apex rule", () => {
    expect(
      problems(
        canary(`  service:
    port: 80
    gatewayRefs:
      - name: public
      - group: ""
        kind: Service
        name: podinfo
  analysis:
    iterations: 5
    mirror: true
    match:
      - headers:
          x-canary:
            regex: "^(a|b)$"
        queryParams:
          beta:
            exact: "1"`),
      ),
    ).toEqual([]);
    expect(
      problems(
        `${canary(`  routeRef:
    name: shop
  service:
    port: 80
  analysis:
    stepWeight: 10`)}
${route(`        - name: podinfo
          port: 80`)}`,
      ),
    ).toEqual([]);
  });

  it("names what HTTPRoute cannot express, and the fix", () => {
    const found = problems(
      canary(`  service:
    port: 80
    gatewayRefs:
      - kind: Service
        group: core
        name: podinfo
    retries:
      attempts: 3
  analysis:
    stepWeight: 10
    mirror: true
    match:
      - headers:
          x-a:
            prefix: v
        method:
          regex: "GET|POST"
        sourceLabels:
          app: web`),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^error \d+:spec\.service\.retries: provider gatewayapi: HTTPRoute retries are not in/,
        ),
        expect.stringMatching(
          /^error \d+:spec\.service\.gatewayRefs\[0\]\.group: a Service parent \(GAMMA\) is in the core group: set group: ""/,
        ),
        expect.stringMatching(
          /^warning \d+:spec\.analysis\.mirror: .*blue\/green analysis \(iterations\) only/,
        ),
        expect.stringMatching(
          /^error \d+:spec\.analysis\.match\[0\]\.headers\.x-a: .*not prefix\/suffix: write it as regex/,
        ),
        expect.stringMatching(/^error \d+:spec\.analysis\.match\[0\]\.method: .*exact/),
        expect.stringMatching(/^error \d+:spec\.analysis\.match\[0\]\.sourceLabels: /),
      ]),
    );
  });

  it("checks the routeRef's HTTPRoute when it is among the files", () => {
    const base = canary(`  routeRef:
    name: shop
  service:
    port: 80
  analysis:
    stepWeight: 10`);
    expect(problems(`${base}\n${route(`        - name: other\n          port: 80`)}`)).toEqual([
      expect.stringMatching(
        /^error \d+:spec\.routeRef\.name: HTTPRoute "shop" \(canary\.yaml\) has no rule whose only backendRef is the apex Service "podinfo"/,
      ),
    ]);
    expect(
      problems(
        `${base}\n${route(`        - name: podinfo\n          port: 80\n        - name: legacy\n          port: 80`)}`,
      ),
    ).toEqual([
      expect.stringMatching(
        /spec\.rules\[1\] sends traffic to the apex Service "podinfo" and to other backends/,
      ),
    ]);
  });
});
