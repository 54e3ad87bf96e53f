import type { Canary, CanaryMetric } from "../api/canary.ts";

/**
 * The values a query may use, as Flagger's MetricTemplateModel: `{{ namespace }}`, `{{ name }}`,
 * `{{ target }}`, `{{ service }}`, `{{ ingress }}`, `{{ route }}`, `{{ interval }}` and
 * `{{ variables.KEY }}`. `undefined` means the Canary does not define it (no ingressRef, ...).
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

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

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

// `{{ name }}` or `{{ variables.key }}`, spaces optional, as Go's text/template writes them.
const ACTION = /\{\{(.*?)\}\}/gs;
const REFERENCE = /^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_-]+))?\s*$/;

/**
 * Replaces every `{{ ... }}` in the query. Only plain variable references are supported (no
 * pipelines, conditionals or functions); anything else, and any variable without a value, is a
 * TemplateError that names it and lists what is available.
 */
export function renderQuery(query: string, model: TemplateModel): string {
  return query.replace(ACTION, (action: string, inner: string) => {
    const ref = REFERENCE.exec(inner);
    if (!ref) {
      throw new TemplateError(
        `unsupported template action ${action}: only variables are supported (${known(model)})`,
      );
    }
    return lookup(ref[1] as string, ref[2], model, action);
  });
}

function lookup(head: string, key: string | undefined, model: TemplateModel, action: string): string {
  if (head === "variables" && key !== undefined) {
    const value = model.variables[key];
    if (value === undefined) {
      const defined = Object.keys(model.variables);
      throw new TemplateError(
        `unknown variable ${action}: the metric's templateVariables define ${defined.length > 0 ? defined.join(", ") : "nothing"}`,
      );
    }
    return value;
  }
  if (key === undefined && (VARIABLES as readonly string[]).includes(head)) {
    const value = model[head as VariableName];
    if (value === undefined) {
      throw new TemplateError(
        `variable ${action} has no value: the Canary has no ${SOURCE[head as VariableName]}`,
      );
    }
    return value;
  }
  throw new TemplateError(`unknown variable ${action}: known variables are ${known(model)}`);
}

function known(model: TemplateModel): string {
  const variables = Object.keys(model.variables).map((k) => `variables.${k}`);
  return [...VARIABLES, ...variables].join(", ");
}
