import { z } from "zod";
import { API_VERSION, objectMeta, secretReference, withRules } from "./common.ts";

export const METRIC_PROVIDER_TYPES = ["prometheus", "cloudwatch"] as const;
export type MetricProviderType = (typeof METRIC_PROVIDER_TYPES)[number];

export const REDUCERS = ["latest", "avg", "min", "max", "sum"] as const;

/** An IAM role ARN, e.g. arn:aws:iam::123456789012:role/kanaria (also aws-cn, aws-us-gov partitions). */
const ROLE_ARN_PATTERN = "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$";
const roleArn = (description: string) =>
  z
    .string()
    .regex(new RegExp(ROLE_ARN_PATTERN), "an IAM role ARN such as arn:aws:iam::123456789012:role/kanaria")
    .meta({ description });

/** AWS Signature Version 4 for Prometheus-compatible APIs such as Amazon Managed Service for Prometheus. */
export const sigv4Spec = z
  .strictObject({
    region: z.string().min(1).meta({ description: "AWS region of the endpoint, e.g. us-west-2." }),
    service: z.string().min(1).optional().meta({
      description: "Signing name of the service; defaults to aps (Amazon Managed Service for Prometheus).",
    }),
    roleArn: roleArn("IAM role to assume with the controller's AWS credentials before signing.").optional(),
  })
  .meta({
    description:
      "Sign each query with AWS SigV4, using the controller's AWS credentials (IRSA, EKS Pod Identity, environment, instance role) or the AWS keys in secretRef.",
  });
export type Sigv4Spec = z.infer<typeof sigv4Spec>;

const providerSpec = withRules(
  z.strictObject({
    type: z.enum(METRIC_PROVIDER_TYPES),
    address: z
      .string()
      .optional()
      .meta({ description: "Prometheus URL, or a CloudWatch endpoint override." }),
    region: z.string().optional().meta({ description: "AWS region (cloudwatch)." }),
    secretRef: secretReference.optional().meta({
      description:
        "Credentials: token, or username and password (prometheus); AWS keys aws_access_key_id, aws_secret_access_key and optionally aws_session_token (cloudwatch, prometheus with sigv4).",
    }),
    headers: z.record(z.string(), z.array(z.string())).optional().meta({
      description:
        "Extra HTTP headers sent with each query, in Flagger's form: each name maps to a list of values (X-Scope-OrgID: [tenant-1]); several values are sent as one comma-separated header.",
    }),
    insecureSkipVerify: z.boolean().optional(),
    sigv4: sigv4Spec.optional(),
    roleArn: roleArn("IAM role to assume with the controller's AWS credentials (cloudwatch).").optional(),
  }),
  [
    {
      cel: "!has(self.sigv4) || self.type == 'prometheus'",
      message: "sigv4 applies to type prometheus only; cloudwatch requests are always signed",
      path: ["sigv4"],
      holds: (p) => p.sigv4 === undefined || p.type === "prometheus",
    },
    {
      cel: "!has(self.roleArn) || self.type == 'cloudwatch'",
      message: "roleArn applies to type cloudwatch; for prometheus set sigv4.roleArn",
      path: ["roleArn"],
      holds: (p) => p.roleArn === undefined || p.type === "cloudwatch",
    },
  ],
);

export const metricTemplateSpec = z.strictObject({
  provider: providerSpec,
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
