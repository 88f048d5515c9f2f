// Which address of a peer a probe goes to, per backend, chosen so that the echo travels the
// path pod traffic to that peer travels (not merely the underlay):
//
// - vxlan: the peer's VTEP address, its subnet's network address (10.244.3.0), which the peer
//   holds on flannel.1 (flannel-v6.1 for IPv6) and which we route through our own flannel.1 with
//   its neighbour and FDB entries: the request and the reply are both encapsulated, so a missing
//   entry, a firewall dropping UDP 8472 or a broken underlay all show.
// - udp: the peer's flannel0 address, also the subnet's network address (/32 on flannel0): the
//   echo crosses both agents' userspace data planes.
// - host-gw: the peer's cni0 gateway, the subnet's first host (10.244.3.1), which the bridge
//   plugin puts on cni0 (FLANNEL_SUBNET in subnet.env). It is reached through our host-gw route
//   via the peer's PublicIP, so a missing route or a broken underlay shows. The network address
//   (.0) is held by nothing on a host-gw node and does not answer; the PublicIP would answer
//   without testing the route (checked in the lab: .1 and the PublicIP answer, .0 does not). The
//   price: a node with no pod yet has no cni0 and does not answer (the bridge plugin creates it at
//   the first pod), so such a peer reads unreachable until its first pod starts.
import type { BackendType, Peer } from "../../../backends/backend.ts";
import { formatCidr, formatIp, offsetIp, type Cidr, type IpAddress, type IpFamily } from "../../../backends/net/ip.ts";

export interface ProbeTarget {
  /** The peer's subnet of this family as text ("10.244.3.0/24"): the metrics' `peer` label. */
  readonly peer: string;
  readonly family: IpFamily;
  /** The address probed, as text. */
  readonly address: string;
}

function targetOf(subnet: Cidr, backend: BackendType): ProbeTarget {
  const network: IpAddress = { family: subnet.family, value: subnet.address };
  const address = backend === "host-gw" ? offsetIp(network, 1n) : network;
  return { peer: formatCidr(subnet), family: subnet.family, address: formatIp(address) };
}

/** One target per peer subnet (IPv4 and IPv6 apart), in the peers' order; udp is IPv4 only. */
export function probeTargets(peers: readonly Peer[], backend: BackendType): ProbeTarget[] {
  const targets: ProbeTarget[] = [];
  for (const peer of peers) {
    if (peer.subnet !== undefined) targets.push(targetOf(peer.subnet, backend));
    if (peer.subnetV6 !== undefined && backend !== "udp") targets.push(targetOf(peer.subnetV6, backend));
  }
  return targets;
}
