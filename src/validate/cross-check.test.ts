import { describe, expect, it } from "vitest";
import { type Problem, type SourceFile, validateSources } from "./index.ts";

function canary(opts: {
  name?: string;
  namespace?: string;
  target?: string;
  service?: string;
  analysis?: string;
}): string {
  return `apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: ${opts.name ?? "podinfo"}
${opts.namespace === undefined ? "" : `  namespace: ${opts.namespace}\n`}spec:
  targetRef:
    name: ${opts.target ?? "podinfo"}
  service:
${opts.service ?? "    port: 80"}
  analysis:
    stepWeight: 10
${opts.analysis ?? ""}`;
}

function deployment(ports: string, namespace = "test"): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: ${namespace}
spec:
  template:
    spec:
      containers:
        - name: app
          ports:
${ports}`;
}

const HTTP_PORTS = `            - name: http
              containerPort: 9898
            - name: metrics
              containerPort: 9797`;

function check(...files: (string | SourceFile)[]): Problem[] {
  const sources = files.map((f, i) => (typeof f === "string" ? { file: `f${i}.yaml`, text: f } : f));
  return validateSources(sources).problems;
}

describe("references to MetricTemplates and AlertProviders", () => {
  const metric = (ref: string) => `    metrics:
      - name: latency
        thresholdRange:
          max: 1
        templateRef:
${ref}`;
  const template = (namespace?: string) => `apiVersion: kanaria.dev/v1alpha1
kind: MetricTemplate
metadata:
  name: latency
