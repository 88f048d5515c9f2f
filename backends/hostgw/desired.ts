// What the kernel should hold for a set of host-gw peers — pure, table-tested. Per peer, as
// Flannel's host-gw backend (F:pkg/backend/hostgw/hostgw.go, F:pkg/backend/route_network.go):
//   <peer subnet> via <peer PublicIP> dev <external link>       (IPv6: via PublicIPv6)
// No onlink flag: every node must be on the same L2 segment, the gateway directly reachable.
import type { Peer } from "../backend.ts";
import type { FlannelError } from "../errors.ts";
import type { Cidr, IpFamily } from "../net/ip.ts";
import { peersOfFamily } from "../reconcile/peers.ts";
import type { DesiredRoute } from "../reconcile/routes.ts";

export interface HostGwView {
  readonly family: IpFamily;
  readonly externalLink: string;
  readonly ownSubnet: Cidr | undefined;
}

export interface HostGwDesiredState {
  readonly routes: readonly DesiredRoute[];
  readonly errors: readonly FlannelError[];
}

export function hostGwDesiredState(view: HostGwView, peers: readonly Peer[]): HostGwDesiredState {
  const selected = peersOfFamily(peers, view.family, view.ownSubnet);
  return {
    routes: selected.peers.map((peer) => ({ dst: peer.subnet, gateway: peer.publicIP, device: view.externalLink, peer: peer.label })),
    errors: selected.errors,
  };
}
