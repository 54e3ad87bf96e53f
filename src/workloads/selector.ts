import type { V1DaemonSet, V1Deployment } from "@kubernetes/client-node";
import { ConfigBlockerError } from "../errors.ts";
import { objectKey } from "../kube/objects.ts";

/** Flagger's --selector-labels default, in its order: the first one in spec.selector.matchLabels wins. */
export const DEFAULT_SELECTOR_LABELS = ["app", "name", "app.kubernetes.io/name"] as const;

export interface SelectorLabel {
  key: string;
  value: string;
}

export class SelectorLabelError extends ConfigBlockerError {
  override readonly name = "SelectorLabelError";

  constructor(message: string) {
    super("MissingSelectorLabel", message);
  }
}

/**
 * The label that tells the target's pods apart from the primary's: the primary and the Services use
 * `<key>: <value>-primary`, the canary Service `<key>: <value>`.
 */
export function selectorLabel(
  deployment: (V1Deployment | V1DaemonSet) & { kind?: string },
  accepted: readonly string[] = DEFAULT_SELECTOR_LABELS,
): SelectorLabel {
  const matchLabels = deployment.spec?.selector?.matchLabels ?? {};
  for (const key of accepted) {
    const value = matchLabels[key];
    if (value !== undefined) return { key, value };
  }
  throw new SelectorLabelError(
    `${deployment.kind ?? "Deployment"} ${objectKey(deployment)}: spec.selector.matchLabels has none of the labels kanaria selects pods by (${accepted.join(", ")}); ` +
      `add one of them to spec.selector.matchLabels and spec.template.metadata.labels, e.g. app: ${deployment.metadata?.name ?? "<name>"} ` +
      `(the selector is immutable: recreate the ${deployment.kind ?? "Deployment"})`,
  );
}
