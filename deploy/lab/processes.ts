// The lab's long-lived processes (etcd, one flanneld per node): started inside a namespace with
// their output appended to a log file, and ended by PID — checked against the recorded start time
// so that a PID reused by an unrelated process is never signalled.
//
// They are started in a process group of their own (detached): Ctrl-C in the terminal (and
// `timeout -s INT`, which signals its whole group) then reaches only the lab, which tears down in
// order — pods, agents, etcd, namespaces — instead of every process dying at once. If the lab
// itself is killed, they keep running until `lab down` ends them from the record.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { identify, isRunning, type ProcessIdentity } from "./state.ts";

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LabProcess {
  readonly identity: ProcessIdentity;
  readonly child: ChildProcess;
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
}

/** The PATH a node's daemons get: the system's tools (ip, iptables, nft), nothing of the caller's. */
export const daemonPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** `ip netns exec NS argv…` (which execs, so the PID is the daemon's own) with output to `logFile`. */
export function spawnInNamespace(ns: string, argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = { PATH: daemonPath }): LabProcess {
  const log = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", log, log], detached: true, env });
  } finally {
    closeSync(log);
  }
  const pid = child.pid;
  const identity = pid === undefined ? undefined : identify(pid);
  if (identity === undefined) throw new Error(`could not start ${argv[0]} in ${ns} (see ${logFile})`);
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  // The lab (or a test) must never hang on a daemon: teardown ends them explicitly.
  child.unref();
  return { identity, child, exited };
}

export type EndOutcome = "ended" | "killed" | "not-running";

/**
 * Sends `signal` to exactly that process, waits up to `graceMs` for it to go, then SIGKILL.
 * Resolves once it is gone; "not-running" when it was gone (or the PID is now someone else's).
 */
export async function endProcess(identity: ProcessIdentity, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<EndOutcome> {
  if (!isRunning(identity)) return "not-running";
  try {
    process.kill(identity.pid, signal);
  } catch {
    return "not-running";
  }
  const deadline = Date.now() + graceMs;
  while (isRunning(identity) && Date.now() < deadline) await sleep(20);
  if (!isRunning(identity)) return "ended";
  try {
    process.kill(identity.pid, "SIGKILL");
  } catch {
    return "ended";
  }
  while (isRunning(identity)) await sleep(20);
  return "killed";
}

/** The last `lines` lines of a log file (a placeholder when there is none). */
export function logTail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return `(no log at ${file})`;
  }
}
