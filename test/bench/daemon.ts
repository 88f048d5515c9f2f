// A long-lived process started for a benchmark inside a namespace (`ip netns exec` execs it, so
// the PID is the daemon's own), its output in a log file, ended by PID: on stop(), and from the
// benchmark's cleanup on any failure or Ctrl-C.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { onCleanup } from "./cleanup.ts";

export interface Daemon {
  readonly pid: number;
  readonly logFile: string;
  readonly running: boolean;
  /** SIGTERM, SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<void>;
  logTail(lines?: number): string;
}

export function startDaemon(ns: string, argv: readonly string[], logFile: string): Daemon {
  const log = openSync(logFile, "a");
  const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", log, log] });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(" ")} in ${ns}`);
  const pid = child.pid;
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  child.once("error", () => (exited = true));
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 3000): Promise<void> => {
    stopping ??= (async () => {
      if (!exited) {
        process.kill(pid, "SIGTERM");
        const late = await Promise.race([gone.then(() => false), sleep(graceMs, true)]);
        if (late && !exited) process.kill(pid, "SIGKILL");
        await gone;
      }
    })();
    return stopping;
  };
  onCleanup(() => stop());
  return {
    pid,
    logFile,
    get running() {
      return !exited;
    },
    stop,
    logTail: (lines = 10) => {
      try {
        return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
  };
}
