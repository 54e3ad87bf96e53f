import { describe, expect, it } from "vitest";
import { renderQuery, TemplateError, type TemplateModel, templateModel } from "./template.ts";

const model: TemplateModel = {
  namespace: "shop",
  name: "web",
  target: "web-app",
  service: "web-svc",
  ingress: "web-ingress",
  route: undefined,
  interval: "2m",
  variables: { direction: "inbound", status_code: "404" },
};

describe("renderQuery", () => {
  it("replaces every variable, with or without spaces", () => {
    const query =
      "{{ namespace }}/{{name}}/{{  target }}/{{service}}/{{ ingress }}[{{interval}}] {{ variables.direction }}";
    expect(renderQuery(query, model)).toBe("shop/web/web-app/web-svc/web-ingress[2m] inbound");
  });

  it("renders printf as Flagger's Skipper tutorial uses it", () => {
    const query = '{{ printf "kube(ew)?_%s__%s_canary__.*__%s_canary(_[0-9]+)?" namespace ingress service }}';
    expect(renderQuery(query, model)).toBe(
      "kube(ew)?_shop__web-ingress_canary__.*__web-svc_canary(_[0-9]+)?",
    );
  });

  it("refuses a key Go's text/template cannot read as variables.KEY, saying how to fix it", () => {
    // Go stops the field name at "-": Flagger fails on this query at run time.
    expect(() => renderQuery("{{ variables.status-code }}", model)).toThrow(
      'bad character "-" after status: a key read as {{ variables.KEY }} holds only letters, digits and _',
    );
  });

  it("leaves text without template actions alone, including PromQL braces", () => {
    const query = 'sum(rate(x{a="b"}[1m]))';
    expect(renderQuery(query, model)).toBe(query);
  });

  it("names an unknown templateVariable and lists the defined ones", () => {
    expect(() => renderQuery("{{ variables.region }}", model)).toThrow(
      "unknown variable {{ variables.region }}: the metric's templateVariables define direction, status_code",
    );
    expect(() => renderQuery("{{ variables.region }}", { ...model, variables: {} })).toThrow(
      "the metric's templateVariables define nothing",
    );
  });

  it("says which Canary field is missing when a variable has no value", () => {
    expect(() => renderQuery("{{ route }}", model)).toThrow(
      "variable {{ route }} has no value: the Canary has no spec.routeRef",
    );
  });

  it.each([
    ['{{ if eq namespace "x" }}x{{ end }}', "{{ if }} is not supported"],
    ["{{ .namespace }}", "a field or dot (.) in {{ .namespace }} is not supported"],
    ['{{ index variables "a" }}', 'function "index" is not supported'],
    ["{{ pod }}", 'function "pod" is not defined: the functions are namespace, name, target'],
    ['{{ printf "%d" namespace }}', "printf: the verb or flag %d is not supported"],
    ["{{ variables }}", "{{ variables }} needs a key"],
  ])("refuses %s by name", (query, message) => {
    expect(() => renderQuery(query, model)).toThrow(TemplateError);
    expect(() => renderQuery(query, model)).toThrow(message);
  });
});

describe("templateModel", () => {
  it("takes Flagger's values from the Canary and the metric", () => {
    const canary = {
      metadata: { name: "web", namespace: "shop" },
      spec: {
        targetRef: { name: "web-app" },
        ingressRef: { name: "web-ingress" },
        service: { port: 80 },
      },
    } as Parameters<typeof templateModel>[0];
    expect(templateModel(canary, { interval: "1m", templateVariables: { a: "b" } })).toEqual({
      namespace: "shop",
      name: "web",
      target: "web-app",
      service: "web-app",
      ingress: "web-ingress",
      route: undefined,
      interval: "1m",
      variables: { a: "b" },
    });
  });
});
