// The incremental path shared by vxlan and host-gw: lease changes turned into the steps of only
// the changed peers, planned against what each peer was given (programmed.ts) — no kernel read.
// A backend supplies, per address family, the record a peer should get and a way to run steps.
import type { PeerChange } from "../backend.ts";
import { formatCidr, type Cidr, type IpFamily } from "../net/ip.ts";
import { planPeerChange, type ChangeSteps, type PeerRecord, type ProgrammedPeers } from "./programmed.ts";
import type { Tally } from "./steps.ts";

/** One address family of a backend, as the incremental path sees it. */
export interface ChangeTarget {
  readonly family: IpFamily;
  readonly programmed: ProgrammedPeers;
  /** The record the peer should have in this family, or undefined when it gets nothing (errors go to the tally). */
  recordOf(change: PeerChange, subnet: Cidr, tally: Tally): PeerRecord | undefined;
}

/**
 * Changes per chunk of a burst. Each chunk is planned and handed to `run` at once, without
 * waiting for the chunks before it: the tools' queues keep each tool's lines in order, and a
 * backend whose phases use different tools (vxlan: neighbours on ip, FDB on bridge, routes on a
 * second ip) then writes one chunk's routes while the next chunk's neighbours are written.
 */
export const changesPerChunk = 256;

/**
 * Plans and runs `changes` in order. Steps run by phase (deletions and neighbours, then FDB, then
 * routes) within a chunk; a peer changed twice waits until every chunk started before is done,
 * so its first change runs before the second is planned. Returns whether a full reconcile must
 * settle something the changes alone cannot: a subnet overlapping another peer's or a VTEP MAC
 * already in use, decided by the order of the whole set.
 */
export async function applyPeerChanges(
  targets: readonly ChangeTarget[],
  changes: readonly PeerChange[],
  tally: Tally,
  run: (steps: ChangeSteps) => Promise<void>,
): Promise<boolean> {
  let undecided = false;
  let steps: ChangeSteps = { ipFirst: [], bridge: [], ipLast: [] };
  let planned = 0;
  let running: Promise<void>[] = [];
  // Peers of the open chunk and of the chunks still running.
  let touched = new Set<string>();
  const startChunk = (): void => {
    if (planned === 0) return;
    const chunk = run(steps);
    // Marked handled at once: its failure is rethrown by settle(), but the turns of the event loop
    // before that must not see an unhandled rejection (which ends the process).
    chunk.catch(() => {});
    running.push(chunk);
    steps = { ipFirst: [], bridge: [], ipLast: [] };
    planned = 0;
  };
  const settle = async (): Promise<void> => {
    startChunk();
    const started = running;
    running = [];
    touched = new Set();
    // Every chunk is waited for, even when one fails (an abort): none may still be writing after.
    const outcomes = await Promise.allSettled(started);
    const failed = outcomes.find((outcome) => outcome.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  };
  for (const change of changes) {
    if (planned >= changesPerChunk) {
      startChunk();
      // Planning is synchronous: without a turn of the event loop here, no chunk's lines would
      // reach the tools before the last chunk was planned (180 ms for 3000 peers).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (const target of targets) {
      const subnet = target.family === 4 ? change.peer.subnet : change.peer.subnetV6;
      if (subnet === undefined) continue;
      const label = formatCidr(subnet);
      if (touched.has(`${target.family}|${label}`)) await settle();
      touched.add(`${target.family}|${label}`);
      const old = target.programmed.get(label);
      const next = change.kind === "added" ? target.recordOf(change, subnet, tally) : undefined;
      if (next !== undefined && ((old === undefined && target.programmed.overlapping(label, subnet) !== undefined) || target.programmed.fdbClash(label, next) !== undefined)) {
        undecided = true;
        continue;
      }
      planPeerChange(label, old, next, steps);
      target.programmed.set(label, next);
    }
    planned += 1;
  }
  await settle();
  // A failed write (a device gone, say) is the safety net's to repair; a skipped lease is not.
  return undecided || tally.errors.some((error) => error.code !== "lease-invalid");
}
