// Go itself is the oracle for kanaria's query rendering (src/metrics/go-template.ts): every template
// here goes through Go's text/template as Flagger calls it (test/cluster/go/template-oracle) and
// through renderQuery, and the bytes must be the same. Where Go fails, kanaria must fail too; where
// kanaria refuses what Go renders, the table says so (a refusal is what `kanaria validate` reports).
// The table holds every MetricTemplate query collected from Flagger's repository, hand-written edge
// cases, and seeded random templates over the same alphabet.
import { execFile, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderQuery, TemplateError, type TemplateModel } from "../../src/metrics/template.ts";

const repoRoot = join(import.meta.dirname, "../..");
const FLAGGER = join(repoRoot, "test/fixtures/flagger/manifests");

const model: TemplateModel = {
  namespace: "shop",
  name: "web",
  target: "web-app",
  service: "web-svc",
  ingress: "web-ingress",
  route: "web-route",
  interval: "2m",
  variables: { direction: "inbound", path: "/api", reporter: "destination", "status-code": "404", ü: "ü" },
};

type Outcome = { ok: true; output: Buffer } | { ok: false; error: string };

/** Runs the cases through the Go binary in one process. */
async function goRender(binary: string, templates: readonly string[]): Promise<Outcome[]> {
  const cases = templates.map((template) => ({ template, model }));
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`template-oracle exited ${code}`)),
    );
    child.stdin.end(JSON.stringify(cases));
  });
  return (JSON.parse(stdout) as { ok: boolean; output: string | null; error?: string }[]).map((r) =>
    r.ok ? { ok: true, output: Buffer.from(r.output ?? "", "base64") } : { ok: false, error: r.error ?? "" },
  );
}

function kanariaRender(template: string): Outcome {
  try {
    return { ok: true, output: Buffer.from(renderQuery(template, model), "utf8") };
  } catch (err) {
    if (err instanceof TemplateError) return { ok: false, error: err.message };
    throw err;
  }
}

/** "same": identical bytes, or both fail. "refused": Go renders it, kanaria refuses it by name. */
type Expect = "same" | "refused";

const EDGE_CASES: [string, Expect][] = [
  ['plain PromQL sum(rate(x{a="b"}[1m])) without actions', "same"],
  ["{{ namespace }}/{{name}}/{{  target }}/{{service}}/{{ ingress }}/{{ route }}[{{interval}}]", "same"],
  ["{{ variables.direction }} {{variables.path}} {{ variables.ü }}", "same"],
  ["{{ variables.missing }}", "same"],
  ["{{ variables.status-code }}", "same"],
  ["{{ variables.1a }}", "same"],
  ["{{ variables. }}", "same"],
  ["{{ variables }}", "refused"],
  ["{{ namespace.x }}", "same"],
  ["{{ variables.direction.x }}", "same"],
  ['{{ printf "kube(ew)?_%s__%s_canary__.*__%s_canary(_[0-9]+)?" namespace ingress service }}', "same"],
  [
    '{{ printf "%s-%v|%-6s|%6s|%.2s|%4.1s|%%|%.s" name target namespace namespace service route route }}',
    "same",
  ],
  ['{{ printf "%s %s" target }}', "same"],
  ['{{ printf "%s" target name interval }}', "same"],
  ['{{ printf "100%%" }}{{ printf "" }}', "same"],
  ['{{ namespace | printf "%s-primary" }}', "same"],
  ['{{ "%s/%s" | printf }}', "same"],
  ['{{ printf "%s" namespace | printf "<%s>" }}', "same"],
  ['{{ printf "%d" namespace }}', "refused"],
  ['{{ printf "%q" namespace }}', "refused"],
  ['{{ printf "%05s" namespace }}', "refused"],
  ['{{ printf "%[1]s" namespace }}', "refused"],
  ['{{ printf "50%" }}', "refused"],
  ["{{ printf }}", "same"],
  ["{{ printf variables.direction }}", "same"],
  ['{{ printf "%s" printf }}', "same"],
  ['{{ "plain" }}{{ `raw\\n` }}{{ "a\\tb\\n\\\\\\"\\x41\\u00e9\\U0001F600\\101" }}', "same"],
  ['{{ "\\xff" }}', "refused"],
  ['{{ "\\q" }}', "same"],
  ['{{ "\\\'" }}', "same"],
  ['{{ "unterminated }}', "same"],
  ["{{ `raw with \r carriage return` }}", "same"],
  ['{{ "}}" }}', "same"],
  ["a \n\t {{- namespace -}} \n b", "same"],
  ["a {{-namespace}}", "same"],
  ["a {{namespace-}} b", "same"],
  ["a {{- /* a comment */ -}} b{{/* another */}}c", "same"],
  ["{{ /* not a comment */ }}", "same"],
  ["{{/* unclosed comment }}", "same"],
  ["{{/* comment */ namespace }}", "same"],
  ["{{ namespace\n}}{{\tname\r}}", "same"],
  ["{{ namespace ", "same"],
  ["{{}}", "same"],
  ["{{ namespace | }}x{{ name |\n}}", "same"],
  ["{{ | namespace }}", "same"],
  ["{{ namespace | | name }}", "same"],
  ["{{ namespace name }}", "same"],
  ['{{ namespace | "x" }}', "same"],
  ['{{ "x" "y" }}', "same"],
  ["{{ namespace|printf }}", "same"],
  ['{{ printf"%s" namespace }}', "same"],
  ["{{ unknown }}", "same"],
  ["{{ pod }}", "same"],
  ["{{ .namespace }}", "same"],
  ["{{ . }}", "refused"],
  ['{{ if eq namespace "shop" }}x{{ end }}', "refused"],
  ['{{ index variables "status-code" }}', "refused"],
  ["{{ len namespace }}", "refused"],
  ['{{ print "a" }}', "refused"],
  ["{{ $x := namespace }}{{ $x }}", "refused"],
  ["{{ (namespace) }}", "refused"],
  ["{{ 3 }}", "refused"],
  ["{{ true }}", "refused"],
  ["{ single } braces and }} closers", "same"],
];