${namespace === undefined ? "" : `  namespace: ${namespace}\n`}spec:
  provider:
    type: prometheus
  query: up`;

  it("warns about a template that is not among the inputs, naming it with the Canary's namespace", () => {
    expect(check(canary({ namespace: "test", analysis: metric("          name: latency") }))).toEqual([
      expect.objectContaining({
        severity: "warning",
        line: 17,
        column: 9,
        path: "spec.analysis.metrics[0].templateRef",
        message:
          'MetricTemplate "test/latency" is not among the validated files: add its manifest, or ignore this if it is applied to the cluster some other way',
      }),
    ]);
  });

  it("resolves a reference without namespace in the Canary's namespace", () => {
    expect(
      check(canary({ namespace: "test", analysis: metric("          name: latency") }), template("test")),
    ).toEqual([]);
  });

  it("resolves an explicit namespace", () => {
    const ref = "          name: latency\n          namespace: monitoring";
    expect(check(canary({ namespace: "test", analysis: metric(ref) }), template("monitoring"))).toEqual([]);
  });

  it("counts an object without namespace as being in the referrer's namespace", () => {
    expect(
      check(canary({ namespace: "test", analysis: metric("          name: latency") }), template()),
    ).toEqual([]);
    expect(check(canary({ analysis: metric("          name: latency") }), template())).toEqual([]);
  });

  it("does not match a namespace-less object against an explicit other namespace", () => {
    const ref = "          name: latency\n          namespace: monitoring";
    expect(check(canary({ namespace: "test", analysis: metric(ref) }), template())).toHaveLength(1);
  });

  it("points at a same-named object in another namespace", () => {
    const [p] = check(
      canary({ namespace: "test", analysis: metric("          name: latency") }),
      template("monitoring"),
    );
    expect(p?.message).toBe(
      'MetricTemplate "test/latency" is not among the validated files; there is one in namespace "monitoring" (f1.yaml:1): set templateRef.namespace',
    );
  });

  it("warns about a missing AlertProvider", () => {
    const alerts =
      "    alerts:\n      - name: team\n        providerRef:\n          name: slack\n          namespace: ops";
    expect(check(canary({ namespace: "test", analysis: alerts }))).toEqual([
      expect.objectContaining({
        severity: "warning",
        path: "spec.analysis.alerts[0].providerRef",
        message: expect.stringContaining('AlertProvider "ops/slack" is not among the validated files'),
      }),
    ]);
  });
});

describe("target Deployment ports", () => {
  it.each([
    ["a targetPort number", "    port: 80\n    targetPort: 9898"],
    ["a targetPort name", "    port: 80\n    targetPort: http"],
    ["port when targetPort is absent", "    port: 9797"],
  ])("accepts %s that a container declares", (_, service) => {
    expect(check(canary({ namespace: "test", service }), deployment(HTTP_PORTS))).toEqual([]);
  });

  it("rejects a targetPort number no container declares, listing the ports", () => {
    expect(
      check(
        canary({ namespace: "test", service: "    port: 80\n    targetPort: 8080" }),
        deployment(HTTP_PORTS),
      ),
    ).toEqual([
      expect.objectContaining({
        severity: "error",
        line: 11,
        column: 17,
        path: "spec.service.targetPort",
        message:
          'Deployment "podinfo" (f1.yaml:1) has no container port 8080; its ports are 9898 (http), 9797 (metrics): set service.targetPort to one of them',
      }),
    ]);
  });

  it("rejects a targetPort name no container declares", () => {
    const [p] = check(
      canary({ namespace: "test", service: "    port: 80\n    targetPort: web" }),
      deployment(HTTP_PORTS),
    );
    expect(p?.message).toContain('has no container port named "web"');
  });

  it("checks service.port when targetPort is absent", () => {
    const [p] = check(canary({ namespace: "test" }), deployment(HTTP_PORTS));
    expect(p).toMatchObject({
      path: "spec.service.port",
      message: expect.stringContaining("set service.port to one of them"),
    });
  });

  it("explains a Deployment that declares no ports", () => {
    const noPorts = deployment("            []");
    const [p] = check(canary({ namespace: "test" }), noPorts);
    expect(p?.message).toContain("it declares no container ports");
  });

  it("ignores a Deployment in another namespace, and a target that is not among the inputs", () => {
    expect(check(canary({ namespace: "prod" }), deployment(HTTP_PORTS, "test"))).toEqual([]);
    expect(check(canary({ namespace: "test" }))).toEqual([]);
  });

  it("skips targets that are not Deployments", () => {
    const daemonSet = canary({ namespace: "test" }).replace(
      "  targetRef:\n",
      "  targetRef:\n    kind: DaemonSet\n",
    );
    expect(check(daemonSet, deployment(HTTP_PORTS))).toEqual([]);
  });
});

describe("Canaries with the same target", () => {
  it("reports the second one, naming the first with its file and line", () => {
    const problems = check(
      { file: "a/one.yaml", text: canary({ name: "one", namespace: "test" }) },
      { file: "b/two.yaml", text: canary({ name: "two", namespace: "test" }) },
    );
    expect(problems).toEqual([
      expect.objectContaining({
        file: "b/two.yaml",
        line: 7,
        column: 3,
        severity: "error",
        name: "two",
        path: "spec.targetRef",
        message:
          'targets the same Deployment "podinfo" as Canary "one" (a/one.yaml:7): a workload can be released by one Canary only',
      }),
    ]);
  });

  it("finds duplicates within one file", () => {
    const text = `${canary({ name: "one", namespace: "test" })}---\n${canary({ name: "two", namespace: "test" })}`;
    expect(check(text)).toHaveLength(1);
  });

  it("allows the same target in different namespaces", () => {
    expect(check(canary({ name: "one", namespace: "a" }), canary({ name: "two", namespace: "b" }))).toEqual(
      [],
    );
  });

  it("compares namespace-less Canaries only within one directory", () => {
    const one = canary({ name: "one" });
    const two = canary({ name: "two" });
    expect(
      check({ file: "apps/x/one.yaml", text: one }, { file: "apps/x/two.yaml", text: two }),
    ).toHaveLength(1);
    expect(check({ file: "staging/c.yaml", text: one }, { file: "prod/c.yaml", text: two })).toEqual([]);
  });
});
