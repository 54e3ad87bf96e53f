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
  variables: { direction: "inbound", "status-code": "404" },
};

describe("renderQuery", () => {
  it("replaces every variable, with or without spaces", () => {
    const query =
      "{{ namespace }}/{{name}}/{{  target }}/{{service}}/{{ ingress }}[{{interval}}] {{ variables.direction }} {{variables.status-code}}";
    expect(renderQuery(query, model)).toBe("shop/web/web-app/web-svc/web-ingress[2m] inbound 404");
  });

  it("leaves text without template actions alone, including PromQL braces", () => {
    const query = 'sum(rate(x{a="b"}[1m]))';
    expect(renderQuery(query, model)).toBe(query);
  });

  it("names an unknown variable and lists the known ones", () => {
    expect(() => renderQuery("{{ pod }}", model)).toThrow(
      "unknown variable {{ pod }}: known variables are namespace, name, target, service, ingress, route, interval, variables.direction, variables.status-code",
    );
  });

  it("names an unknown templateVariable and lists the defined ones", () => {
    expect(() => renderQuery("{{ variables.region }}", model)).toThrow(
      "unknown variable {{ variables.region }}: the metric's templateVariables define direction, status-code",
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

  it("rejects Go template actions other than variables", () => {
    expect(() => renderQuery('{{ if eq namespace "x" }}', model)).toThrow(TemplateError);
    expect(() => renderQuery("{{ .namespace }}", model)).toThrow(
      "unsupported template action {{ .namespace }}",
    );
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
