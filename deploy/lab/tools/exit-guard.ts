// Last-resort cleanup for a test process: whatever it created is removed when the process
// exits, also after an uncaught failure or an interrupt (SIGINT/SIGTERM/SIGHUP), so no
// namespace or child process outlives the run. Everything here is synchronous because an
// 'exit' listener cannot wait for promises.
import { readFileSync } from "node:fs";

type SyncCleanup = () => void;
const cleanups: SyncCleanup[] = [];
let installed = false;
let ran = false;

function runCleanups(): void {
  if (ran) return;
  ran = true;
  // Reverse order: processes first (registered last), then the namespaces they live in.
  for (const cleanup of cleanups.toReversed()) {
    try {
      cleanup();
    } catch (error) {
      process.stderr.write(`test cleanup failed: ${String(error)}\n`);
    }
  }
}

export function onExitOrSignal(cleanup: SyncCleanup): void {
  cleanups.push(cleanup);
  if (installed) return;
  installed = true;
  process.on("exit", runCleanups);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      runCleanups();
      process.kill(process.pid, signal);
    });
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; it is gone for our purposes.
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Start time in clock ticks since boot: with the PID it names one process, even after PID reuse. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** SIGTERM, up to 2 s grace, then SIGKILL — each process addressed by its PID only. */
export function endProcessesSync(pids: readonly number[]): void {
  const living = pids.filter(isAlive);
  for (const pid of living) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 2000;
  while (living.some(isAlive) && Date.now() < deadline) sleepSync(20);
  for (const pid of living.filter(isAlive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
