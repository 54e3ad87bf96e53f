// Runs `kanaria controller` as a real child process for integration tests, so tests can SIGKILL it.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { spawnLogged } from "./child-log.ts";

const repoRoot = join(import.meta.dirname, "../..");

export interface ControllerProcess {
  readonly logFile: string;
  /** Resolves when the process is gone, with the signal that ended it (null for a normal exit). */
  readonly exited: Promise<NodeJS.Signals | null>;
  /** SIGKILL: the process gets no chance to clean up, as when a node dies. */
  kill(): Promise<void>;
  /** SIGTERM, and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function startControllerProcess(
  namespace: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): ControllerProcess {
  const logFile = join(repoRoot, ".kanaria", "test-logs", `controller-${namespace}-${Date.now()}.log`);
  const child: ChildProcess = spawnLogged(
    process.execPath,
    [
      join(repoRoot, "src/cli/main.ts"),
      "controller",
      "--kubeconfig",
      inject("kubeconfig"),
      "--namespace",
      namespace,
      "--log-level",
      "debug",
      // Test files run controllers side by side: each gets a free port (extraArgs may name one).
      "--metrics-bind-address",
      "127.0.0.1:0",
      ...extraArgs,
    ],
    logFile,
    { env: { ...process.env, ...env } },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    logFile,
    exited: exited.then(() => child.signalCode),
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/**
 * One controller process for a test file, watching its namespace: started in beforeAll, stopped in
 * afterAll, where it must exit 0 (a graceful shutdown). Returns a getter for the running process.
 */
export function useController(
  namespace: string,
  extraArgs: () => string[] = () => [],
): () => ControllerProcess {
  let controller: ControllerProcess | undefined;
  beforeAll(() => {
    controller = startControllerProcess(namespace, extraArgs());
  });
  afterAll(async () => {
    if (!controller) return;
    expect(await controller.stop(), `controller exit code (log: ${controller.logFile})`).toBe(0);
  });
  return () => {
    if (!controller) throw new Error("useController: the controller starts in beforeAll");
    return controller;
  };
}
