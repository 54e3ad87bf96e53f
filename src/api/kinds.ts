import type { z } from "zod";
import { alertProvider } from "./alert-provider.ts";
import { canary } from "./canary.ts";
import { metricTemplate } from "./metric-template.ts";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "date";
  jsonPath: string;
}

export interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  schema: z.ZodType;
  hasStatus: boolean;
  printerColumns: PrinterColumn[];
}

/** Every kind of the kanaria.dev API: the CRD generator, the validator and the controller read this table. */
export const KINDS: readonly KindInfo[] = [
  {
    kind: "Canary",
    plural: "canaries",
    singular: "canary",
    shortNames: ["cd"],
    description: "Canary releases a Deployment in steps, checks its metrics and promotes or rolls back.",
    schema: canary,
    hasStatus: true,
    printerColumns: [
      { name: "Status", type: "string", jsonPath: ".status.phase" },
      { name: "Weight", type: "integer", jsonPath: ".status.canaryWeight" },
      { name: "FailedChecks", type: "integer", jsonPath: ".status.failedChecks" },
      { name: "LastTransition", type: "date", jsonPath: ".status.lastTransitionTime" },
    ],
  },
  {
    kind: "MetricTemplate",
    plural: "metrictemplates",
    singular: "metrictemplate",
    shortNames: ["mt"],
    description: "MetricTemplate is a query against Prometheus or CloudWatch that Canary metrics reference.",
    schema: metricTemplate,
    hasStatus: false,
    printerColumns: [{ name: "Provider", type: "string", jsonPath: ".spec.provider.type" }],
  },
  {
    kind: "AlertProvider",
    plural: "alertproviders",
    singular: "alertprovider",
    shortNames: ["ap"],
    description:
      "AlertProvider is a Slack, Microsoft Teams or generic webhook that Canary alerts are sent to.",
    schema: alertProvider,
    hasStatus: false,
    printerColumns: [{ name: "Type", type: "string", jsonPath: ".spec.type" }],
  },
];

export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}
