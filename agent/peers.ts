// From leases to the data plane's peers. The one place where agent/ types meet backends/ types:
// backends never see a Lease, only a Peer. Leases of another backend type are left out with a
// warning, as Flannel's vxlan and host-gw backends do (F:pkg/backend/vxlan/vxlan_network.go).
import type { Peer } from "../backends/backend.ts";
import { formatCidr } from "../backends/net/ip.ts";
import { weakMemo } from "../backends/reconcile/weak-memo.ts";
import type { Log } from "./ops/log.ts";
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

/**
 * The peers a backend of `backendType` should program. `warned` remembers which leases were
 * already reported, so a foreign lease costs one warning, not one per reconcile.
 */
export function peersForBackend(leases: readonly Lease[], backendType: string, log: Log, warned: Set<string>): Peer[] {
  const peers: Peer[] = [];
  for (const lease of leases) {
    if (lease.attrs.backendType === backendType) {
      peers.push(peerFromLease(lease));
      continue;
    }
    const subnet = lease.subnet === undefined ? "" : formatCidr(lease.subnet);
    const key = `${subnet}|${lease.attrs.backendType}`;
    if (!warned.has(key)) {
      warned.add(key);
      log.warn("ignoring a lease of another backend type", { subnet, backend: lease.attrs.backendType, expected: backendType });
    }
  }
  return peers;
}
