// What the kernel's two change feeds — change-feed.ts (`ip monitor`, NETLINK_ROUTE) and
// rules/ruleset-feed.ts (`nft monitor`, NETLINK_NETFILTER) — need to know of their monitor
// process, read where the kernel shows it: its netlink socket's row in /proc/<pid>/net/netlink,
// bound to its PID as iproute2 and nft bind it. Multicast groups there mean it listens; bytes
// queued there are events the kernel sent that it has not read yet.
import type { ChildProcess, ChildProcessWithoutNullStreams } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { CoprocessSpawner } from "./batch-process.ts";

export const netlinkRoute = "0";
export const netlinkNetfilter = "12";

const pollMs = 5;
const subscribeTimeoutMs = 5000;
const drainTimeoutMs = 100;

/**
 * A monitor never reads its stdin and, in a quiet namespace, never writes: if the agent died
 * without ending it (kill -9, a crash), nothing would, and it would keep its namespace alive. So
 * it runs with a parent-death signal (setpriv execs the tool: the PID stays the monitor's own).
 */
export function dyingWithParent(argv: readonly string[]): string[] {
  return ["setpriv", "--pdeathsig", "KILL", "--", ...argv];
}

export interface StartedMonitor {
  readonly child: ChildProcessWithoutNullStreams;
  /** Settles once the process has exited and its output was read to the end ('close'). */
  readonly exited: Promise<void>;
  /** waitSubscribed for this process. */
  readonly subscribed: Promise<boolean>;
}

/**
 * Starts one monitor process of a feed: errors on its stdin and the spawn itself are the exit's
 * to tell; `onClose` runs when it has exited and its output was read, just before `exited`
 * settles. Undefined when it could not be spawned at all.
 */
export function startMonitor(
  spawner: CoprocessSpawner,
  argv: readonly string[],
  protocol: string,
  current: () => boolean,
  onClose: (child: ChildProcessWithoutNullStreams) => void,
): StartedMonitor | undefined {
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawner(argv);
  } catch {
    return undefined;
  }
  child.stdin.on("error", () => {});
  child.on("error", () => {});
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => {
      onClose(child);
      resolve();
    });
  });
  return { child, exited, subscribed: waitSubscribed(child, protocol, current) };
}

/** The row of `pid`'s socket of `protocol` in /proc/<pid>/net/netlink, or undefined. */
export async function monitorSocket(pid: number, protocol: string): Promise<{ readonly groups: number; readonly queued: number } | undefined> {
  let table: string;
  try {
    table = await readFile(`/proc/${pid}/net/netlink`, "utf8");
  } catch {
    return undefined;
  }
  // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  for (const row of table.split("\n")) {
    const [, eth, portId, groups = "", queued = ""] = row.trim().split(/\s+/);
    if (eth !== protocol || portId !== String(pid) || !/^[0-9a-f]+$/.test(groups) || !/^\d+$/.test(queued)) continue;
    return { groups: Number.parseInt(groups, 16), queued: Number(queued) };
  }
  return undefined;
}

/**
 * Resolves true once `child` listens (its socket has multicast groups), false when it exits, the
 * caller moved on (`current` turned false) or five seconds passed.
 */
export async function waitSubscribed(child: ChildProcess, protocol: string, current: () => boolean): Promise<boolean> {
  const pid = child.pid;
  if (pid === undefined) return false;
  const deadline = Date.now() + subscribeTimeoutMs;
  while (Date.now() < deadline && current() && child.exitCode === null && child.signalCode === null) {
    if (((await monitorSocket(pid, protocol))?.groups ?? 0) !== 0) return current();
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return false;
}

/**
 * Waits (briefly, bounded) until the monitor has taken every queued event from its socket, then
 * two turns of the event loop, whose poll phase reads whatever the pipe holds.
 */
export async function waitDrained(pid: number, protocol: string): Promise<void> {
  for (let waited = 0; waited < drainTimeoutMs && ((await monitorSocket(pid, protocol))?.queued ?? 0) > 0; waited += pollMs) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}
