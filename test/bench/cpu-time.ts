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
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

export interface CpuSnapshot {
  readonly atNs: bigint;
  readonly busyTicks: number;
  readonly stealTicks: number;
  /** utime + stime per PID; a PID that is gone reads as undefined. */
  readonly pidTicks: ReadonlyMap<number, number | undefined>;
}

export interface CpuUse {
  readonly wallSeconds: number;
  /** Busy cores over the interval, whole machine (see the header). */
  readonly machineCores: number;
  readonly stealCores: number;
  /** Cores used by the given PIDs together; undefined when no PIDs were given or one vanished. */
  readonly processCores: number | undefined;
}

function machineTicks(): { busy: number; steal: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return { busy: user! + nice! + system! + irq! + softirq!, steal: steal ?? 0 };
}

function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may contain spaces: index 0 is field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

export function cpuSnapshot(pids: readonly number[] = []): CpuSnapshot {
  const { busy, steal } = machineTicks();
  return { atNs: process.hrtime.bigint(), busyTicks: busy, stealTicks: steal, pidTicks: new Map(pids.map((pid) => [pid, processTicks(pid)])) };
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const wallSeconds = Number(after.atNs - before.atNs) / 1e9;
  const cores = (ticks: number): number => ticks / ticksPerSecond / wallSeconds;
  let processTicksSum: number | undefined = before.pidTicks.size === 0 ? undefined : 0;
  for (const [pid, start] of before.pidTicks) {
    const end = after.pidTicks.get(pid);
    processTicksSum = start === undefined || end === undefined || processTicksSum === undefined ? undefined : processTicksSum + end - start;
  }
  return {
    wallSeconds,
    machineCores: cores(after.busyTicks - before.busyTicks),
    stealCores: cores(after.stealTicks - before.stealTicks),
    processCores: processTicksSum === undefined ? undefined : cores(processTicksSum),
  };
}
