// Neighbour and FDB entries of the VTEP as kinds of the shared diff, and which routes, neighbours
// and FDB entries are flannel's. Only entries flannel would have written are ever deleted as
// stale: routes into the cluster network on the VTEP or through a gateway on the external link,
// permanent neighbours inside the cluster network, and permanent `self` FDB entries for a
// unicast MAC with a remote. Entries the kernel makes, learns or resolves itself (connected
// routes, learning on, INCOMPLETE neighbours) are left alone.
import type { KernelRoute } from "../kernel/route.ts";
import { fdbDeleteLine, fdbReplaceLine, type FdbEntry } from "../kernel/fdb.ts";
import { isPermanent, neighbourDeleteLine, neighbourReplaceLine, type KernelNeighbour } from "../kernel/neighbour.ts";
import { addressBits, formatIp, makeCidr, sameIp, type Cidr } from "../net/ip.ts";
import { isPeerRouteOn, isWithin } from "../reconcile/routes.ts";
import type { EntryKind } from "../reconcile/steps.ts";
import type { DesiredFdbEntry, DesiredNeighbour } from "./desired.ts";

/** A neighbour as read, with the device it was read from (needed to delete it). */
export interface DeviceNeighbour extends KernelNeighbour {
  readonly device: string;
}

/** An FDB entry as read, with its device. */
export interface DeviceFdbEntry extends FdbEntry {
  readonly device: string;
}

/**
 * Whether a route may be deleted as stale: a unicast route into the cluster network on the VTEP
 * (with or without a gateway — older Flannel versions left a whole-network route there), or a
 * route through a gateway into the cluster network on the external link (DirectRouting's, or a
 * previous host-gw run's). Never a route the kernel made for an address.
 */
export function isVxlanRoute(route: KernelRoute, vtep: string, externalLink: string, network: Cidr | undefined): boolean {
  if (route.device === vtep) return route.type === "unicast" && route.protocol !== "kernel" && isWithin(route.dst, network);
  return isPeerRouteOn(route, externalLink, network);
}

export function neighbourEntryKind(network: Cidr | undefined): EntryKind<DesiredNeighbour, DeviceNeighbour, "ip"> {
  return {
    name: "neigh",
    desiredKey: (entry) => formatIp(entry.ip),
    actualKey: (entry) => formatIp(entry.ip),
    matches: (desired, actual) => actual.lladdr === desired.lladdr && isPermanent(actual),
    owned: (actual) => isPermanent(actual) && isWithin(makeCidr(actual.ip, addressBits[actual.ip.family]), network),
    writeLine: (entry) => neighbourReplaceLine(entry),
    deleteLine: (entry) => neighbourDeleteLine(entry),
    peerOf: (entry) => entry.peer,
  };
}

function isUnicastMac(mac: string): boolean {
  return mac !== "00:00:00:00:00:00" && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

export const fdbEntryKind: EntryKind<DesiredFdbEntry, DeviceFdbEntry, "bridge"> = {
  name: "fdb",
  desiredKey: (entry) => entry.mac,
  actualKey: (entry) => entry.mac,
  matches: (desired, actual) => actual.dst !== undefined && sameIp(actual.dst, desired.dst) && actual.self && actual.permanent,
  owned: (actual) => actual.self && actual.permanent && actual.dst !== undefined && isUnicastMac(actual.mac),
  writeLine: (entry) => fdbReplaceLine(entry),
  // With the remote as read: `fdb del … dst <another>` reports success and deletes nothing.
  deleteLine: (entry) => fdbDeleteLine({ mac: entry.mac, device: entry.device, dst: entry.dst }),
  peerOf: (entry) => entry.peer,
};
