// --metrics-server-sigv4-*: how `kanaria controller` and `kanaria backtest` sign requests to
// --metrics-server, e.g. Amazon Managed Service for Prometheus.
import { Option } from "commander";
import { type Sigv4Spec, sigv4Spec } from "../api/metric-template.ts";

export interface Sigv4Flags {
  metricsServerSigv4Region?: string;
  metricsServerSigv4Service?: string;
  metricsServerSigv4RoleArn?: string;
}

export function sigv4Options(): Option[] {
  return [
    new Option(
      "--metrics-server-sigv4-region <region>",
      "sign requests to --metrics-server with AWS SigV4 for this region (Amazon Managed Service for Prometheus)",
    ).env("KANARIA_METRICS_SERVER_SIGV4_REGION"),
    new Option(
      "--metrics-server-sigv4-service <name>",
      "SigV4 signing name for --metrics-server (default: aps)",
    ).env("KANARIA_METRICS_SERVER_SIGV4_SERVICE"),
    new Option(
      "--metrics-server-sigv4-role-arn <arn>",
      "IAM role to assume before signing requests to --metrics-server",
    ).env("KANARIA_METRICS_SERVER_SIGV4_ROLE_ARN"),
  ];
}

/** The signing settings the flags describe, or undefined when --metrics-server-sigv4-region is unset. */
export function sigv4FromFlags(flags: Sigv4Flags): Sigv4Spec | undefined {
  const { metricsServerSigv4Region: region, metricsServerSigv4Service: service } = flags;
  const roleArn = flags.metricsServerSigv4RoleArn;
  if (!region) {
    if (service || roleArn) {
      throw new Error(
        "--metrics-server-sigv4-service and --metrics-server-sigv4-role-arn need --metrics-server-sigv4-region",
      );
    }
    return undefined;
  }
  const parsed = sigv4Spec.safeParse({
    region,
    ...(service ? { service } : {}),
    ...(roleArn ? { roleArn } : {}),
  });
  if (!parsed.success) {
    throw new Error(
      `--metrics-server-sigv4-role-arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/kanaria, got ${JSON.stringify(roleArn)}`,
    );
  }
  return parsed.data;
}
