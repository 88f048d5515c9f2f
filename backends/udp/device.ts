// The TUN device flannel0 around the udp data plane, as Flannel configures it
// (F:pkg/backend/udp/udp_network_amd64.go configureIface): the lease subnet's network address as
// a /32 (so no broadcast or prefix route is made — the address is only a source for host →
// pod traffic), MTU = external MTU − 28, link up, and one route for the whole Network
// `<Network> dev flannel0 scope global` (Flannel adds it explicitly, scope universe).
//
// The device itself is created (or re-attached) by the data plane (dgram-native); this module
// only plans the attributes around it. Pure: the plan is computed from what was read, so a
// reconcile repairs an address, MTU, state or route changed by hand, and removes routes through
// flannel0 and addresses on it that are not flannel's (e.g. a previous Network's).
import type { KernelLink } from "../kernel/link.ts";
import type { LinkAddress } from "../kernel/link-query.ts";
import type { KernelRoute } from "../kernel/route.ts";
import { addressDeleteLine, addressReplaceLine } from "../kernel/address.ts";
import { batchLine, deviceToken, type IpLine } from "../kernel/batch-line.ts";
import { formatCidr, isLinkLocalUnicast, sameIp, type Cidr, type IpAddress } from "../net/ip.ts";
import type { Step } from "../reconcile/steps.ts";

/** Flannel opens `flannel%d`, which is flannel0 on every node that runs one network. */
export const udpDeviceName = "flannel0";

/** The bytes each datagram adds: an outer IPv4 header (20) and a UDP header (8); no flannel header. */
export const udpOverhead = 28;

export interface UdpDeviceSpec {
  readonly name: string;
  readonly mtu: number;
  /** The lease subnet's network address: flannel0 carries it as a /32. */
  readonly address: IpAddress;
  /** net-conf.json's Network: routed through flannel0 as a whole. */
  readonly network: Cidr;
}

export interface UdpDeviceState {
  readonly link: KernelLink | undefined;
  readonly addresses: readonly LinkAddress[];
  /** Main-table routes through the device. */
  readonly routes: readonly KernelRoute[];
}

/** `link set dev <name> mtu <mtu>` */
function mtuLine(name: string, mtu: number): IpLine {
  return batchLine("ip", ["link", "set", "dev", deviceToken(name), "mtu", mtu]);
}

function upLine(name: string): IpLine {
  return batchLine("ip", ["link", "set", "dev", deviceToken(name), "up"]);
}

/** Flannel's route: no gateway, scope universe (`ip route` would default a device route to scope link). */
function networkRouteLine(spec: UdpDeviceSpec): IpLine {
  return batchLine("ip", ["route", "replace", formatCidr(spec.network), "dev", deviceToken(spec.name), "scope", "global"]);
}

function routeDeleteLine(route: KernelRoute, device: string): IpLine {
  return batchLine("ip", ["route", "del", formatCidr(route.dst), "dev", deviceToken(device)]);
}

function isNetworkRoute(route: KernelRoute, spec: UdpDeviceSpec): boolean {
  return (
    route.type === "unicast" &&
    route.dst.family === spec.network.family &&
    route.dst.address === spec.network.address &&
    route.dst.prefix === spec.network.prefix &&
    route.gateway === undefined &&
    route.scope === "global"
  );
}

/**
 * The steps that make the device match `spec`, given what was read (`state.link` present).
 * Removals come first; effects say what a reconcile reports: a missing or wrong attribute is
 * "repaired" (configure() applies the same plan to a fresh device and reports nothing).
 */
export function udpDevicePlan(spec: UdpDeviceSpec, state: UdpDeviceState): Step<"ip">[] {
  const steps: Step<"ip">[] = [];
  const isOwn = (address: LinkAddress): boolean => sameIp(address.ip, spec.address) && address.prefixLength === 32;
  const ipv4 = state.addresses.filter((address) => address.ip.family === 4 && !isLinkLocalUnicast(address.ip));
  for (const address of ipv4) {
    if (!isOwn(address)) steps.push({ line: addressDeleteLine({ ...address, device: spec.name }), effect: "removed" });
  }
  // A route through flannel0 other than the Network's (another scope, a previous Network) goes.
  for (const route of state.routes) {
    if (route.dst.family === 4 && !isNetworkRoute(route, spec)) steps.push({ line: routeDeleteLine(route, spec.name), effect: "removed" });
  }
  if (state.link !== undefined && state.link.mtu !== spec.mtu) steps.push({ line: mtuLine(spec.name, spec.mtu), effect: "repaired" });
  if (state.link !== undefined && !state.link.up) steps.push({ line: upLine(spec.name), effect: "repaired" });
  if (!ipv4.some(isOwn)) steps.push({ line: addressReplaceLine({ ip: spec.address, prefixLength: 32, device: spec.name }), effect: "repaired" });
  // Routes through a device go when it goes down: the route comes after the "up".
  if (!state.routes.some((route) => isNetworkRoute(route, spec))) steps.push({ line: networkRouteLine(spec), effect: "repaired" });
  return steps;
}
