// The agent as a process group, for the benchmarks: flanneld's node process plus every process it
// started (its long-lived `ip`/`bridge` batch coprocesses, iptables runs, …), found through
// /proc/PID/task/*/children recursively (any thread may be the parent). Memory is summed PSS
// (smaps_rollup), which splits shared pages between the processes mapping them, so the sum is
// what the group costs the node; CPU is utime+stime from /proc/PID/stat.
import { readdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return ""; // the process (or thread) ended between listing and reading
  }
}

/** `pid` and all its descendants, parents first. */
export function processTree(pid: number): number[] {
  const found: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const current = pending.shift()!;
    found.push(current);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      for (const word of readOrEmpty(`/proc/${current}/task/${task}/children`).split(/\s+/)) if (word !== "") pending.push(Number(word));
    }
  }
  return found;
}

const comm = (pid: number): string => readOrEmpty(`/proc/${pid}/comm`).trim();

export interface GroupMemory {
  /** Summed Pss of the agent's node process and every descendant, MiB. */
  readonly pssMiB: number;
  readonly agentPssMiB: number;
  readonly processes: ReadonlyArray<{ pid: number; comm: string; pssMiB: number }>;
}

export function readGroupPss(agentPid: number): GroupMemory {
  const processes: Array<{ pid: number; comm: string; pssKiB: number }> = [];
  for (const pid of processTree(agentPid)) {
    const pss = Number(/^Pss:\s+(\d+) kB/m.exec(readOrEmpty(`/proc/${pid}/smaps_rollup`))?.[1] ?? Number.NaN);
    if (!Number.isNaN(pss)) processes.push({ pid, comm: comm(pid), pssKiB: pss });
  }
  const total = processes.reduce((sum, process) => sum + process.pssKiB, 0);
  return {
    pssMiB: mib(total),
    agentPssMiB: mib(processes.find((process) => process.pid === agentPid)?.pssKiB ?? Number.NaN),
    processes: processes.map(({ pid, comm, pssKiB }) => ({ pid, comm, pssMiB: mib(pssKiB) })),
  };
}

export const formatGroup = (group: GroupMemory): string =>
  `group PSS ${group.pssMiB} MiB (${group.processes.map((process) => `${process.comm}[${process.pid}] ${process.pssMiB}`).join(", ")})`;

/** utime+stime and cutime+cstime (children already reaped) of one process, in clock ticks. */
function cpuTicks(pid: number): { own: number; reaped: number } | undefined {
  const stat = readOrEmpty(`/proc/${pid}/stat`);
  if (stat === "") return undefined;
  // Fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { own: Number(fields[11]) + Number(fields[12]), reaped: Number(fields[13]) + Number(fields[14]) };
}

export interface IdleCpu {
  readonly seconds: number;
  /** The node process, % of one core. */
  readonly agentPercent: number;
  /** Its descendants (live at both readings) plus those it reaped meanwhile, % of one core. */
  readonly childrenPercent: number;
  readonly children: ReadonlyArray<{ pid: number; comm: string; percent: number }>;
  readonly childrenStartedMeanwhile: number;
}

/** CPU used by the agent's process group over `seconds` of wall time. */
export async function measureCpu(agentPid: number, seconds: number): Promise<IdleCpu> {
  const before = new Map(processTree(agentPid).map((pid) => [pid, cpuTicks(pid)] as const));
  const start = performance.now();
  await sleep(seconds * 1000);
  const wallSeconds = (performance.now() - start) / 1000;
  const after = processTree(agentPid);
  const percent = (ticks: number): number => Math.round(((ticks / clockTicks / wallSeconds) * 100) * 100) / 100;
  const agentBefore = before.get(agentPid);
  const agentAfter = cpuTicks(agentPid);
  const children: Array<{ pid: number; comm: string; percent: number }> = [];
  let childTicks = 0;
  let startedMeanwhile = 0;
  for (const pid of after) {
    if (pid === agentPid) continue;
    const then = before.get(pid);
    const now = cpuTicks(pid);
    if (now === undefined) continue;
    if (then === undefined) startedMeanwhile++;
    const used = now.own - (then?.own ?? 0);
    childTicks += used;
    children.push({ pid, comm: comm(pid), percent: percent(used) });
  }
  // Every descendant reaps its own children, so cutime+cstime of each survivor covers the short-lived ones.
  for (const pid of after) {
    const then = before.get(pid);
    const now = cpuTicks(pid);
    if (then !== undefined && now !== undefined) childTicks += now.reaped - then.reaped;
  }
  return {
    seconds: Math.round(wallSeconds * 10) / 10,
    agentPercent: percent((agentAfter?.own ?? Number.NaN) - (agentBefore?.own ?? Number.NaN)),
    childrenPercent: percent(childTicks),
    children,
    childrenStartedMeanwhile: startedMeanwhile,
  };
}
