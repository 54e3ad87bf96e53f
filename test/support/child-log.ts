// Child processes of the tests and the bench write their output to a log file themselves.
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Spawns `command` with its standard output and error both written to `logFile` (emptied first) by the child itself.
 * Piping both into one write stream breaks: the pipe that closes first ends the stream, and the
 * other's last chunk is then written after the end (ERR_STREAM_WRITE_AFTER_END, an unhandled error
 * that fails the test run). A descriptor the child inherits has no end to race, and keeps what a
 * SIGKILLed child wrote without the parent having to read it.
 */
export function spawnLogged(
  command: string,
  args: readonly string[],
  logFile: string,
  options: Omit<SpawnOptions, "stdio"> = {},
): ChildProcess {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, "w");
  try {
    return spawn(command, args, { ...options, stdio: ["ignore", fd, fd] });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}
