// How long one batch writer lives. iproute2's batch mode keeps memory for every modifying command
// and never gives it back, so a writer that lived forever would grow with every write the agent
// ever made (the harness: 60,000 `route replace` → 245 MiB in one `ip -force -batch -`).
//
// Measured here (iproute2 6.1, kernel 6.18, VmRSS sampled after every 2000 lines of one process):
//   ip route replace     2.2 MiB at start, +8096 KiB per 2000 lines (4.05 KiB/line), 83.7 MiB at 20,000
//   ip neigh replace     the same slope (4.05 KiB/line)
//   bridge fdb replace   1.6 MiB at start, the same slope, 82.8 MiB at 20,000
//   checkpoints only     (`link show dev .`, a failing read) 2.2 → 2.5 MiB, flat at 20,000
//   reads                (`-json` route/neigh/link/fdb dumps of 5000 entries, `route get`,
//                        `link show dev X`: 2000 each) flat within 8 KiB
// So the cost is one 4 KiB page per modifying command and nothing for reads (the read coprocesses
// of read-coprocess.ts need no bound). A writer is therefore replaced after
// `maxCommandsPerProcess` lines (default 2000: at most ~8 MiB of growth, ~11 MiB per writer at
// its largest). Starting `ip` costs ~14 ms here (spawn to first answer), about an eighth of what
// 2000 route lines take; the supervisor starts the successor while the old writer runs its last
// slice, so the start stays off the request's path. As a safety net for lines or tool versions
// that keep more than measured, a writer is also replaced when its VmRSS exceeds
// `maxResidentBytes` (default 16 MiB, well above the ~11 MiB the line bound allows, so the known
// commands never trip it).
// VmRSS is read from /proc between attempts, at most once per `residentCheckInterval` lines.
//
// A replacement happens only where every line sent to the process has been proven run (the
// checkpoint that ends an attempt), so nothing is lost or applied twice; the old process gets
// stdin EOF, is waited for, and is SIGKILLed only after the grace.
import type { Coprocess } from "./batch-process.ts";
import { endChild } from "./end-child.ts";
import { residentBytes } from "./resident-memory.ts";

export interface BatchLifetimeOptions {
  /** Request lines one process runs before it is replaced (Infinity: never). Default 2000. */
  readonly maxCommandsPerProcess?: number;
  /** VmRSS above which a process is replaced (Infinity: never). Default 16 MiB. */
  readonly maxResidentBytes?: number;
  /** Lines between two VmRSS reads of the same process. Default 256. */
  readonly residentCheckInterval?: number;
}

export interface BatchLifetime {
  readonly maxCommands: number;
  readonly maxResidentBytes: number;
  readonly residentCheckInterval: number;
}

export const defaultMaxCommandsPerProcess = 2000;
export const defaultMaxResidentBytes = 16 * 1024 * 1024;
export const defaultResidentCheckInterval = 256;

function positive(value: number | undefined, fallback: number): number {
  if (value === undefined || Number.isNaN(value)) return fallback;
  return value === Infinity ? Infinity : Math.max(1, Math.floor(value));
}

export function batchLifetime(options: BatchLifetimeOptions): BatchLifetime {
  return {
    maxCommands: positive(options.maxCommandsPerProcess, defaultMaxCommandsPerProcess),
    maxResidentBytes: positive(options.maxResidentBytes, defaultMaxResidentBytes),
    residentCheckInterval: positive(options.residentCheckInterval, defaultResidentCheckInterval),
  };
}

export type RetireReason = "command-bound" | "memory-bound" | "stale-device" | "recycle" | "close";

/**
 * Why a process that just finished an attempt cleanly should be replaced, if it should. Reads its
 * VmRSS when `residentCheckInterval` lines have passed since the last read (and notes the read).
 */
export function retireReason(process: Coprocess, lifetime: BatchLifetime): RetireReason | undefined {
  if (process.commands >= lifetime.maxCommands) return "command-bound";
  if (lifetime.maxResidentBytes === Infinity || process.pid === undefined) return undefined;
  if (process.commands - process.commandsAtResidentCheck < lifetime.residentCheckInterval) return undefined;
  process.commandsAtResidentCheck = process.commands;
  const bytes = residentBytes(process.pid);
  return bytes !== undefined && bytes > lifetime.maxResidentBytes ? "memory-bound" : undefined;
}

/** Ends a process: stdin EOF, then SIGKILL if it has not exited after `graceMs`; resolves once reaped. */
export async function endProcess(process: Coprocess, graceMs: number): Promise<void> {
  if (process.exited || process.child === undefined) return process.closed;
  await endChild(process.child, process.closed, graceMs);
}
