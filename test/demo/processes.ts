// The demo's child processes: the controller and the simulator as long-running services with their
// output in log files, and test/cluster/cluster.sh for the control plane. Each service runs in its own
// process group (so a Ctrl-C in the terminal reaches the demo alone, which stops them in order), with
// a small watchdog that stops it if the demo itself dies without cleaning up (SIGKILL).
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLUSTER_SH = path.join(REPO_ROOT, "test/cluster/cluster.sh");

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

/** The last `lines` lines of a file, indented, for error messages; "" when it cannot be read. */
export function tailOf(file: string, lines = 20): string {
  try {
    const text = readFileSync(file, "utf8").trimEnd();
    return text
      .split("\n")
      .slice(-lines)
      .map((l) => `    | ${l}`)
      .join("\n");
  } catch {
    return "";
  }
}

// Runs while both the demo ($1) and the service ($2) live; when the demo is gone first, it stops the
// service's process group.
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do kill -0 "$2" 2>/dev/null || exit 0; sleep 1; done
kill -TERM -- "-$2" 2>/dev/null; sleep 5; kill -KILL -- "-$2" 2>/dev/null; exit 0`;

export class Service {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #watchdog: ChildProcess | undefined;
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;

  constructor(
    name: string,
    command: string,
    args: string[],
    opts: { logFile: string; env?: NodeJS.ProcessEnv },
  ) {
    this.name = name;
    this.logFile = opts.logFile;
    const fd = openSync(opts.logFile, "a");
    try {
      this.#child = spawn(command, args, {
        cwd: REPO_ROOT,
        env: opts.env ?? process.env,
        detached: true,
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.#child.once("error", (err) => {
        this.#exit = { code: 127, signal: null };
        resolve(this.#exit);
        process.stderr.write(`cannot start ${name}: ${err.message}\n`);
      });
      this.#child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    const pid = this.#child.pid;
    if (pid !== undefined) {
      this.#watchdog = spawn(
        "bash",
        ["-c", WATCHDOG, `kanaria-demo-watchdog-${name}`, String(process.pid), String(pid)],
        {
          detached: true,
          stdio: "ignore",
        },
      );
      this.#watchdog.unref();
    }
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How it ended, once it has. */
  get exit(): ExitInfo | undefined {
    return this.#exit;
  }

  /** SIGTERM to its process group, SIGKILL after graceMs; resolves once it is gone. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    const pid = this.#child.pid;
    if (this.#exit === undefined && pid !== undefined) {
      signalGroup(pid, "SIGTERM");
      const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
      // Anything it started in its group goes too.
      signalGroup(pid, "SIGKILL");
    }
    this.#watchdog?.kill("SIGKILL");
    return this.exited;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export interface ClusterShRun {
  /** Exit code (128 + n for a signal). */
  done: Promise<number>;
  /** Asks it to stop (SIGTERM): `up` then stops what it started before exiting. */
  interrupt(): void;
}

/**
 * Runs `cluster.sh ARGS` in its own process group with `env`; each line it writes to stderr (its
 * progress and failure reports) goes to onLine. stdout (the env file's contents) is dropped.
 */
export function clusterSh(
  args: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void,
): ClusterShRun {
  const child = spawn("bash", [CLUSTER_SH, ...args], {
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let buffered = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    buffered += chunk;
    let nl = buffered.indexOf("\n");
    while (nl >= 0) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf("\n");
    }
  });
  const done = new Promise<number>((resolve) => {
    child.once("error", (err) => {
      onLine(`cannot run ${CLUSTER_SH}: ${err.message}`);
      resolve(127);
    });
    child.once("close", (code, signal) => {
      if (buffered) onLine(buffered);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
  let interrupted = false;
  return {
    done,
    interrupt() {
      if (interrupted || child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
        return;
      interrupted = true;
      // Once, to the script's process group: the script and what it waits for (a build, a curl), so its
      // trap runs at once and stops the components, which run in sessions of their own. A second
      // signal would cut that cleanup short.
      signalGroup(child.pid, "SIGTERM");
    },
  };
}
