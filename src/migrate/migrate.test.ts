import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { validateSources } from "../validate/index.ts";
import { collectFiles, readSources } from "../validate/load.ts";
import { type MigratedFile, migrateSource } from "./index.ts";
import { formatCanaries, formatNextSteps } from "./report.ts";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURES = join(ROOT, "test/migrate/fixtures");
const read = (file: string) => readFileSync(file, "utf8");
const migrate = (file: string, text: string, options = {}) => migrateSource({ file, text }, options);
const canaryErrors = (file: string, text: string) =>
  validateSources([{ file, text }]).problems.filter((p) => p.severity === "error");

describe("Flagger's App Mesh manifests (apiVersion changed)", () => {
  const fixtures = ["appmesh-tutorial", "appmesh-tutorial-ab-cookie", "appmesh-canary", "appmesh-abtest"];

  it.each(fixtures)(
    "%s: prints the expected file, which kanaria validate and the gatewayapi router accept",
    (name) => {
      const input = read(join(FIXTURES, `${name}.yaml`));
      const out = migrate(`${name}.yaml`, input, { gateway: "lattice" });
      expect(out.changed).toBe(true);
      expect(out.text).toBe(read(join(FIXTURES, `${name}.expected.yaml`)));
      expect(out.canaries.map((c) => [c.name, c.error, c.problems])).toEqual([["podinfo", undefined, []]]);
      expect(canaryErrors(`${name}.yaml`, out.text)).toEqual([]);
      const spec = parseDocument(out.text).toJS().spec;
      expect(spec.provider).toBe("gatewayapi");
      expect(spec.service.gatewayRefs).toEqual([{ name: "lattice" }]);
      for (const gone of ["meshName", "retries", "rewrite", "backends"])
        expect(spec.service[gone]).toBeUndefined();
      expect(spec.service.timeout).toBe(parseDocument(input).toJS().spec.service.timeout);
    },
  );

  it("the inputs themselves are not valid kanaria Canaries (rewrite), the outputs are", () => {
    const tutorial = read(join(FIXTURES, "appmesh-tutorial.yaml"));
    const paths = canaryErrors("t.yaml", tutorial).map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(["spec.service.rewrite"]));
    // Flagger's appmesh:v1beta2 spelling is accepted (it runs the appmesh router).
    expect(paths).not.toContain("spec.provider");
  });

  it("changes only the lines it reports: every other line, comments included, stays as it was", () => {
    const input = read(join(FIXTURES, "appmesh-tutorial.yaml"));
    const out = migrate("t.yaml", input, { gateway: "lattice" }).text;
    const kept = new Set(out.split("\n"));
    const removed = input.split("\n").filter((l) => !kept.has(l));
    expect(removed).toEqual([
      "  annotations:",
      "    # Enable Envoy access logging to stdout.",
      "    appmesh.flagger.app/accesslog: enabled",
      "  provider: appmesh:v1beta2",
      "    # App Mesh retry policy (optional)",
      "    retries:",
      "      attempts: 3",
      "      perTryTimeout: 5s",
      '      retryOn: "gateway-error,client-error,stream-error"',
      "    rewrite:",
      "      uri: /",
    ]);
    expect(out).toContain("    # App Mesh URI settings\n    match:\n      - uri:\n          prefix: /\n");
    expect(out).toContain("  # App Mesh API reference\n  provider: gatewayapi\n");
  });

  it("reports what it removed, what to review, and positions each at the input line", () => {
    const input = read(join(FIXTURES, "appmesh-tutorial-ab-cookie.yaml"));
    const out = migrate("ab.yaml", input, { gateway: "lattice" });
    const notes = out.canaries[0]?.notes ?? [];
    const byField = Object.fromEntries(notes.map((n) => [n.field, n]));
    expect(byField["spec.service.retries"]).toMatchObject({ kind: "unmapped", line: 32 });
    expect(byField["spec.service.rewrite"]).toMatchObject({ kind: "unmapped", line: 40 });
    expect(byField["metadata.annotations.appmesh.flagger.app/accesslog"]?.kind).toBe("unmapped");
    expect(byField["spec.analysis.match[0].headers.cookie.regex"]?.message).toContain(
      "VPC Lattice matches headers exactly only",
    );
    expect(byField["spec.analysis.webhooks[0]"]?.message).toContain(
      "calls podinfo.test, the Kubernetes Service, which VPC Lattice does not route",
    );
    const text = formatCanaries([out]);
    expect(text).toContain("ab.yaml: Canary test/podinfo: provider gatewayapi, Gateway lattice\n");
    expect(text).toContain("  ab.yaml:32: spec.service.retries: not mapped: removed (");
    const lines = text
      .split("\n")
      .slice(1, -1)
      .map((l) => Number(/^ {2}ab\.yaml:(\d+):/.exec(l)?.[1]));
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it("says what the built-in checks read after the move: the application's histogram, as in Flagger", () => {
    const out = migrate("c.yaml", read(join(FIXTURES, "appmesh-canary.yaml")), { gateway: "lattice" });
    const note = out.canaries[0]?.notes.find((n) => n.field === "spec.analysis.metrics[0]");
    expect(note).toMatchObject({ kind: "review", line: 37 });
    expect(note?.message).toMatch(
      /^the built-in request-success-rate read the Envoy sidecars' series, which VPC Lattice does not have; with gatewayapi it reads the application's own http_request_duration_seconds histogram by pod, as Flagger's gatewayapi built-ins do: .* MetricTemplate on VPC Lattice's CloudWatch metrics/,
    );
  });
});

describe("migrateSource", () => {
  const canary = (service: string, extra = "") => `apiVersion: kanaria.dev/v1alpha1
kind: Canary
metadata:
  name: web
  namespace: shop
spec:
  provider: appmesh
${extra}  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  service:
${service}  analysis:
    interval: 30s
    stepWeight: 10
`;

  it("names the Gateway after the mesh unless told otherwise, and puts it where meshName was", () => {
    const out = migrate("c.yaml", canary("    port: 80\n    meshName: global\n    timeout: 5s\n"));
    expect(out.text).toContain(
      "  service:\n    port: 80\n    gatewayRefs:\n      - name: global\n    timeout: 5s\n",
    );
    const ns = migrate("c.yaml", canary("    port: 80\n    meshName: global\n"), {
      gateway: "lattice",
      gatewayNamespace: "gateways",
      sectionName: "http",
    });
    expect(parseDocument(ns.text).toJS().spec.service.gatewayRefs).toEqual([
      { name: "lattice", namespace: "gateways", sectionName: "http" },
    ]);
  });

  it("leaves a Canary without meshName and without --gateway alone, saying why", () => {
    const input = canary("    port: 80\n");
    const out = migrate("c.yaml", input);
    expect(out.changed).toBe(false);
    expect(out.text).toBe(input);
    expect(out.canaries[0]?.error).toBe(
      "it has no spec.service.meshName to name the Gateway after: pass --gateway NAME",
    );
    expect(formatCanaries([out])).toBe(
      "c.yaml: Canary shop/web: not converted: it has no spec.service.meshName to name the Gateway after: pass --gateway NAME\n",
    );
  });

  it("converts Canaries without provider only when asked (the controller's --provider was appmesh)", () => {
    const input = canary("    port: 80\n    meshName: global\n").replace("  provider: appmesh\n", "");
    expect(migrate("c.yaml", input).canaries).toEqual([]);
    const out = migrate("c.yaml", input, { includeUnsetProvider: true });
    expect(out.text).toContain("spec:\n  provider: gatewayapi\n  targetRef:");
    expect(canaryErrors("c.yaml", out.text)).toEqual([]);
  });

  it("keeps an existing gatewayRefs, and the comment on the provider line", () => {
    const out = migrate(
      "c.yaml",
      canary("    port: 80\n    meshName: global\n    gatewayRefs:\n      - name: mine\n").replace(
        "provider: appmesh\n",
        "provider: appmesh # the mesh\n",
      ),
    );
    expect(out.text).toContain("  provider: gatewayapi # the mesh\n");
    expect(parseDocument(out.text).toJS().spec.service.gatewayRefs).toEqual([{ name: "mine" }]);
  });

  it("changes apiVersion flagger.app/v1beta1 too", () => {
    const out = migrate(
      "c.yaml",
      canary("    port: 80\n    meshName: global\n").replace("kanaria.dev/v1alpha1", "flagger.app/v1beta1"),
    );
    expect(out.text.startsWith("apiVersion: kanaria.dev/v1alpha1\n")).toBe(true);
    expect(canaryErrors("c.yaml", out.text)).toEqual([]);
  });

  it("falls back to printing the document when a change is not a text edit (a flow mapping)", () => {
    const input = `# keep me\n${canary("    {port: 80, meshName: global, backends: [b1]}\n")}`;
    const out = migrate("c.yaml", input);
    expect(out.changed).toBe(true);
    expect(out.text.startsWith("# keep me\n")).toBe(true);
    const spec = parseDocument(out.text).toJS().spec;
    expect(spec.service).toEqual({ port: 80, gatewayRefs: [{ name: "global" }] });
    expect(canaryErrors("c.yaml", out.text)).toEqual([]);
  });

  it("reports what the controller would still refuse", () => {
    const out = migrate(
      "c.yaml",
      canary("    port: 80\n    meshName: global\n", "").replace(
        "stepWeight: 10",
        "stepWeight: 10\n    stepWeights: [10]",
      ),
    );
    expect(out.canaries[0]?.problems.join("\n")).toContain(
      "stepWeight and stepWeights are mutually exclusive",
    );
  });

  it("leaves other objects and other providers' Canaries byte for byte", () => {
    const other = read(join(ROOT, "examples/flagger-migration/podinfo-nginx-canary.yaml"));
    expect(migrate("n.yaml", other)).toMatchObject({ changed: false, text: other, canaries: [] });
  });
});

describe("the project's examples", () => {
  async function migrateDir(dir: string): Promise<MigratedFile[]> {
    const found = await collectFiles([dir]);
    const { sources } = await readSources(found.files);
    return sources.map((s) => migrateSource(s, {}));
  }

  it("converts examples/appmesh/podinfo.yaml alone, into a Canary that validates with its templates", async () => {
    const files = await migrateDir(join(ROOT, "examples"));
    const changed = files.filter((f) => f.changed).map((f) => f.file.slice(ROOT.length + 1));
    expect(changed).toEqual(["examples/appmesh/podinfo.yaml"]);
    const podinfo = files.find((f) => f.changed) as MigratedFile;
    expect(podinfo.canaries[0]?.problems).toEqual([]);
    const templates = read(join(ROOT, "examples/appmesh/cloudwatch-metric-templates.yaml"));
    const result = validateSources([
      { file: "podinfo.yaml", text: podinfo.text },
      { file: "templates.yaml", text: templates },
    ]);
    expect(result.problems).toEqual([]);
    const spec = parseDocument(podinfo.text.split("\n---\n").at(-1) as string).toJS().spec;
    expect(spec.service).toEqual({
      port: 9898,
      targetPort: "http",
      gatewayRefs: [{ name: "global" }],
      timeout: "15s",
    });
  });

  it("says what to create: the Gateway on the service port, IAM, prefix lists, and the App Mesh objects to delete", async () => {
    const files = await migrateDir(join(ROOT, "examples/appmesh"));
    const next = formatNextSteps(files);
    expect(next).toContain(
      "   kind: Gateway\n   metadata:\n     name: global\n   spec:\n     gatewayClassName: amazon-vpc-lattice\n",
    );
    expect(next).toContain("       - name: http-9898\n         protocol: HTTP\n         port: 9898\n");
    expect(next).toContain("recommended-inline-policy.json");
    expect(next).toContain("com.amazonaws.<region>.vpc-lattice");
    expect(next).toContain("ServiceExport");
    expect(next).toContain("kubectl -n test delete virtualrouter podinfo podinfo-canary");
    expect(formatNextSteps([])).toBe("");
  });
});
