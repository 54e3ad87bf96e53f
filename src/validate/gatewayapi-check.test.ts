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
        group: networking.k8s.io
        name: podinfo
  analysis:
    stepWeight: 10
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
          /^error \d+:spec\.service\.gatewayRefs\[0\]\.group: a Service parent \(GAMMA\) is in the core group: set group: "" \(or core\)/,
        ),
        expect.stringMatching(
          /^error \d+:spec\.analysis\.match\[0\]\.headers\.x-a: .*not prefix\/suffix: write it as regex/,
        ),
        expect.stringMatching(/^error \d+:spec\.analysis\.match\[0\]\.method: .*exact/),
        expect.stringMatching(/^error \d+:spec\.analysis\.match\[0\]\.sourceLabels: /),
      ]),
    );
  });

  it("warns that analysis.mirror is ignored outside blue/green, as Flagger ignores it", () => {
    expect(
      problems(
        canary(`  service:
    port: 80
    gatewayRefs:
      - name: public
  analysis:
    stepWeight: 10
    mirror: true`),
      ),
    ).toEqual([
      expect.stringMatching(
        /^warning \d+:spec\.analysis\.mirror: analysis\.mirror ignored: provider gatewayapi mirrors requests during a blue\/green analysis \(analysis\.iterations without match\) only, not in a canary \(stepWeight\) analysis, as in Flagger; remove it to silence this warning$/,
      ),
    ]);
  });

  it("checks Flagger's spellings gatewayapi:v1 and gatewayapi:v1beta1 as gatewayapi", () => {
    for (const spelling of ["gatewayapi:v1", "gatewayapi:v1beta1"]) {
      const text = canary(`  service:
    port: 80
    gatewayRefs:
      - kind: Service
        group: networking.k8s.io
        name: podinfo
  analysis:
    stepWeight: 10`).replace("provider: gatewayapi", `provider: ${spelling}`);
      expect(problems(text), spelling).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /^error \d+:spec\.service\.gatewayRefs\[0\]\.group: a Service parent \(GAMMA\)/,
          ),
        ]),
      );
    }
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

  it("accepts Flagger's Gateway API fields: a Linkerd Service parent, timeouts, filters, cookie attributes, Services", () => {
    expect(
      problems(
        canary(`  service:
    port: 80
    headless: true
    trafficDistribution: PreferClose
    unmanagedMetadata:
      annotations: [lb.example/pool]
    gatewayRefs:
      - group: core
        kind: Service
        name: podinfo
        port: 80
    timeout: 30s
    backendTimeout: 10s
    rewrite:
      uri: /v2
      authority: api.internal
    mirror:
      - backendRef:
          name: shadow
          port: 8080
    corsPolicy:
      allowOrigin: ["https://example.com"]
      allowMethods: [GET, POST]
      maxAge: 24h
      allowCredentials: true
  analysis:
    interval: 1m
    stepWeight: 10
    sessionAffinity:
      cookieName: flagger-cookie
      domain: example.com
      path: /
      sameSite: Strict
      secure: true
      httpOnly: true
      partitioned: true`),
      ),
    ).toEqual([]);
  });

  it("refuses what the HTTPRoute cannot take, naming the field", () => {
    const found = problems(
      canary(`  service:
    port: 80
    gatewayRefs: [{ name: public }]
    corsPolicy:
      allowOrigin: ["example.com"]
      allowOrigins:
        - prefix: https://
  analysis:
    stepWeight: 10`),
    );
    expect(found).toEqual([
      expect.stringMatching(
        /^error \d+:spec\.service\.corsPolicy\.allowOrigins: corsPolicy\.allowOrigins \(string patterns\) cannot be written as a Gateway API CORS filter: list the origins in corsPolicy\.allowOrigin/,
      ),
    ]);
    expect(
      problems(
        canary(`  service:
    port: 80
    gatewayRefs: [{ name: public }]
    corsPolicy:
      allowOrigin: ["example.com"]
  analysis:
    stepWeight: 10`),
      ),
    ).toEqual([
      expect.stringMatching(
        /^error \d+:spec\.service\.corsPolicy\.allowOrigin\[0\]: provider gatewayapi: corsPolicy\.allowOrigin\[0\] is "example\.com", not an origin such as/,
      ),
    ]);
  });

  it("refuses the HTTPRoute fields on other providers and beside routeRef", () => {
    const other = problems(`apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: nginx
  ingressRef:
    name: podinfo
  targetRef:
    name: podinfo
  service:
    port: 80
    rewrite:
      uri: /
  analysis:
    stepWeight: 10`);
    expect(other).toEqual([
      expect.stringMatching(
        /^error \d+:spec\.service\.rewrite: service\.rewrite sets the HTTPRoute URLRewrite filter, which only provider gatewayapi writes \(Flagger ignores it on kubernetes, nginx and appmesh too\): remove it or use provider gatewayapi/,
      ),
    ]);
    const withRouteRef = problems(
      canary(`  routeRef:
    name: shop
  service:
    port: 80
    backendTimeout: 5s
  analysis:
    stepWeight: 10`),
    );
    expect(withRouteRef).toEqual([
      expect.stringMatching(
        /^error \d+:spec\.service\.backendTimeout: service\.backendTimeout goes into the HTTPRoute kanaria generates, but routeRef's HTTPRoute is used as it is/,
      ),
    ]);
  });

  it("refuses the generated route's gatewayRefs, hosts, match, timeout and headers beside routeRef (never read)", () => {
    const found = problems(
      canary(`  routeRef:
    name: shop
  service:
    port: 80
    gatewayRefs:
      - name: public
    hosts: [app.example.com]
    match:
      - uri:
          prefix: /api
    timeout: 30s
    headers:
      request:
        set:
          x-a: "1"
  analysis:
    stepWeight: 10`),
    );
    expect(found).toEqual(
      ["gatewayRefs", "hosts", "match", "timeout", "headers"].map((field) =>
        expect.stringMatching(
          new RegExp(
            `^error \\d+:spec\\.service\\.${field}: service\\.${field} goes into the HTTPRoute kanaria generates, but routeRef's HTTPRoute is used as it is: write it into that HTTPRoute, or remove routeRef$`,
          ),
        ),
      ),
    );
  });

  it("refuses service.retries, which HTTPRoute has no standard field for, with the way to get retries", () => {
    expect(
      problems(
        canary(`  service:
    port: 80
    gatewayRefs:
      - name: public
    retries:
      attempts: 3
  analysis:
    stepWeight: 10`),
      ),
    ).toEqual([
      expect.stringMatching(
        /^error \d+:spec\.service\.retries: service\.retries sets the retry policy of the App Mesh route, which only provider appmesh writes .*: remove it or use provider appmesh; with gatewayapi, configure retries with your implementation \(e\.g\. Envoy Gateway's BackendTrafficPolicy\)/,
      ),
    ]);
  });
});
