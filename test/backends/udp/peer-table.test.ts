// The udp peer table: each peer's IPv4 subnet → its PublicIP, with the checks every backend makes
// (the own subnet, overlapping subnets and a 0.0.0.0 PublicIP are left out with an error), and
// what a change of table adds, removes and changes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Peer } from "../../../backends/backend.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { tableChange, udpPeerTable } from "../../../backends/udp/peer-table.ts";

const peer = (subnet: string, publicIP: string, backendType = ""): Peer => ({ subnet: parseCidr(subnet)!, publicIP: parseIp(publicIP)!, backendType });

describe("udpPeerTable", () => {
  test("maps every peer's subnet to its PublicIP, as Flannel's proxy routes (subnet → PublicIP:Port)", () => {
    const table = udpPeerTable([peer("10.244.2.0/24", "198.18.0.2"), peer("10.244.3.0/24", "198.18.0.3")], parseCidr("10.244.1.0/24"));
    assert.deepEqual(table.entries, [
      { subnet: "10.244.2.0/24", publicIP: "198.18.0.2" },
      { subnet: "10.244.3.0/24", publicIP: "198.18.0.3" },
    ]);
    assert.deepEqual(table.errors, []);
  });

  test("leaves out the own subnet silently, and an overlapping or address-less peer with an error", () => {
    const table = udpPeerTable(
      [peer("10.244.1.0/24", "198.18.0.1"), peer("10.244.2.0/24", "198.18.0.2"), peer("10.244.2.0/23", "198.18.0.9"), peer("10.244.4.0/24", "0.0.0.0")],
      parseCidr("10.244.1.0/24"),
    );
    assert.deepEqual(table.entries, [{ subnet: "10.244.2.0/24", publicIP: "198.18.0.2" }]);
    assert.equal(table.errors.length, 2, table.errors.map((e) => e.message).join("\n"));
  });

  test("IPv6-only peers give no entry (the udp backend carries IPv4)", () => {
    const v6only: Peer = { subnetV6: parseCidr("fd00:1::/64")!, publicIP: parseIp("0.0.0.0")!, publicIPv6: parseIp("fd00::2")!, backendType: "" };
    assert.deepEqual(udpPeerTable([v6only], undefined), { entries: [], errors: [] });
  });
});

describe("tableChange", () => {
  test("counts added, removed and changed subnets", () => {
    const before = [
      { subnet: "10.244.2.0/24", publicIP: "198.18.0.2" },
      { subnet: "10.244.3.0/24", publicIP: "198.18.0.3" },
      { subnet: "10.244.4.0/24", publicIP: "198.18.0.4" },
    ];
    const after = [
      { subnet: "10.244.2.0/24", publicIP: "198.18.0.2" },
      { subnet: "10.244.3.0/24", publicIP: "198.18.0.33" },
      { subnet: "10.244.5.0/24", publicIP: "198.18.0.5" },
    ];
    assert.deepEqual(tableChange(before, after), { added: 1, removed: 1, changed: 1 });
    assert.deepEqual(tableChange(after, after), { added: 0, removed: 0, changed: 0 });
  });
});
