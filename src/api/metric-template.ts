import { z } from "zod";
import { API_VERSION, objectMeta, secretReference, stringMap } from "./common.ts";

export const METRIC_PROVIDER_TYPES = ["prometheus", "cloudwatch"] as const;
export type MetricProviderType = (typeof METRIC_PROVIDER_TYPES)[number];

export const REDUCERS = ["latest", "avg", "min", "max", "sum"] as const;

export const metricTemplateSpec = z.strictObject({
  provider: z.strictObject({
    type: z.enum(METRIC_PROVIDER_TYPES),
    address: z
      .string()
      .optional()
      .meta({ description: "Prometheus URL, or a CloudWatch endpoint override." }),
    region: z.string().optional().meta({ description: "AWS region (cloudwatch)." }),
    secretRef: secretReference.optional().meta({
      description: "Credentials: token, or username and password (prometheus); AWS keys (cloudwatch).",
    }),
    headers: stringMap("Extra HTTP headers sent with each query.").optional(),
    insecureSkipVerify: z.boolean().optional(),
  }),
  query: z.string().min(1).meta({
    description:
      "PromQL, or a JSON array of CloudWatch MetricDataQuery. Go-template variables: {{ namespace }}, {{ name }}, {{ target }}, {{ service }}, {{ ingress }}, {{ route }}, {{ interval }}, {{ variables.KEY }}.",
  }),
  reduce: z
    .enum(REDUCERS)
    .optional()
    .meta({ description: "How a series of datapoints becomes one value (cloudwatch); defaults to latest." }),
});

export const metricTemplate = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("MetricTemplate"),
  metadata: objectMeta,
  spec: metricTemplateSpec,
});

export type MetricTemplate = z.infer<typeof metricTemplate>;
export type MetricTemplateSpec = z.infer<typeof metricTemplateSpec>;
