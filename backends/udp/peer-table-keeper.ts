// The peer table as this node's data plane holds it: computed from the peers a reconcile hands
// in (the whole set) or from an apply's changes (kept per subnet), sent to the data plane when it
// changed — or always, on a full reconcile — with what changed booked in the run's tally.
import type { Peer, PeerChange, ReconcileDepth } from "../backend.ts";
import { formatCidr, type Cidr } from "../net/ip.ts";
import { samePeers } from "../reconcile/peers.ts";
import type { Tally } from "../reconcile/steps.ts";
import type { DataPlane } from "./dgram-native.ts";
import type { DropReporter } from "./drop-report.ts";
import { tableChange, udpPeerTable, type PeerTableEntry } from "./peer-table.ts";

export interface PeerTableKeeper {
  /** The table last sent (what a reopened data plane is given at once). */
  readonly entries: readonly PeerTableEntry[];
  reconcile(plane: DataPlane, peers: readonly Peer[], depth: ReconcileDepth, tally: Tally): void;
  /** Applies lease changes to the table; without a data plane they wait for the next reconcile. */
  apply(plane: DataPlane | undefined, changes: readonly PeerChange[], tally: Tally): void;
}

export function createPeerTableKeeper(ownSubnet: () => Cidr | undefined, drops: DropReporter): PeerTableKeeper {
  let entries: readonly PeerTableEntry[] = [];
  let sent = false;
  const bySubnet = new Map<string, Peer>();
  /** The peers of the last reconcile, while no apply() changed the table since. */
  let lastPeers: readonly Peer[] | undefined;

  // Only this backend writes the table, so it cannot drift: an unchanged one is not sent again
  // unless `force` (a full reconcile) says so.
  function send(plane: DataPlane, tally: Tally, force: boolean): void {
    const next = udpPeerTable([...bySubnet.values()], ownSubnet());
    tally.errors.push(...next.errors);
    const change = tableChange(entries, next.entries);
    const changed = change.added + change.removed + change.changed > 0;
    // Until the first table every datagram is from an unknown source: not worth a warning.
    if (!sent) drops.baseline(plane.counters());
    if (force || changed || !sent) plane.setPeers(next.entries);
    sent = true;
    entries = next.entries;
    tally.added += change.added;
    tally.removed += change.removed;
    tally.repaired += change.changed;
  }

  return {
    get entries() {
      return entries;
    },
    reconcile(plane, peers, depth, tally) {
      // A resync with the very peers of the last run (the agent hands the same Peer objects
      // while leases stand) has nothing to compute.
      if (depth === "resync" && lastPeers !== undefined && samePeers(lastPeers, peers)) return;
      bySubnet.clear();
      for (const peer of peers) if (peer.subnet !== undefined) bySubnet.set(formatCidr(peer.subnet), peer);
      send(plane, tally, depth === "full");
      lastPeers = peers;
    },
    apply(plane, changes, tally) {
      for (const change of changes) {
        if (change.peer.subnet === undefined) continue;
        const key = formatCidr(change.peer.subnet);
        if (change.kind === "added") bySubnet.set(key, change.peer);
        else bySubnet.delete(key);
      }
      lastPeers = undefined;
      if (plane !== undefined) send(plane, tally, false);
    },
  };
}
