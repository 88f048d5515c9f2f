// Long-running processes for tests (etcd, flanneld, iperf3 …): spawn them, optionally inside a
// namespace, wait until they are ready, and end them by PID — never by name. Every PID is also
// recorded in the run's state directory so the suite runner can sweep what a crashed test left.
import { spawn, type ChildProcess } from "node:child_process";
import { access, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { bashScript, run } from "../../deploy/lab/tools/command.ts";
import { endProcessesSync, onExitOrSignal, processStartTime } from "../../deploy/lab/tools/exit-guard.ts";
import { waitFor, type WaitOptions } from "../../deploy/lab/tools/wait.ts";
import { runStateDir } from "./run-context.ts";

// Re-exported: tests have always found these here.
export { processStartTime, waitFor, type WaitOptions };

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
  /** stdout and stderr so far (kept whole; these are test processes with modest output). */
  output(): string;
  /** Signal, wait up to `graceMs`, then SIGKILL. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

export interface SpawnOptions {
  /** Run inside this network namespace (`ip netns exec`, which execs: the PID is the command's). */
  readonly netns?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
}

const living = new Set<number>();
onExitOrSignal(() => endProcessesSync([...living]));

function pidRecordPath(pid: number): string {
  return join(runStateDir, "pids", String(pid));
}

export function spawnProcess(argv: readonly string[], options: SpawnOptions = {}): ManagedProcess {
  const full = options.netns === undefined ? [...argv] : ["ip", "netns", "exec", options.netns, ...argv];
  const [file, ...args] = full;
  if (file === undefined) throw new Error("spawnProcess: empty argv");
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`spawnProcess: could not start ${file}`);
  const pid = child.pid;
  living.add(pid);
  writeFileSync(pidRecordPath(pid), `${processStartTime(pid) ?? ""}\n`);

  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stdin?.on("error", () => {});
  if (options.input === undefined) child.stdin?.end();
  else child.stdin?.end(options.input);

  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      living.delete(pid);
      rmSync(pidRecordPath(pid), { force: true });
      resolve({ code, signal });
    });
  });
  let stopping: Promise<Exit> | undefined;

  return {
    pid,
    child,
    exited,
    output: () => output,
    stop(signal = "SIGTERM", graceMs = 5000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const timedOut = Symbol("timeout");
          const result = await Promise.race([exited, sleep(graceMs, timedOut, { ref: false })]);
          if (result === timedOut) child.kill("SIGKILL");
        }
        return exited;
      })();
      return stopping;
    },
  };
}

export function waitForFile(path: string, options: Omit<WaitOptions, "what"> & { what?: string }): Promise<true> {
  return waitFor(
    () => new Promise<boolean>((resolve) => access(path, (error) => resolve(error === null))),
    { ...options, what: options.what ?? `file ${path}` },
  );
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Waits until a TCP port accepts connections — from the root namespace, or from inside `netns`. */
export function waitForTcpPort(host: string, port: number, options: Omit<WaitOptions, "what"> & { netns?: string }): Promise<true> {
  const check =
    options.netns === undefined
      ? () => tcpOpen(host, port)
      : async () => {
          const probe = `exec 3<>/dev/tcp/${host}/${port}`;
          const result = await run(["ip", "netns", "exec", options.netns!, ...bashScript(probe)], { allowFailure: true });
          return result.code === 0;
        };
  return waitFor(check, { ...options, what: `TCP ${host}:${port}${options.netns ? ` in ${options.netns}` : ""}` });
}
