// flannel0 as the kernel holds it: what the udp backend reads to plan its repairs (the device's
// addresses and routes) and the two per-device settings it makes once per device.
import type { Kernel } from "../kernel/kernel.ts";
import { listAddresses } from "../kernel/address.ts";
import type { LinkAddress } from "../kernel/link-query.ts";
import { listRoutes, type KernelRoute } from "../kernel/route.ts";
import { readSysctl, writeSysctl } from "../kernel/sysctl.ts";

/** The device's addresses and its main-table IPv4 routes. */
export async function readDeviceEntries(kernel: Kernel, device: string, signal: AbortSignal): Promise<{ addresses: readonly LinkAddress[]; routes: readonly KernelRoute[] }> {
  const [addresses, routes] = await Promise.all([listAddresses(kernel.runner, device, signal), listRoutes(kernel.runner, 4, { device, signal })]);
  return { addresses, routes };
}

/**
 * Two settings, made once per device (a persistent device keeps them):
 *  - IPv6 off: the kernel gives a TUN device an IPv6 link-local address and then sends router
 *    solicitations and MLD reports into it, which the data plane can only drop (Flannel's proxy
 *    would take them for IPv4). flannel0 carries IPv4 only. No IPv6 in the kernel: nothing to do.
 *  - accept_local on: the data plane answers a packet for a subnet without a peer with ICMP net
 *    unreachable from flannel0's own address (as Flannel's proxy does), and the kernel drops a
 *    packet arriving with a local source address as a martian — so without this, Flannel's ICMP
 *    never reaches the pod (measured: connect() times out instead of failing with ENETUNREACH).
 *    Only that ICMP can carry a local source: datagrams from peers are checked against the
 *    peer's subnet, and the own subnet is never a peer's.
 */
export async function tuneDevice(kernel: Kernel, device: string, signal: AbortSignal): Promise<void> {
  await writeSysctl(kernel.runner, ["net", "ipv4", "conf", device, "accept_local"], "1", signal);
  const ipv6 = ["net", "ipv6", "conf", device, "disable_ipv6"];
  if ((await readSysctl(kernel.runner, ipv6, signal)) === "0") await writeSysctl(kernel.runner, ipv6, "1", signal);
}
