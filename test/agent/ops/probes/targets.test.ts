// What each backend probes on a peer: vxlan and udp the subnet's network address (the peer's
// flannel.1 / flannel0 address), host-gw the first host (the peer's cni0 gateway).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BackendType, Peer } from "../../../../backends/backend.ts";
import { parseCidr, parseIp } from "../../../../backends/net/ip.ts";
import { probeTargets } from "../../../../agent/ops/probes/targets.ts";

const peer = (subnet: string, subnetV6?: string): Peer => ({
  subnet: parseCidr(subnet)!,
  ...(subnetV6 === undefined ? {} : { subnetV6: parseCidr(subnetV6)! }),
  publicIP: parseIp("198.18.0.3")!,
  backendType: "vxlan",
});
const addresses = (backend: BackendType, peers: Peer[]): string[] => probeTargets(peers, backend).map((t) => `${t.peer} ${t.address}`);

test("vxlan probes each peer's VTEP address, the subnet's network address, per family", () => {
  assert.deepEqual(addresses("vxlan", [peer("10.244.3.0/24", "fd00:10:244:3::/64"), peer("10.244.4.0/24")]), [
    "10.244.3.0/24 10.244.3.0",
    "fd00:10:244:3::/64 fd00:10:244:3::",
    "10.244.4.0/24 10.244.4.0",
  ]);
});

test("host-gw probes the peer's cni0 gateway, the subnet's first host", () => {
  assert.deepEqual(addresses("host-gw", [peer("10.244.3.0/24", "fd00:10:244:3::/64")]), ["10.244.3.0/24 10.244.3.1", "fd00:10:244:3::/64 fd00:10:244:3::1"]);
});

test("udp probes the peer's flannel0 address, IPv4 only (Flannel's udp backend has no IPv6)", () => {
  assert.deepEqual(addresses("udp", [peer("10.244.3.0/24", "fd00:10:244:3::/64")]), ["10.244.3.0/24 10.244.3.0"]);
});

test("families are tagged, and no peers means no targets", () => {
  assert.deepEqual(probeTargets([peer("10.244.3.0/24", "fd00::/64")], "vxlan").map((t) => t.family), [4, 6]);
  assert.deepEqual(probeTargets([], "vxlan"), []);
});
