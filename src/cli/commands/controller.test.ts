import { describe, expect, it } from "vitest";
import { buildProgram } from "../program.ts";
import { sigv4FromFlags } from "../sigv4-flags.ts";

const controller = () => {
  const command = buildProgram().commands.find((c) => c.name() === "controller");
  if (!command) throw new Error("no controller command");
  return command;
};

describe("kanaria controller --help", () => {
  it("names the environment variables and shows no empty-list default", () => {
    const help = controller().helpInformation();
    for (const env of ["KANARIA_LOG_LEVEL", "KANARIA_METRICS_SERVER", "KANARIA_CLUSTER_NAME"]) {
      expect(help).toContain(`env: ${env}`);
    }
    expect(help).not.toContain("(default: [])");
    expect(help).toContain("(default: all namespaces)");
  });

  it("collects repeated and comma-separated namespaces", () => {
    const command = controller();
    command.parseOptions(["-n", "a,b", "--namespace", "c"]);
    expect(command.opts().namespace).toEqual(["a", "b", "c"]);
  });

  it("takes Flagger's -mesh-provider spellings for --provider (its Helm chart sets gatewayapi:v1)", () => {
    for (const provider of ["gatewayapi:v1", "gatewayapi:v1beta1", "appmesh:v1beta2", "nginx"]) {
      const command = controller();
      command.parseOptions(["--provider", provider]);
      expect(command.opts().provider).toBe(provider);
    }
    expect(() =>
      controller()
        .exitOverride()
        .configureOutput({ writeErr: () => {} })
        .parseOptions(["--provider", "istio"]),
    ).toThrow(/--provider <name>' argument 'istio' is invalid/);
  });

  it("reads the SigV4 flags for --metrics-server, and their environment variables", () => {
    const help = controller().helpInformation();
    expect(help).toContain("env: KANARIA_METRICS_SERVER_SIGV4_REGION");
    const command = controller();
    command.parseOptions([
      "--metrics-server-sigv4-region",
      "us-west-2",
      "--metrics-server-sigv4-role-arn",
      "arn:aws:iam::123456789012:role/amp",
    ]);
    expect(sigv4FromFlags(command.opts())).toEqual({
      region: "us-west-2",
      roleArn: "arn:aws:iam::123456789012:role/amp",
    });
  });

  it("rejects a role without a region, and a role that is not an IAM role ARN", () => {
    expect(() => sigv4FromFlags({ metricsServerSigv4RoleArn: "arn:aws:iam::123456789012:role/amp" })).toThrow(
      "need --metrics-server-sigv4-region",
    );
    expect(() =>
      sigv4FromFlags({ metricsServerSigv4Region: "us-west-2", metricsServerSigv4RoleArn: "amp" }),
    ).toThrow(
      '--metrics-server-sigv4-role-arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/kanaria, got "amp"',
    );
    expect(sigv4FromFlags({})).toBeUndefined();
  });
});
