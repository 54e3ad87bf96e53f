import { describe, expect, it } from "vitest";
import { validateSources } from "./index.ts";

const template = (query: string) => `apiVersion: kanaria.dev/v1alpha1
kind: MetricTemplate
metadata:
  name: latency
  namespace: test
spec:
  provider:
    type: prometheus
    address: http://prometheus:9090
  query: |
${query
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
`;

const problems = (text: string) =>
  validateSources([{ file: "template.yaml", text }]).problems.map(
    (p) => `${p.severity} ${p.line}:${p.path}: ${p.message}`,
  );

describe("kanaria validate: query templates", () => {
  it("accepts the functions Flagger's documentation uses, printf included", () => {
    const query = `sum(rate(skipper_serve_route_duration_seconds_count{route=~"{{ printf "kube(ew)?_%s__%s_canary__.*__%s_canary(_[0-9]+)?" namespace ingress service }}"}[{{ interval }}]))
/ {{ variables.direction | printf "%s" }} {{- /* a comment */ -}} {{ target }}`;
    expect(problems(template(query))).toEqual([]);
  });

  it("refuses any other function by name, at the query, with the fix", () => {
    expect(problems(template('{{ index variables "status-code" }}'))).toEqual([
      "error 10:spec.query: function \"index\" is not supported (kanaria renders the functions Flagger's documentation uses: namespace, name, target, service, ingress, route, interval, variables, printf); write the query with the model's functions ({{ namespace }}, {{ variables.KEY }}, ...), printf, strings and pipes",
    ]);
    expect(problems(template("{{ pod }}"))).toEqual([
      expect.stringContaining(
        'error 10:spec.query: function "pod" is not defined: the functions are namespace',
      ),
    ]);
  });

  it("refuses what Go's text/template would fail on, as Flagger does at run time", () => {
    expect(problems(template("{{ namespace "))).toEqual([
      expect.stringContaining("10:spec.query: unclosed action {{ namespace;"),
    ]);
  });
});
