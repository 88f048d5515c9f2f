// The pure half of the kernel layer: batch lines as Flannel's commands spell them, refusal of
// anything the batch reader would misread, which lines get their own checkpoint, and MACs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { needsOwnCheckpoint } from "../../../backends/kernel/batch-process.ts";
import { batchLine, deviceToken, isDeleteLine, parseBatchLine } from "../../../backends/kernel/batch-line.ts";
import { fdbDeleteLine, fdbReplaceLine } from "../../../backends/kernel/fdb.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { linkDeleteLine, linkUpLine, vxlanCreateLine } from "../../../backends/kernel/link.ts";
import { formatMac, macBytes, parseMac, randomVtepMac, type MacAddress } from "../../../backends/kernel/mac.ts";
import { neighbourDeleteLine, neighbourReplaceLine } from "../../../backends/kernel/neighbour.ts";
import { routeDeleteLine, routeReplaceLine } from "../../../backends/kernel/route.ts";
import { addressDeleteLine, addressReplaceLine } from "../../../backends/kernel/address.ts";
import { parseCidr, parseIp, type Cidr, type IpAddress } from "../../../backends/net/ip.ts";

const ip = (text: string): IpAddress => parseIp(text) ?? assert.fail(text);
const cidr = (text: string): Cidr => parseCidr(text) ?? assert.fail(text);
const mac = (text: string): MacAddress => parseMac(text) ?? assert.fail(text);

test("builds Flannel's vxlan, neighbour, FDB, route and address commands", () => {
  const vtep = mac("0e:11:22:33:44:55");
  assert.equal(
    vxlanCreateLine({ name: "flannel.1", vni: 1, underlay: "eth0", local: ip("198.18.0.1"), learning: false, mac: vtep, mtu: 1450 }),
    "link add flannel.1 address 0e:11:22:33:44:55 mtu 1450 type vxlan id 1 dev eth0 local 198.18.0.1 nolearning dstport 0",
  );
  assert.equal(
    vxlanCreateLine({ name: "flannel.4096", vni: 4096, underlay: "eth0", local: ip("198.18.0.1"), learning: true, port: 4789, gbp: true }),
    "link add flannel.4096 type vxlan id 4096 dev eth0 local 198.18.0.1 learning dstport 4789 gbp",
  );
  assert.equal(linkUpLine("flannel.1"), "link set dev flannel.1 up");
  assert.equal(linkDeleteLine("flannel.1"), "link del dev flannel.1");
  assert.equal(
    neighbourReplaceLine({ ip: ip("10.244.2.0"), lladdr: vtep, device: "flannel.1" }),
    "neigh replace 10.244.2.0 lladdr 0e:11:22:33:44:55 dev flannel.1 nud permanent",
  );
  assert.equal(neighbourDeleteLine({ ip: ip("10.244.2.0"), device: "flannel.1" }), "neigh del 10.244.2.0 dev flannel.1");
  assert.equal(
    fdbReplaceLine({ mac: vtep, device: "flannel.1", dst: ip("198.18.0.2") }),
    "fdb replace 0e:11:22:33:44:55 dev flannel.1 dst 198.18.0.2 self permanent",
  );
  assert.equal(fdbDeleteLine({ mac: vtep, device: "flannel.1", dst: ip("198.18.0.2") }), "fdb del 0e:11:22:33:44:55 dev flannel.1 dst 198.18.0.2 self");
  assert.equal(
    routeReplaceLine({ dst: cidr("10.244.2.0/24"), gateway: ip("10.244.2.0"), device: "flannel.1", onlink: true }),
    "route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
  );
  assert.equal(routeReplaceLine({ dst: cidr("10.244.2.0/24"), gateway: ip("198.18.0.2"), device: "eth0" }), "route replace 10.244.2.0/24 via 198.18.0.2 dev eth0");
  assert.equal(routeReplaceLine({ dst: cidr("10.244.0.0/16"), type: "blackhole" }), "route replace blackhole 10.244.0.0/16");
  assert.equal(
    routeDeleteLine({ dst: cidr("10.244.2.0/24"), gateway: ip("10.244.2.0"), device: "flannel.1", onlink: true }),
    "route del 10.244.2.0/24 via 10.244.2.0 dev flannel.1",
  );
  assert.equal(addressReplaceLine({ ip: ip("10.244.1.0"), prefixLength: 32, device: "flannel.1" }), "address replace 10.244.1.0/32 dev flannel.1");
  assert.equal(addressDeleteLine({ ip: ip("fd10::"), prefixLength: 128, device: "flannel-v6.1" }), "address del fd10::/128 dev flannel-v6.1");
  assert.throws(() => routeReplaceLine({ dst: cidr("10.244.2.0/24"), gateway: ip("fd10::1") }), RangeError);
});

