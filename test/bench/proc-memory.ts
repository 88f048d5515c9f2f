// flanneld's memory as the kernel accounts it, for the benchmarks. VmRSS counts every resident
// page, including the Node binary's and shared libraries' file pages (34 MiB of `node -e 0`'s 41),
// which the page cache shares between processes; RssAnon is the process's private heap, stacks and
// JIT code — what another flanneld would not share — and Pss (smaps_rollup) splits shared pages
// among the processes mapping them.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface Memory {
  readonly rssMiB: number;
  readonly rssAnonMiB: number;
  readonly rssFileMiB: number;
  readonly hwmMiB: number;
  readonly pssMiB: number;
  readonly pssAnonMiB: number;
  readonly pssFileMiB: number;
}

/** The node process behind the agent's PID (dist/bin/flanneld is `ip netns exec` → sh → exec node). */
export function nodePid(pid: number): number {
  for (let current = pid, depth = 0; depth < 4; depth++) {
    const comm = readFileSync(`/proc/${current}/comm`, "utf8").trim();
    if (comm === "node" || comm.startsWith("MainThread")) return current;
    const children = readFileSync(`/proc/${current}/task/${current}/children`, "utf8").trim().split(/\s+/).filter((word) => word !== "");
    if (children.length !== 1) break;
    current = Number(children[0]);
  }
  throw new Error(`cannot find the node process of flanneld (pid ${pid})`);
}

function kibField(text: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
}

const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

export function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  return {
    rssMiB: mib(kibField(status, "VmRSS")),
    rssAnonMiB: mib(kibField(status, "RssAnon")),
    rssFileMiB: mib(kibField(status, "RssFile")),
    hwmMiB: mib(kibField(status, "VmHWM")),
    pssMiB: mib(kibField(rollup, "Pss")),
    pssAnonMiB: mib(kibField(rollup, "Pss_Anon")),
    pssFileMiB: mib(kibField(rollup, "Pss_File")),
  };
}

export const formatMemory = (m: Memory): string =>
  `VmRSS ${m.rssMiB} MiB (RssAnon ${m.rssAnonMiB}, RssFile ${m.rssFileMiB}), Pss ${m.pssMiB} MiB (anon ${m.pssAnonMiB}), VmHWM ${m.hwmMiB} MiB`;

/**
 * The reading one second after a burst, then again after `settleSeconds` of quiet: V8's memory
 * reducer gives back the burst's garbage only after several seconds of low allocation, and the
 * second reading is what a node carries in its steady state.
 */
export async function memoryAfterBurst(pid: number, settleSeconds: number): Promise<{ burst: Memory; settled: Memory; rssEveryFiveSeconds: number[] }> {
  await sleep(1000);
  const burst = readMemory(pid);
  const rssEveryFiveSeconds: number[] = [];
  for (let waited = 0; waited < settleSeconds; waited += 5) {
    await sleep(5000);
    rssEveryFiveSeconds.push(readMemory(pid).rssMiB);
  }
  return { burst, settled: readMemory(pid), rssEveryFiveSeconds };
}
