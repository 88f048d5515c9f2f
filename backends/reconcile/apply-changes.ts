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
 * Plans and runs `changes` in order. Steps run by phase (deletions and neighbours, then FDB, then
 * routes), so a peer changed twice in one call has its first change run before the second is
 * planned. Returns whether a full reconcile must settle something the changes alone cannot: a
 * subnet overlapping another peer's or a VTEP MAC already in use, decided by the order of the
 * whole set.
 */
export async function applyPeerChanges(
  targets: readonly ChangeTarget[],
  changes: readonly PeerChange[],
  tally: Tally,
  run: (steps: ChangeSteps) => Promise<void>,
): Promise<boolean> {
  let undecided = false;
  let steps: ChangeSteps = { ipFirst: [], bridge: [], ipLast: [] };
  let touched = new Set<string>();
  const flush = async (): Promise<void> => {
    const planned = steps;
    steps = { ipFirst: [], bridge: [], ipLast: [] };
    touched = new Set();
    await run(planned);
  };
  for (const change of changes) {
    for (const target of targets) {
      const subnet = target.family === 4 ? change.peer.subnet : change.peer.subnetV6;
      if (subnet === undefined) continue;
      const label = formatCidr(subnet);
      if (touched.has(`${target.family}|${label}`)) await flush();
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
  }
  await flush();
  // A failed write (a device gone, say) is the safety net's to repair; a skipped lease is not.
  return undecided || tally.errors.some((error) => error.code !== "lease-invalid");
}
