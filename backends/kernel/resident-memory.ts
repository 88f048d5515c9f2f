// How much memory a helper process holds: the writers (batch-lifetime.ts) and the nft monitor
// (rules/ruleset-feed.ts) are replaced or given up when they grow past a bound.
import { readFileSync } from "node:fs";

/** VmRSS of a process in bytes, or undefined when it cannot be read (gone, no /proc). */
export function residentBytes(pid: number): number | undefined {
  try {
    // A small procfs read: no disk, a few microseconds, so it is read synchronously.
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}
