// Routes as entries of the diff, shared by vxlan and host-gw. A route's key is its destination
// and effective metric — what `ip route replace` overwrites — so a peer moving from an onlink
// route on flannel.<VNI> to a direct route on the external link is one in-place replace.
import { routeDeleteLine, routeMatches, routeReplaceLine, type KernelRoute, type RouteSpec } from "../kernel/route.ts";
import { cidrContainsIp, cidrIp, formatCidr, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";
import type { EntryKind } from "./steps.ts";

/** A route a backend wants, with the peer it serves. */
export interface DesiredRoute extends RouteSpec {
  readonly gateway: IpAddress;
  readonly device: string;
  readonly peer: string;
}

// `ip` leaves out an IPv4 metric of 0 and prints IPv6's default (1024); routes written without
// a metric get these.
const defaultMetric: Readonly<Record<IpFamily, number>> = { 4: 0, 6: 1024 };

export function routeKey(dst: Cidr, metric: number | undefined): string {
  return `${formatCidr(dst)}|${metric ?? defaultMetric[dst.family]}`;
}

/** True when `dst` lies entirely inside `network` (the cluster's pod network). */
export function isWithin(dst: Cidr, network: Cidr | undefined): boolean {
  return network !== undefined && dst.family === network.family && dst.prefix >= network.prefix && cidrContainsIp(network, cidrIp(dst));
}

/**
 * A route that carries traffic to another node's pods through a gateway on `device`: unicast,
 * inside the cluster network, with a gateway, not one the kernel made for an address. Only such
 * routes are ever deleted as stale — never a connected route, the underlay's own routes, or a
 * blackhole route (no device).
 */
export function isPeerRouteOn(route: KernelRoute, device: string, network: Cidr | undefined): boolean {
  return route.device === device && route.type === "unicast" && route.gateway !== undefined && route.protocol !== "kernel" && isWithin(route.dst, network);
}

export function routeEntryKind(owned: (route: KernelRoute) => boolean): EntryKind<DesiredRoute, KernelRoute, "ip"> {
  return {
    name: "route",
    desiredKey: (route) => routeKey(route.dst, route.metric),
    actualKey: (route) => routeKey(route.dst, route.metric),
    matches: (desired, actual) => routeMatches(desired, actual),
    owned,
    writeLine: (route) => routeReplaceLine(route),
    deleteLine: (route) => routeDeleteLine(route),
    peerOf: (route) => route.peer,
  };
}
