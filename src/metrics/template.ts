import type { Canary, CanaryMetric } from "../api/canary.ts";
import { executeTemplate, parseTemplate, TemplateError } from "./go-template.ts";

export { TemplateError };

/**
 * The values a query may use, as Flagger's MetricTemplateModel: `{{ namespace }}`, `{{ name }}`,
 * `{{ target }}`, `{{ service }}`, `{{ ingress }}`, `{{ route }}`, `{{ interval }}` and
 * `{{ variables.KEY }}`, each a function without arguments. `undefined` means the Canary does not
 * define it (no ingressRef, ...).
 */
export interface TemplateModel {
  namespace: string;
  name: string;
  target: string;
  service: string;
  ingress: string | undefined;
  route: string | undefined;
  interval: string;
  variables: Readonly<Record<string, string>>;
}

const VARIABLES = ["namespace", "name", "target", "service", "ingress", "route", "interval"] as const;
type VariableName = (typeof VARIABLES)[number];

/** Where an undefined variable would come from, for the error message. */
const SOURCE: Partial<Record<VariableName, string>> = {
  ingress: "spec.ingressRef",
  route: "spec.routeRef",
};

export function templateModel(
  canary: Pick<Canary, "metadata" | "spec">,
  metric: Pick<CanaryMetric, "templateVariables"> & { interval: string },
): TemplateModel {
  return {
    namespace: canary.metadata.namespace ?? "default",
    name: canary.metadata.name,
    target: canary.spec.targetRef.name,
    service: canary.spec.service.name ?? canary.spec.targetRef.name,
    ingress: canary.spec.ingressRef?.name,
    route: canary.spec.routeRef?.name,
    interval: metric.interval,
    variables: metric.templateVariables ?? {},
  };
}

/** The functions a query may call besides printf, as Flagger's MetricTemplateModel defines them. */
export const TEMPLATE_FUNCTIONS: readonly string[] = [...VARIABLES, "variables"];

/**
 * Renders the query as Flagger does (Go's text/template: see go-template.ts for the subset). A
 * function or construct outside it, or a variable without a value, is a TemplateError that names it.
 */
export function renderQuery(query: string, model: TemplateModel): string {
  return executeTemplate(parseTemplate(query, TEMPLATE_FUNCTIONS), {
    call: (name) => {
      if (name === "variables") return model.variables;
      const value = model[name as VariableName];
      if (value === undefined) {
        throw new TemplateError(
          `variable {{ ${name} }} has no value: the Canary has no ${SOURCE[name as VariableName]}`,
        );
      }
      return value;
    },
  });
}

/** The problem `renderQuery` would meet whatever the Canary (a parse error), or undefined. */
export function queryTemplateProblem(query: string): string | undefined {
  try {
    parseTemplate(query, TEMPLATE_FUNCTIONS);
    return undefined;
  } catch (err) {
    if (err instanceof TemplateError) return err.message;
    throw err;
  }
}
