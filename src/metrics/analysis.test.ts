import { describe, expect, it } from "vitest";
import type { Canary } from "../api/canary.ts";
import { type ResolvedCanary, resolveCanary } from "../api/defaults.ts";
import type { MetricTemplate } from "../api/metric-template.ts";
import type { KubeClient } from "../kube/types.ts";
import {
  judge,
  kubeLookups,
  offlineProviders,
  type ProviderLookup,
  type RunChecksInput,
  runChecks,
  type SecretLookup,
  type TemplateLookup,
} from "./analysis.ts";
import type { MetricProvider, QueryOptions, QueryResult } from "./provider.ts";

type Metric = ResolvedCanary["metrics"][number];

const NOW = new Date("2026-03-01T12:00:00Z");

const canary: Pick<Canary, "metadata" | "spec"> = {
  metadata: { name: "web", namespace: "shop" },
  spec: {
    provider: "nginx",
    targetRef: { name: "web" },
    ingressRef: { name: "web" },
    service: { port: 80 },
    analysis: { interval: "1m", iterations: 1 },
  },
};

function metric(name: string, extra: Partial<Metric> = {}): Metric {
  return { name, interval: "1m", onNoData: "fail", ...extra };
}

function template(
  name: string,
  spec: Partial<MetricTemplate["spec"]> = {},
  namespace = "shop",
): MetricTemplate {
  return {
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "MetricTemplate",
    metadata: { name, namespace },
    spec: { provider: { type: "prometheus", address: "http://prom:9090" }, query: "up", ...spec },
  };
}

interface Call {
  provider: Parameters<ProviderLookup>[0];
  credentials: Parameters<ProviderLookup>[1];
  reduce: Parameters<ProviderLookup>[2];
  query: string;
  options: QueryOptions;
}

/** A provider that answers from a table of rendered queries (or a function of them). */
function fakeProviders(
  answer: (query: string) => Promise<QueryResult> | QueryResult,
  calls: Call[] = [],
): ProviderLookup {
  return (provider, credentials, reduce) => {
    const p: MetricProvider = {
      async query(query, options) {
        calls.push({ provider, credentials, reduce, query, options });
        return answer(query);
      },
      async isOnline() {},
    };
    return p;
  };
}

function input(overrides: Partial<RunChecksInput> & { metrics: Metric[] }): RunChecksInput {
  const { metrics, ...rest } = overrides;
  const templates: TemplateLookup = async () => undefined;
  const secrets: SecretLookup = async () => undefined;
  return {
    canary,
    resolved: { provider: "nginx", metrics },
    defaultMetricsServer: "http://default-prom:9090",
    providers: fakeProviders(() => ({ kind: "value", value: 1 })),
    templates,
    secrets,
    now: () => NOW,
    ...rest,
  };
}

const value = (v: number): QueryResult => ({ kind: "value", value: v });

describe("judge", () => {
  const m = (thresholdRange?: { min?: number; max?: number }) => ({
    name: "latency",
    ...(thresholdRange ? { thresholdRange } : {}),
  });

  it("is inclusive at both ends", () => {
    expect(judge(m({ min: 1, max: 5 }), value(1), "prometheus", "x").result).toBe("pass");
    expect(judge(m({ min: 1, max: 5 }), value(5), "prometheus", "x").result).toBe("pass");
    expect(judge(m({ min: 1, max: 5 }), value(0.999), "prometheus", "x").result).toBe("fail");
    expect(judge(m({ min: 1, max: 5 }), value(5.001), "prometheus", "x").result).toBe("fail");
  });

  it("names metric, value, bound and provider", () => {
    expect(
      judge({ name: "request-success-rate", thresholdRange: { min: 99 } }, value(87.5), "prometheus", "x"),
    ).toEqual({
      result: "fail",
      value: 87.5,
      message: "request-success-rate 87.50 is below the minimum 99 (prometheus)",
    });
    expect(judge(m({ max: 500 }), value(812.3456), "cloudwatch", "x").message).toBe(
      "latency 812.35 is above the maximum 500 (cloudwatch)",
    );
    expect(judge(m({ min: 1, max: 5 }), value(3), "prometheus", "x").message).toBe(
      "latency 3.00 is within the range (minimum 1, maximum 5) (prometheus)",
    );
  });

  it("passes a value without thresholdRange and says it was not judged", () => {
    expect(judge(m(), value(3), "prometheus", "x")).toMatchObject({
      result: "pass",
      message: "latency 3.00 has no thresholdRange to judge against (prometheus)",
    });
  });
});

