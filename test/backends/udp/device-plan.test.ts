// What the udp backend does to flannel0, from what it read: Flannel's /32, MTU, up and one route
// for the whole Network with scope global (F:pkg/backend/udp configureIface), repairs of each when
// changed by hand, and removal of addresses and routes on the device that are not flannel's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KernelLink } from "../../../backends/kernel/link.ts";
import type { LinkAddress } from "../../../backends/kernel/link-query.ts";
import type { KernelRoute } from "../../../backends/kernel/route.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { udpDevicePlan, type UdpDeviceSpec } from "../../../backends/udp/device.ts";

const spec: UdpDeviceSpec = { name: "flannel0", mtu: 1472, address: parseIp("10.244.1.0")!, network: parseCidr("10.244.0.0/16")! };

const link = (over: Partial<KernelLink> = {}): KernelLink => ({
  name: "flannel0", index: 7, mtu: 1472, mac: undefined, operState: "UNKNOWN", flags: ["POINTOPOINT", "UP"], up: true, kind: "tun", vxlan: undefined, ...over,
});
const flags = { permanent: true, deprecated: false, temporary: false, secondary: false, tentative: false, dadFailed: false, optimistic: false, noDad: false, manageTempAddr: false, noPrefixRoute: false };
const address = (text: string): LinkAddress => {
  const [ip, prefix] = text.split("/") as [string, string];
  return { ip: parseIp(ip)!, prefixLength: Number(prefix), scope: "global", flags };
};
const route = (dst: string, over: Partial<KernelRoute> = {}): KernelRoute => ({
  dst: parseCidr(dst)!, type: "unicast", gateway: undefined, device: "flannel0", onlink: false, scope: "global", protocol: "boot", metric: undefined, ...over,
});

const lines = (steps: ReturnType<typeof udpDevicePlan>) => steps.map((step) => `${step.effect}: ${step.line}`);

describe("udpDevicePlan", () => {
  test("a fresh device gets the subnet's /32 and the Network route with scope global", () => {
    assert.deepEqual(lines(udpDevicePlan(spec, { link: link(), addresses: [], routes: [] })), [
      "repaired: address replace 10.244.1.0/32 dev flannel0",
      "repaired: route replace 10.244.0.0/16 dev flannel0 scope global",
    ]);
  });

  test("a device as Flannel leaves it needs nothing", () => {
    assert.deepEqual(udpDevicePlan(spec, { link: link(), addresses: [address("10.244.1.0/32")], routes: [route("10.244.0.0/16")] }), []);
  });

  test("an MTU changed by hand and a device set down are put back, the route after the up", () => {
    assert.deepEqual(lines(udpDevicePlan(spec, { link: link({ mtu: 1400, up: false, flags: [] }), addresses: [address("10.244.1.0/32")], routes: [] })), [
      "repaired: link set dev flannel0 mtu 1472",
      "repaired: link set dev flannel0 up",
      "repaired: route replace 10.244.0.0/16 dev flannel0 scope global",
    ]);
  });

  test("another address (an old lease's, or the own one with a prefix) and foreign routes go first", () => {
    const plan = udpDevicePlan(spec, {
      link: link(),
      addresses: [address("10.244.9.0/32"), address("10.244.1.0/24")],
      routes: [route("10.244.0.0/16", { scope: "link" }), route("10.99.0.0/16")],
    });
    assert.deepEqual(lines(plan), [
      "removed: address del 10.244.9.0/32 dev flannel0",
      "removed: address del 10.244.1.0/24 dev flannel0",
      "removed: route del 10.244.0.0/16 dev flannel0",
      "removed: route del 10.99.0.0/16 dev flannel0",
      "repaired: address replace 10.244.1.0/32 dev flannel0",
      "repaired: route replace 10.244.0.0/16 dev flannel0 scope global",
    ]);
  });
});
