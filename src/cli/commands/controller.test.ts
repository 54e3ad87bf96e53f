import { describe, expect, it } from "vitest";
import { buildProgram } from "../program.ts";

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
});
