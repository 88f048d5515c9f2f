// What the kernel should hold for a set of vxlan peers — pure, so it is table-tested without a
// kernel. Per peer, as Flannel's vxlan network adds a lease (F:pkg/backend/vxlan/vxlan_network.go):
//   neighbour  <peer subnet address> lladdr <VtepMAC> nud permanent   dev flannel.<VNI>
//   FDB entry  <VtepMAC> dst <peer PublicIP> self permanent            dev flannel.<VNI>
//   route      <peer subnet> via <peer subnet address> onlink          dev flannel.<VNI>
// With DirectRouting, a peer whose PublicIP the node reaches without a gateway gets only
// `<peer subnet> via <PublicIP>` on the link it is reached through (no neighbour, no FDB).
import type { Peer } from "../backend.ts";
import type { FlannelError } from "../errors.ts";
import type { FdbSpec } from "../kernel/fdb.ts";
import type { NeighbourSpec } from "../kernel/neighbour.ts";
import { cidrIp, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";
import { peerError, peersOfFamily } from "../reconcile/peers.ts";
import type { DesiredRoute } from "../reconcile/routes.ts";
import { parseVtepMac } from "./lease-data.ts";

/** One family's VTEP as the desired state needs it. */
export interface VtepView {
  readonly family: IpFamily;
  /** flannel.<VNI> or flannel-v6.<VNI> */
  readonly device: string;
  readonly ownSubnet: Cidr | undefined;
  readonly directRouting: boolean;
}

export interface DesiredNeighbour extends NeighbourSpec {
  readonly peer: string;
}

export interface DesiredFdbEntry extends FdbSpec {
  readonly peer: string;
}

export interface VxlanDesiredState {
  readonly routes: readonly DesiredRoute[];
  readonly neighbours: readonly DesiredNeighbour[];
  readonly fdb: readonly DesiredFdbEntry[];
  /** Peers that were skipped, and why. */
  readonly errors: readonly FlannelError[];
}

/**
 * The link through which `publicIP` is reached without a gateway, or undefined when a gateway is
 * in the way (Flannel: `ip route get` yields one route and it has no gateway). Injected, so the
 * desired state stays pure; only consulted when DirectRouting is on.
 */
export type DirectLinkOf = (publicIP: IpAddress) => string | undefined;

export function vxlanDesiredState(view: VtepView, peers: readonly Peer[], directLinkOf: DirectLinkOf): VxlanDesiredState {
  const selected = peersOfFamily(peers, view.family, view.ownSubnet);
  const errors: FlannelError[] = [...selected.errors];
  const routes: DesiredRoute[] = [];
  const neighbours: DesiredNeighbour[] = [];
  const fdb: DesiredFdbEntry[] = [];
  const macOwners = new Map<string, string>();
  for (const peer of selected.peers) {
    const directLink = view.directRouting ? directLinkOf(peer.publicIP) : undefined;
    if (directLink !== undefined) {
      routes.push({ dst: peer.subnet, gateway: peer.publicIP, device: directLink, peer: peer.label });
      continue;
    }
    const vtep = parseVtepMac(peer.backendData);
    if (!vtep.ok) {
      errors.push(peerError(peer.label, vtep.reason, { backendData: peer.backendData }));
      continue;
    }
    // One FDB entry per MAC: a second peer claiming the same VTEP MAC would steal the first's traffic.
    const owner = macOwners.get(vtep.mac);
    if (owner !== undefined) {
      errors.push(peerError(peer.label, `its VtepMAC ${vtep.mac} is already the VTEP of peer ${owner}`));
      continue;
    }
    macOwners.set(vtep.mac, peer.label);
    const gateway = cidrIp(peer.subnet);
    neighbours.push({ ip: gateway, lladdr: vtep.mac, device: view.device, peer: peer.label });
    fdb.push({ mac: vtep.mac, dst: peer.publicIP, device: view.device, peer: peer.label });
    routes.push({ dst: peer.subnet, gateway, device: view.device, onlink: true, peer: peer.label });
  }
  return { routes, neighbours, fdb, errors };
}
