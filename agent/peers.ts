// From leases to the data plane's peers. The one place where agent/ types meet backends/ types:
// backends never see a Lease, only a Peer. Leases of another backend type are left out with a
// warning, as Flannel's vxlan and host-gw backends do (F:pkg/backend/vxlan/vxlan_network.go).
//
// udp is the exception: Flannel's udp backend writes no BackendType (its leases and backend-type
// annotations carry ""), and it filters nothing. A udp agent therefore takes a lease without a
// type as a udp peer (and one that says "udp"); a lease naming another backend is still left out.
import type { Peer, PeerChange } from "../backends/backend.ts";
import { formatCidr } from "../backends/net/ip.ts";
import { weakMemo } from "../backends/reconcile/weak-memo.ts";
import type { Log } from "./ops/log.ts";
import type { LeaseChange } from "./subnet/lease-set.ts";
import type { Lease } from "./subnet/manager.ts";

/** The Peer of a lease; built once per lease object (see weak-memo.ts). */
export const peerFromLease: (lease: Lease) => Peer = weakMemo(buildPeer);

function buildPeer(lease: Lease): Peer {
  const { attrs } = lease;
  return {
    ...(lease.subnet === undefined ? {} : { subnet: lease.subnet }),
    ...(lease.subnetV6 === undefined ? {} : { subnetV6: lease.subnetV6 }),
    publicIP: attrs.publicIP,
    ...(attrs.publicIPv6 === undefined ? {} : { publicIPv6: attrs.publicIPv6 }),
    backendType: attrs.backendType,
    ...(attrs.backendData === undefined ? {} : { backendData: attrs.backendData }),
    ...(attrs.backendV6Data === undefined ? {} : { backendV6Data: attrs.backendV6Data }),
  };
}

/** The BackendType a node running `backendType` writes in its lease: none for udp, as Flannel. */
export function leaseBackendType(backendType: string): string {
  return backendType === "udp" ? "" : backendType;
}

/** Whether a lease whose BackendType is `leaseType` is a peer of a `backendType` node. */
export function isPeerOfType(leaseType: string, backendType: string): boolean {
  return leaseType === backendType || (backendType === "udp" && leaseType === "");
}

function warnForeign(lease: Lease, backendType: string, log: Log, warned: Set<string>): void {
  const subnet = lease.subnet === undefined ? "" : formatCidr(lease.subnet);
  const key = `${subnet}|${lease.attrs.backendType}`;
  if (!warned.has(key)) {
    warned.add(key);
    log.warn("ignoring a lease of another backend type", { subnet, backend: lease.attrs.backendType, expected: backendType });
  }
}

/**
 * Lease changes as a backend of `backendType` applies them. A lease that now names another
 * backend type is a removal here: whatever its previous attributes got must go.
 */
export function peerChangesForBackend(changes: readonly LeaseChange[], backendType: string, log: Log, warned: Set<string>): PeerChange[] {
  return changes.map((change): PeerChange => {
    const peer = peerFromLease(change.lease);
    if (change.kind === "removed") return { kind: "removed", peer };
    if (isPeerOfType(change.lease.attrs.backendType, backendType)) return { kind: "added", peer };
    warnForeign(change.lease, backendType, log, warned);
    return { kind: "removed", peer };
  });
}

/**
 * The peers a backend of `backendType` should program. `warned` remembers which leases were
 * already reported, so a foreign lease costs one warning, not one per reconcile.
 */
export function peersForBackend(leases: readonly Lease[], backendType: string, log: Log, warned: Set<string>): Peer[] {
  const peers: Peer[] = [];
  for (const lease of leases) {
    if (isPeerOfType(lease.attrs.backendType, backendType)) {
      peers.push(peerFromLease(lease));
      continue;
    }
    warnForeign(lease, backendType, log, warned);
  }
  return peers;
}