test("refuses tokens the batch reader would split or reinterpret, and invalid device names", () => {
  for (const bad of ["a b", "a#b", 'a"b', "a'b", "a\\b", "a\nb", ""]) {
    assert.throws(() => batchLine("ip", ["route", "del", bad]), (error) => isFlannelError(error, "kernel-command-failed"), JSON.stringify(bad));
  }
  for (const bad of ["", ".", "..", "a/b", "a:b", "a b", "sixteen-chars-xx"]) {
    assert.throws(() => deviceToken(bad), (error) => isFlannelError(error, "kernel-command-failed"), JSON.stringify(bad));
  }
  assert.equal(deviceToken("flannel-v6.4096"), "flannel-v6.4096");
  assert.equal(parseBatchLine("ip", "  route  del 10.0.0.0/8 "), "route del 10.0.0.0/8");
  assert.ok(isDeleteLine("route del 10.0.0.0/8") && isDeleteLine("link delete dev x") && !isDeleteLine("route replace 10.0.0.0/8"));
});

test("lines whose failure can end the tool get their own checkpoint", () => {
  assert.equal(needsOwnCheckpoint("ip", "route replace 10.244.2.0/24 dev eth0"), false);
  assert.equal(needsOwnCheckpoint("ip", "address del 10.244.1.0/32 dev flannel.1"), false);
  assert.equal(needsOwnCheckpoint("ip", "neigh replace 10.244.2.0 lladdr 0e:00:00:00:00:01 dev flannel.1 nud permanent"), false);
  assert.equal(needsOwnCheckpoint("ip", "neigh del 10.244.2.0 dev flannel.1"), true);
  assert.equal(needsOwnCheckpoint("ip", "link add flannel.1 type vxlan id 1"), true);
  assert.equal(needsOwnCheckpoint("bridge", "fdb del 0e:00:00:00:00:01 dev flannel.1 self"), false);
  assert.equal(needsOwnCheckpoint("bridge", "vlan add vid 2 dev eth0"), true);
});

test("MACs parse in Go's 48-bit forms and print lowercase with colons", () => {
  assert.equal(parseMac("0E:11:22:33:44:AA"), "0e:11:22:33:44:aa");
  assert.equal(parseMac("0e-11-22-33-44-aa"), "0e:11:22:33:44:aa");
  assert.equal(parseMac("0e11.2233.44aa"), "0e:11:22:33:44:aa");
  for (const bad of ["0e:11:22:33:44", "0e:11:22:33:44:aa:bb", "0e:11-22:33:44:aa", "zz:11:22:33:44:aa", ""]) assert.equal(parseMac(bad), undefined, bad);
  assert.deepEqual([...macBytes(mac("0e:11:22:33:44:aa"))], [0x0e, 0x11, 0x22, 0x33, 0x44, 0xaa]);
  assert.equal(formatMac([1, 2, 3, 4, 5, 255]), "01:02:03:04:05:ff");
  assert.throws(() => formatMac([1, 2, 3]), RangeError);
});

test("a random VTEP MAC is unicast and locally administered, like Flannel's", () => {
  assert.equal(randomVtepMac(() => Uint8Array.from([0xff, 1, 2, 3, 4, 5])), "fe:01:02:03:04:05");
  assert.equal(randomVtepMac(() => Uint8Array.from([0x00, 1, 2, 3, 4, 5])), "02:01:02:03:04:05");
  for (let i = 0; i < 100; i++) {
    const first = macBytes(randomVtepMac())[0] ?? 0;
    assert.equal(first & 0x01, 0, "multicast bit cleared");
    assert.equal(first & 0x02, 0x02, "locally-administered bit set");
  }
});
