// The udp data plane's peer table: for each peer, its IPv4 subnet → its PublicIP (the port is
// this node's own Backend.Port, as in Flannel, whose proxy sends every peer to the local port).
// Pure and table-tested: the same validation as every backend (peersOfFamily: no own subnet, no
// overlapping subnets, no 0.0.0.0 PublicIP), and what changed between two tables, for the report.
import type { Peer } from "../backend.ts";
import type { FlannelError } from "../errors.ts";
import { formatIp, type Cidr } from "../net/ip.ts";
import { peersOfFamily } from "../reconcile/peers.ts";

/** One row as the data plane takes it: "10.244.3.0/24" → "198.18.0.3". */
export interface PeerTableEntry {
  readonly subnet: string;
  readonly publicIP: string;
}

export interface PeerTable {
  readonly entries: readonly PeerTableEntry[];
  readonly errors: readonly FlannelError[];
}

/** The table for `peers` (IPv4 only: Flannel's udp backend carries IPv4). */
export function udpPeerTable(peers: readonly Peer[], ownSubnet: Cidr | undefined): PeerTable {
  const selected = peersOfFamily(peers, 4, ownSubnet);
  return {
    entries: selected.peers.map((peer) => ({ subnet: peer.label, publicIP: formatIp(peer.publicIP) })),
    errors: selected.errors,
  };
}

export interface TableChange {
  readonly added: number;
  readonly removed: number;
  /** Subnets whose PublicIP changed (the node moved, or a lease was taken over). */
  readonly changed: number;
}

/** What going from `before` to `after` adds, removes and changes, by subnet. */
export function tableChange(before: readonly PeerTableEntry[], after: readonly PeerTableEntry[]): TableChange {
  const old = new Map(before.map((entry) => [entry.subnet, entry.publicIP]));
  let added = 0;
  let changed = 0;
  for (const entry of after) {
    const previous = old.get(entry.subnet);
    if (previous === undefined) added += 1;
    else if (previous !== entry.publicIP) changed += 1;
    old.delete(entry.subnet);
  }
  return { added, removed: old.size, changed };
}
