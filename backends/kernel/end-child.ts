// The one way a long-lived helper process of the kernel layer is ended: its stdin closed (a batch
// tool finishes the lines it has and exits), then SIGKILL — to the child's own PID, never by name —
// if it is still running after `graceMs`. Resolves once `closed` does (Node reaped the child and
// read its pipes to the end), so nothing of it outlives the call.
import type { ChildProcess } from "node:child_process";

export async function endChild(child: ChildProcess, closed: Promise<void>, graceMs: number): Promise<void> {
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  if (!running()) return closed;
  child.stdin?.end();
  const timer = setTimeout(() => running() && child.kill("SIGKILL"), graceMs);
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}