describe("runChecks", () => {
  it("queries the router's built-in metric at the Canary's metricsServer, else the controller's", async () => {
    const calls: Call[] = [];
    const checks = await runChecks(
      input({
        metrics: [metric("request-success-rate", { thresholdRange: { min: 99 } })],
        providers: fakeProviders(() => value(87.5), calls),
      }),
    );
    expect(checks).toEqual([
      {
        name: "request-success-rate",
        result: "fail",
        value: 87.5,
        thresholdRange: { min: 99 },
        provider: "prometheus",
        message: "request-success-rate 87.50 is below the minimum 99 (prometheus)",
        time: NOW.toISOString(),
      },
    ]);
    expect(calls[0]?.provider).toEqual({ type: "prometheus", address: "http://default-prom:9090" });
    expect(calls[0]?.query).toContain('ingress="web", canary!=""');
    expect(calls[0]?.options).toEqual({
      intervalMs: 60_000,
      timeoutMs: 10_000,
      now: NOW,
      signal: expect.any(AbortSignal),
    });

    const own = { ...canary, spec: { ...canary.spec, metricsServer: "http://canary-prom:9090" } };
    await runChecks(
      input({
        canary: own,
        metrics: [metric("request-duration")],
        providers: fakeProviders(() => value(1), calls),
      }),
    );
    expect(calls[1]?.provider.address).toBe("http://canary-prom:9090");
  });

  it("runs Flagger's deprecated inline query against the Canary's Prometheus, judged by its threshold", async () => {
    const calls: Call[] = [];
    const spec = {
      ...canary.spec,
      metricsServer: "http://canary-prom:9090",
      analysis: {
        iterations: 1,
        metrics: [
          {
            name: "404s",
            query: 'sum(rate(requests{ns="{{ namespace }}",code="404"}[{{ interval }}]))',
            threshold: 5,
          },
        ],
      },
    };
    const { metrics } = resolveCanary(spec);
    const over = await runChecks(
      input({ canary: { ...canary, spec }, metrics, providers: fakeProviders(() => value(7), calls) }),
    );
    expect(over).toEqual([
      expect.objectContaining({
        name: "404s",
        result: "fail",
        value: 7,
        thresholdRange: { max: 5 },
        provider: "prometheus",
        message: "404s 7.00 is above the maximum 5 (prometheus)",
      }),
    ]);
    expect(calls[0]?.provider).toEqual({ type: "prometheus", address: "http://canary-prom:9090" });
    expect(calls[0]?.query).toBe('sum(rate(requests{ns="shop",code="404"}[1m]))');
    const under = await runChecks(
      input({ canary: { ...canary, spec }, metrics, providers: fakeProviders(() => value(5)) }),
    );
    expect(under[0]).toMatchObject({ result: "pass", value: 5 });
  });

  it("judges Flagger's deprecated threshold as a floor for the success rate and a ceiling in ms for the duration", async () => {
    const spec = {
      ...canary.spec,
      analysis: {
        iterations: 1,
        metrics: [
          { name: "request-success-rate", threshold: 99 },
          { name: "request-duration", threshold: 500 },
        ],
      },
    };
    const { metrics } = resolveCanary(spec);
    const checks = await runChecks(
      input({
        canary: { ...canary, spec },
        metrics,
        providers: fakeProviders((q) => value(q.includes("histogram_quantile") ? 501 : 98.5)),
      }),
    );
    expect(checks.map((c) => [c.name, c.result, c.message])).toEqual([
      ["request-success-rate", "fail", "request-success-rate 98.50 is below the minimum 99 (prometheus)"],
      ["request-duration", "fail", "request-duration 501.00 is above the maximum 500 (prometheus)"],
    ]);
  });

  it("reads the series of the implementation serving the route, and its messages name them", async () => {
    const calls: Call[] = [];
    const gateway = {
      ...canary,
      spec: { ...canary.spec, provider: "gatewayapi" as const, ingressRef: undefined },
    };
    const checks = await runChecks(
      input({
        canary: gateway,
        metrics: [],
        resolved: {
          provider: "gatewayapi",
          metrics: [metric("request-success-rate", { thresholdRange: { min: 99 } })],
        },
        series: "traefik-gateway",
        providers: fakeProviders((q) => (q.includes("web-canary") ? value(66.4) : value(100)), calls),
      }),
    );
    expect(calls.map((c) => c.query)).toEqual([
      expect.stringContaining(
        'traefik_service_requests_total{service=~"shop-web-canary-http-[0-9]+@kubernetesgateway|',
      ),
    ]);
    expect(checks).toMatchObject([
      {
        result: "fail",
        value: 66.4,
        provider: "prometheus",
        series: "Traefik's series",
        message: "request-success-rate 66.40 is below the minimum 99 (prometheus, Traefik's series)",
      },
    ]);
    // The router's own default series are not named (messages as before).
    const nginx = await runChecks(
      input({
        metrics: [metric("request-success-rate", { thresholdRange: { min: 99 } })],
        series: "ingress-nginx",
      }),
    );
    expect(nginx[0]?.message).toBe("request-success-rate 1.00 is below the minimum 99 (prometheus)");
    expect(nginx[0]).not.toHaveProperty("series");
  });

  it("signs built-in checks and address-less templates for the controller's server, not a Canary's own", async () => {
    const calls: Call[] = [];
    const sigv4 = { region: "us-west-2", roleArn: "arn:aws:iam::123456789012:role/amp" };
    const templates: TemplateLookup = async (_ns, name) =>
      name === "own"
        ? template(name)
        : template(name, {
            provider: {
              type: "prometheus",
              ...(name === "signed" ? { sigv4: { region: "eu-west-1" } } : {}),
            },
          });
    const metrics = [
      metric("request-success-rate"),
      metric("inherits", { templateRef: { name: "inherits" } }),
      metric("signed", { templateRef: { name: "signed" } }),
      metric("own", { templateRef: { name: "own" } }),
    ];
    const providers = fakeProviders(() => value(1), calls);
    await runChecks(input({ metrics, templates, providers, defaultMetricsSigv4: sigv4, concurrency: 1 }));
    expect(calls.map((c) => c.provider.sigv4)).toEqual([sigv4, sigv4, { region: "eu-west-1" }, undefined]);

    const own = { ...canary, spec: { ...canary.spec, metricsServer: "http://canary-prom:9090" } };
    calls.length = 0;
    await runChecks(
      input({ canary: own, metrics, templates, providers, defaultMetricsSigv4: sigv4, concurrency: 1 }),
    );
    expect(calls.map((c) => c.provider.sigv4)).toEqual([
      undefined,
      undefined,
      { region: "eu-west-1" },
      undefined,
    ]);
  });

  it("renders a MetricTemplate from the Canary's namespace by default, with its variables", async () => {
    const calls: Call[] = [];
    const lookedUp: string[] = [];
    const checks = await runChecks(
      input({
        metrics: [
          metric("errors", {
            interval: "30s",
            templateRef: { name: "errors" },
            templateVariables: { code: "404" },
            thresholdRange: { max: 5 },
          }),
        ],
        templates: async (ns, name) => {
          lookedUp.push(`${ns}/${name}`);
          return template(name, {
            query: 'rate(x{ns="{{ namespace }}",code="{{ variables.code }}"}[{{ interval }}])',
          });
        },
        providers: fakeProviders(() => value(2), calls),
      }),
    );
    expect(lookedUp).toEqual(["shop/errors"]);
    expect(calls[0]?.query).toBe('rate(x{ns="shop",code="404"}[30s])');
    expect(calls[0]?.options.intervalMs).toBe(30_000);
    expect(checks[0]).toMatchObject({ result: "pass", value: 2, provider: "prometheus" });
  });

  it("falls back to the Canary's and then the controller's Prometheus for a template without address", async () => {
    const calls: Call[] = [];
    await runChecks(
      input({
        metrics: [metric("m", { templateRef: { name: "t", namespace: "monitoring" } })],
        templates: async (ns, name) => template(name, { provider: { type: "prometheus" } }, ns),
        providers: fakeProviders(() => value(1), calls),
      }),
    );
    expect(calls[0]?.provider).toEqual({ type: "prometheus", address: "http://default-prom:9090" });
  });

  it("passes credentials from the template's secret and the reducer to the provider", async () => {
    const calls: Call[] = [];
    const secretsAsked: string[] = [];
    await runChecks(
      input({
        metrics: [metric("latency", { templateRef: { name: "cw", namespace: "monitoring" } })],
        templates: async (ns, name) =>
          template(
            name,
            {
              provider: { type: "cloudwatch", region: "eu-west-1", secretRef: { name: "aws" } },
              reduce: "max",
            },
            ns,
          ),
        secrets: async (ns, name) => {
          secretsAsked.push(`${ns}/${name}`);
          return { aws_access_key_id: "AKIAEXAMPLE", aws_secret_access_key: "s3cr3t-value" };
        },
        providers: fakeProviders(() => value(1), calls),
      }),
    );
    expect(secretsAsked).toEqual(["monitoring/aws"]);
    expect(calls[0]?.provider).toEqual({
      type: "cloudwatch",
      region: "eu-west-1",
      secretRef: { name: "aws" },
    });
    expect(calls[0]?.credentials).toEqual({
      aws_access_key_id: "AKIAEXAMPLE",
      aws_secret_access_key: "s3cr3t-value",
    });
    expect(calls[0]?.reduce).toBe("max");
  });

  it("reports no data with the reason, leaving onNoData to the controller", async () => {
    const checks = await runChecks(
      input({
        metrics: [metric("request-success-rate", { onNoData: "skip", thresholdRange: { min: 99 } })],
        providers: fakeProviders(() => ({ kind: "nodata", reason: "the query returned an empty vector" })),
      }),
    );
    expect(checks[0]).toMatchObject({
      result: "nodata",
      provider: "prometheus",
      message:
        "request-success-rate: no data from built-in query for nginx (prometheus): the query returned an empty vector",
    });
    expect(checks[0]?.value).toBeUndefined();
  });

  describe("errors, never a pass", () => {
    async function single(
      overrides: Partial<RunChecksInput>,
      m: Metric = metric("custom", { templateRef: { name: "t" } }),
    ) {
      const [check] = await runChecks(input({ metrics: [m], ...overrides }));
      expect(check?.result).toBe("error");
      return check;
    }

    it("a missing MetricTemplate", async () => {
      expect((await single({}))?.message).toBe("custom: MetricTemplate shop/t not found");
    });

    it("a failing template lookup", async () => {
      const check = await single({ templates: async () => Promise.reject(new Error("forbidden")) });
      expect(check?.message).toBe("custom: reading MetricTemplate shop/t failed: forbidden");
    });

    it("a metric that is neither built in nor has a templateRef", async () => {
      expect((await single({}, metric("custom")))?.message).toBe(
        "custom: not a built-in metric and no templateRef is set",
      );
    });

    it("a missing secret", async () => {
      const check = await single({
        templates: async (_, name) =>
          template(name, { provider: { type: "prometheus", secretRef: { name: "prom-auth" } } }),
      });
      expect(check).toMatchObject({
        provider: "prometheus",
        message:
          "custom: MetricTemplate shop/t (prometheus): the secret shop/prom-auth (spec.provider.secretRef) was not found",
      });
    });

    it("a render error names the variable", async () => {
      const check = await single({
        templates: async (_, name) => template(name, { query: "{{ variables.zone }}" }),
      });
      expect(check?.message).toBe(
        "custom: MetricTemplate shop/t (prometheus): rendering the query failed: unknown variable {{ variables.zone }}: the metric's templateVariables define nothing",
      );
    });

    it("a provider error", async () => {
      const check = await single({
        templates: async (_, name) => template(name),
        providers: fakeProviders(() =>
          Promise.reject(new Error("Prometheus at http://prom:9090: HTTP 400 (bad_data): parse error")),
        ),
      });
      expect(check?.message).toBe(
        "custom: MetricTemplate shop/t (prometheus): Prometheus at http://prom:9090: HTTP 400 (bad_data): parse error",
      );
    });

    it("a provider that cannot be built", async () => {
      const check = await single({
        templates: async (_, name) => template(name),
        providers: () => {
          throw new Error('unknown metric provider type "datadog"');
        },
      });
      expect(check?.message).toContain('unknown metric provider type "datadog"');
    });

    it("a query that does not answer in time, and its request is cancelled", async () => {
      const started = Date.now();
      const calls: Call[] = [];
      const check = await single({
        timeoutMs: 50,
        templates: async (_, name) => template(name),
        providers: fakeProviders(() => new Promise<QueryResult>(() => {}), calls),
      });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(check?.message).toBe("custom: MetricTemplate shop/t (prometheus): no answer within 0.05s");
      expect(calls[0]?.options.signal?.aborted).toBe(true);
      expect(String(calls[0]?.options.signal?.reason)).toContain("no answer within 0.05s");
    });
  });

  it("never puts secret values into messages", async () => {
    const [check] = await runChecks(
      input({
        metrics: [metric("m", { templateRef: { name: "t" } })],
        templates: async (_, name) =>
          template(name, { provider: { type: "prometheus", address: "http://p", secretRef: { name: "s" } } }),
        secrets: async () => ({ token: "tok-123456" }),
        providers: fakeProviders(() => Promise.reject(new Error("backend said: bad token tok-123456"))),
      }),
    );
    expect(check?.message).toBe("m: MetricTemplate shop/t (prometheus): backend said: bad token [redacted]");
  });

  it("never puts what the request carried into messages: basic auth, headers, address userinfo", async () => {
    const basic = Buffer.from("ann-user:ann-pass").toString("base64");
    const [check] = await runChecks(
      input({
        metrics: [metric("m", { templateRef: { name: "t" } })],
        templates: async (_, name) =>
          template(name, {
            provider: {
              type: "prometheus",
              address: "http://url-user:url-pass@p:9090",
              secretRef: { name: "s" },
              headers: { "X-Scope-Token": ["hdr-value-1"] },
            },
          }),
        secrets: async () => ({ username: "ann-user", password: "ann-pass" }),
        providers: fakeProviders(() =>
          Promise.reject(
            new Error(
              `echo ${basic} hdr-value-1 http://url-user:url-pass@p:9090 ${encodeURIComponent("url-pass")}`,
            ),
          ),
        ),
      }),
    );
    for (const secret of [basic, "ann-user", "ann-pass", "hdr-value-1", "url-user", "url-pass"]) {
      expect(check?.message).not.toContain(secret);
    }
    expect(check?.message).toBe(
      "m: MetricTemplate shop/t (prometheus): echo [redacted] [redacted] http://p:9090 [redacted]",
    );
  });

  it("runs checks concurrently up to the cap and keeps their order", async () => {
    let running = 0;
    let peak = 0;
    const metrics = Array.from({ length: 7 }, (_, i) => metric(`m${i}`, { templateRef: { name: `t${i}` } }));
    const checks = await runChecks(
      input({
        metrics,
        concurrency: 3,
        templates: async (_, name) => template(name, { query: name }),
        providers: fakeProviders(async (query) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 10 + (7 - Number(query.slice(1))) * 3));
          running--;
          return value(Number(query.slice(1)));
        }),
      }),
    );
    expect(peak).toBe(3);
    expect(checks.map((c) => [c.name, c.value])).toEqual(metrics.map((m, i) => [m.name, i]));
  });

  it("returns no checks for no metrics", async () => {
    expect(await runChecks(input({ metrics: [] }))).toEqual([]);
  });
});