/** Every query of a MetricTemplate collected from Flagger's repository (two documentation snippets
 * show only a provider). */
function flaggerQueries(): string[] {
  return readdirSync(FLAGGER)
    .filter((f) => f.includes("-metrictemplate-"))
    .map((f) => (parse(readFileSync(join(FLAGGER, f), "utf8")) as { spec: { query?: string } }).spec.query)
    .filter((q): q is string => typeof q === "string");
}

const PIECES = [
  "{{",
  "}}",
  "{{- ",
  " -}}",
  " ",
  "\n",
  "\t",
  "|",
  "x",
  "-",
  "{",
  "}",
  "%",
  ".",
  '"',
  "`",
  "\\",
  "/*",
  "*/",
  "namespace",
  "name",
  "target",
  "interval",
  "variables",
  "variables.direction",
  ".path",
  "printf",
  '"%s"',
  '"%-3s|%.1s"',
  '"%%"',
  '"%s %s"',
  "`%v`",
  "index",
  "pod",
];
const randomTemplate = fc
  .array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 })
  .map((parts) => parts.join(""));

let binary: string;
beforeAll(async () => {
  const built = await promisify(execFile)("bash", [
    join(repoRoot, "test/cluster/template-oracle.sh"),
    "build",
  ]);
  binary = built.stdout.trim();
}, 120_000);

function compare(template: string, go: Outcome, kanaria: Outcome, expected: Expect): void {
  const context = `${JSON.stringify(template)}: Go ${go.ok ? JSON.stringify(go.output.toString()) : go.error}`;
  if (!go.ok) {
    expect(kanaria.ok, context).toBe(false);
  } else if (expected === "refused") {
    expect(kanaria, context).toMatchObject({ ok: false });
  } else {
    expect(kanaria.ok ? kanaria.output.toString("hex") : kanaria.error, context).toBe(
      go.output.toString("hex"),
    );
  }
}

describe("renderQuery against Go's text/template", () => {
  it("renders every MetricTemplate query from Flagger's repository byte for byte", async () => {
    const queries = flaggerQueries();
    expect(queries.length).toBeGreaterThanOrEqual(30);
    const go = await goRender(binary, queries);
    queries.forEach((q, i) => {
      expect(go[i]?.ok, q).toBe(true);
      compare(q, go[i] as Outcome, kanariaRender(q), "same");
    });
  });

  it("matches Go on the edge cases, and refuses only what the table says", async () => {
    const go = await goRender(
      binary,
      EDGE_CASES.map(([t]) => t),
    );
    EDGE_CASES.forEach(([template, expected], i) => {
      const result = go[i] as Outcome;
      if (expected === "refused") expect(result.ok, `Go renders ${JSON.stringify(template)}`).toBe(true);
      compare(template, result, kanariaRender(template), expected);
    });
  });

  it("on random templates: the same bytes, the same failure, or a refusal naming what is unsupported", async () => {
    const templates = fc.sample(randomTemplate, { numRuns: 3000, seed: 20261207 });
    const go = await goRender(binary, templates);
    let rendered = 0;
    templates.forEach((template, i) => {
      const result = go[i] as Outcome;
      const ours = kanariaRender(template);
      if (result.ok && !ours.ok) {
        // Only the constructs kanaria declares unsupported may be refused where Go renders.
        expect(ours.error, JSON.stringify(template)).toMatch(/is not supported|needs a key|byte above 0x7f/);
        return;
      }
      compare(template, result, ours, "same");
      if (result.ok) rendered++;
    });
    // The alphabet yields enough valid templates to mean something.
    expect(rendered).toBeGreaterThan(300);
  });
});
