// CPU time over an interval, without cgroups (this host runs cgroup v1 and the benchmarks' daemons
// live in no cgroup of their own):
//   machine: /proc/stat's aggregate "cpu" line; busy = user + nice + system + irq + softirq, in
//            cores (busy seconds / wall seconds; 2 vCPUs = 2.0 at most). Steal (time the
//            hypervisor ran someone else) is counted apart, as a noise indicator, not as work.
//            This is everything the machine did: iperf3 on both ends, veth/bridge forwarding,
//            encapsulation in softirq, the tunnel processes — and anything else running.
//   processes: utime + stime of given PIDs from /proc/PID/stat (a thread-group leader's line sums
//            all its threads, so native worker threads count). Softirq work the kernel does on a
//            process's behalf while another task is on the CPU is billed elsewhere, so for the
//            kernel data path (vxlan) there is no process to name and only the machine figure speaks.
//   user:    utime alone of the same PIDs: the process's own code. What is left of the machine's
//            busy time without it is the kernel's work and everything else (udp.bench.ts derives
//            from it how fast the machine could go if that code cost nothing).
//   threads: utime + stime of each thread of those PIDs (/proc/PID/task/TID/stat); the busiest
//            one bounds a single stream, which never spreads over several threads.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

export interface CpuSnapshot {
  readonly atNs: bigint;
  readonly busyTicks: number;
  readonly stealTicks: number;
  /** utime + stime per PID; a PID that is gone reads as undefined. */
  readonly pidTicks: ReadonlyMap<number, number | undefined>;
  /** utime alone per PID. */
  readonly pidUserTicks: ReadonlyMap<number, number | undefined>;
  /** utime + stime per thread of those PIDs, keyed "PID/TID". */
  readonly threadTicks: ReadonlyMap<string, number>;
}

export interface CpuUse {
  readonly wallSeconds: number;
  /** Busy cores over the interval, whole machine (see the header). */
  readonly machineCores: number;
  readonly stealCores: number;
  /** Cores used by the given PIDs together; undefined when no PIDs were given or one vanished. */
  readonly processCores: number | undefined;
  /** The part of processCores spent in the processes' own code (utime). */
  readonly processUserCores: number | undefined;
  /** Cores of the busiest thread of those PIDs over the interval; undefined as processCores. */
  readonly busiestThreadCores: number | undefined;
}

function machineTicks(): { busy: number; steal: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return { busy: user! + nice! + system! + irq! + softirq!, steal: steal ?? 0 };
}

/** utime and stime of a /proc stat file, in ticks; undefined when it is gone. */
function statTicks(path: string): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(path, "utf8");
    // Fields after the command name, which may contain spaces: index 0 is field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]), system: Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function threadsOf(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

export function cpuSnapshot(pids: readonly number[] = []): CpuSnapshot {
  const { busy, steal } = machineTicks();
  const processes = pids.map((pid) => [pid, statTicks(`/proc/${pid}/stat`)] as const);
  const threadTicks = new Map<string, number>();
  for (const pid of pids)
    for (const tid of threadsOf(pid)) {
      const ticks = statTicks(`/proc/${pid}/task/${tid}/stat`);
      if (ticks !== undefined) threadTicks.set(`${pid}/${tid}`, ticks.user + ticks.system);
    }
  return {
    atNs: process.hrtime.bigint(),
    busyTicks: busy,
    stealTicks: steal,
    pidTicks: new Map(processes.map(([pid, ticks]) => [pid, ticks === undefined ? undefined : ticks.user + ticks.system])),
    pidUserTicks: new Map(processes.map(([pid, ticks]) => [pid, ticks?.user])),
    threadTicks,
  };
}

/** The summed growth of `ticks` per PID; undefined when none were given or one vanished. */
function summedGrowth(before: ReadonlyMap<number, number | undefined>, after: ReadonlyMap<number, number | undefined>): number | undefined {
  if (before.size === 0) return undefined;
  let sum = 0;
  for (const [pid, start] of before) {
    const end = after.get(pid);
    if (start === undefined || end === undefined) return undefined;
    sum += end - start;
  }
  return sum;
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const wallSeconds = Number(after.atNs - before.atNs) / 1e9;
  const cores = (ticks: number): number => ticks / ticksPerSecond / wallSeconds;
  const processTicksSum = summedGrowth(before.pidTicks, after.pidTicks);
  const userTicksSum = summedGrowth(before.pidUserTicks, after.pidUserTicks);
  // A thread born during the interval counts from zero.
  const threadGrowth = [...after.threadTicks].map(([key, end]) => end - (before.threadTicks.get(key) ?? 0));
  return {
    wallSeconds,
    machineCores: cores(after.busyTicks - before.busyTicks),
    stealCores: cores(after.stealTicks - before.stealTicks),
    processCores: processTicksSum === undefined ? undefined : cores(processTicksSum),
    processUserCores: userTicksSum === undefined ? undefined : cores(userTicksSum),
    busiestThreadCores: processTicksSum === undefined || threadGrowth.length === 0 ? undefined : cores(Math.max(...threadGrowth)),
  };
}