describe("kubeLookups", () => {
  const objects: Record<string, unknown> = {
    "MetricTemplate/shop/t": template("t"),
    "MetricTemplate/shop/bad": { ...template("bad"), spec: { provider: { type: "prometheus" } } },
    "Secret/shop/s": {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      data: { token: Buffer.from("abc").toString("base64") },
    },
  };
  const kube = {
    get: async (ref: { kind: string; namespace?: string; name: string }) =>
      objects[`${ref.kind}/${ref.namespace}/${ref.name}`],
  } as unknown as KubeClient;
  const lookups = kubeLookups(kube);

  it("reads and validates MetricTemplates", async () => {
    expect(await lookups.templates("shop", "t")).toEqual(template("t"));
    expect(await lookups.templates("shop", "missing")).toBeUndefined();
    await expect(lookups.templates("shop", "bad")).rejects.toThrow("MetricTemplate shop/bad is invalid");
  });

  it("decodes Secret data", async () => {
    expect(await lookups.secrets("shop", "s")).toEqual({ token: "abc" });
    expect(await lookups.secrets("shop", "missing")).toBeUndefined();
  });
});

describe("offlineProviders", () => {
  /** Providers whose isOnline fails for the addresses listed; counts the probes per address. */
  function probing(down: string[], probes: Map<string, number>): ProviderLookup {
    return (provider) => ({
      async query() {
        return { kind: "nodata", reason: "unused" };
      },
      async isOnline() {
        const address = provider.address ?? "";
        probes.set(address, (probes.get(address) ?? 0) + 1);
        if (down.includes(address)) throw new Error(`connect ECONNREFUSED ${address}`);
      },
    });
  }

  it("probes each provider address once and reports those that do not answer", async () => {
    const probes = new Map<string, number>();
    const templates: TemplateLookup = async (_ns, name) =>
      template(name, { provider: { type: "prometheus", address: `http://${name}:9090` } });
    const problems = await offlineProviders(
      input({
        metrics: [
          metric("request-success-rate"),
          metric("request-duration"),
          metric("errors", { templateRef: { name: "other" } }),
        ],
        defaultMetricsServer: "http://prom:9090",
        providers: probing(["http://other:9090"], probes),
        templates,
      }),
    );
    expect(problems).toEqual(["prometheus at http://other:9090: connect ECONNREFUSED http://other:9090"]);
    expect(Object.fromEntries(probes)).toEqual({ "http://prom:9090": 1, "http://other:9090": 1 });
  });

  it("probes one address once per set of credentials", async () => {
    const probes = new Map<string, number>();
    const templates: TemplateLookup = async (_ns, name) =>
      template(name, {
        provider: { type: "prometheus", address: "http://p:9090", secretRef: { name: `secret-${name}` } },
      });
    const problems = await offlineProviders(
      input({
        metrics: ["a", "b", "a"].map((t, i) => metric(`m${i}`, { templateRef: { name: t } })),
        templates,
        secrets: async () => ({ token: "tok-123456" }),
        providers: probing(["http://p:9090"], probes),
      }),
    );
    expect(probes.get("http://p:9090")).toBe(2);
    expect(problems).toEqual([
      "prometheus at http://p:9090 (secret shop/secret-a): connect ECONNREFUSED http://p:9090",
      "prometheus at http://p:9090 (secret shop/secret-b): connect ECONNREFUSED http://p:9090",
    ]);
  });

  it("counts a missing MetricTemplate as a problem: that metric could not be judged", async () => {
    const problems = await offlineProviders(
      input({
        metrics: [metric("errors", { templateRef: { name: "gone" } })],
        providers: probing([], new Map()),
      }),
    );
    expect(problems).toEqual(["errors: MetricTemplate shop/gone not found"]);
  });

  it("shows addresses without userinfo, and redacts what the probe carried", async () => {
    const templates: TemplateLookup = async (_ns, name) =>
      template(name, {
        provider: { type: "prometheus", address: "http://me:pw-1234@prom:9090/", secretRef: { name: "s" } },
      });
    const problems = await offlineProviders(
      input({
        metrics: [metric("errors", { templateRef: { name: "t" } })],
        templates,
        secrets: async () => ({ token: "tok-abcdef" }),
        providers: () => ({
          query: async () => ({ kind: "nodata", reason: "unused" }),
          isOnline: async () => {
            throw new Error("HTTP 401: Authorization: Bearer tok-abcdef for me:pw-1234");
          },
        }),
      }),
    );
    expect(problems).toEqual([
      "prometheus at http://prom:9090 (secret shop/s): HTTP 401: Authorization: [redacted]",
    ]);
  });

  it("cancels a probe that does not answer in time", async () => {
    let signal: AbortSignal | undefined;
    const problems = await offlineProviders(
      input({
        metrics: [metric("request-success-rate")],
        timeoutMs: 30,
        providers: () => ({
          query: async () => ({ kind: "nodata", reason: "unused" }),
          isOnline: (_timeout, s) => {
            signal = s;
            return new Promise(() => {});
          },
        }),
      }),
    );
    expect(problems).toEqual(["prometheus at http://default-prom:9090: no answer within 0.03s"]);
    expect(signal?.aborted).toBe(true);
  });

  it("is empty when every provider answers", async () => {
    const problems = await offlineProviders(
      input({
        metrics: [metric("request-success-rate")],
        defaultMetricsServer: "http://prom:9090",
        providers: probing([], new Map()),
      }),
    );
    expect(problems).toEqual([]);
  });
});
