// Address parsing must be as strict as Go's net.ParseIP / ParseCIDR (Flannel's parsers), and the
// arithmetic must be the same for both families.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  blockSize,
  cidrContainsIp,
  formatCidr,
  formatIp,
  isAligned,
  isGlobalUnicast,
  isLinkLocalUnicast,
  lastAddress,
  offsetIp,
  parseCidr,
  parseIp,
} from "../../../backends/net/ip.ts";

describe("parseIp", () => {
  for (const [text, family, printed] of [
    ["10.244.0.1", 4, "10.244.0.1"],
    ["0.0.0.0", 4, "0.0.0.0"],
    ["fd00::1", 6, "fd00::1"],
    ["FD00:0:0:0:0:0:0:1", 6, "fd00::1"],
    ["2001:db8:0:0:1:0:0:1", 6, "2001:db8::1:0:0:1"],
    ["::ffff:10.1.2.3", 4, "10.1.2.3"], // Go's To4() makes an IPv4-mapped address IPv4
  ] as const) {
    test(`accepts ${text}`, () => {
      const ip = parseIp(text);
      assert.equal(ip?.family, family);
      assert.equal(formatIp(ip!), printed);
    });
  }
  for (const text of ["", "10.1.2", "10.1.2.3.4", "010.1.2.3", "10.1.2.256", "0x0a.1.2.3", "fe80::1%eth0", "::ffff:010.1.2.3", "10.1.2.3/24", " 10.1.2.3", "gggg::1"]) {
    test(`rejects ${JSON.stringify(text)} as Go does`, () => assert.equal(parseIp(text), undefined));
  }
});

describe("parseCidr", () => {
  for (const [text, printed] of [
    ["10.244.3.7/16", "10.244.0.0/16"],
    ["10.0.0.0/0", "0.0.0.0/0"],
    ["10.1.2.3/32", "10.1.2.3/32"],
    ["fd00:1:2:3::5/48", "fd00:1:2::/48"],
    ["2001:cafe:42::1/64", "2001:cafe:42::/64"],
  ] as const) {
    test(`${text} → ${printed} (masked)`, () => assert.equal(formatCidr(parseCidr(text)!), printed));
  }
  for (const text of ["10.1.2.3", "10.1.2.3/33", "fd00::/129", "10.1.2.3/-1", "10.1.2.3/1a", "10.1.2.3/ 8", "/8", "10.1.2.3/0100"]) {
    test(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseCidr(text), undefined));
  }
});

describe("arithmetic, written once for both families", () => {
  test("block size, last address, offset, containment, alignment", () => {
    const v4 = parseCidr("10.3.0.0/16")!;
    assert.equal(blockSize(4, 24), 256n);
    assert.equal(formatIp(lastAddress(v4)), "10.3.255.255");
    assert.equal(formatIp(offsetIp(parseIp("10.3.0.0")!, 256n)), "10.3.1.0");
    assert.ok(cidrContainsIp(v4, parseIp("10.3.200.1")!));
    assert.ok(!cidrContainsIp(v4, parseIp("10.4.0.0")!));
    assert.ok(!cidrContainsIp(v4, parseIp("fd00::1")!));
    assert.ok(isAligned(parseIp("10.3.4.0")!, 24));
    assert.ok(!isAligned(parseIp("10.3.4.128")!, 24));

    const v6 = parseCidr("fc00::/48")!;
    assert.equal(blockSize(6, 64), 1n << 64n);
    assert.equal(formatIp(lastAddress(v6)), "fc00::ffff:ffff:ffff:ffff:ffff");
    assert.equal(formatIp(offsetIp(parseIp("fc00::")!, 1n << 64n)), "fc00:0:0:1::");
    assert.ok(isAligned(parseIp("fc00:0:0:1::")!, 64));
    assert.ok(!isAligned(parseIp("fc00:0:0:1::1")!, 64));
  });
});

describe("address classes (Go's definitions)", () => {
  for (const [text, global, linkLocal] of [
    ["198.18.0.1", true, false],
    ["10.0.0.1", true, false],
    ["169.254.1.1", false, true],
    ["127.0.0.1", false, false],
    ["224.0.0.1", false, false],
    ["255.255.255.255", false, false],
    ["0.0.0.0", false, false],
    ["2001:db8::1", true, false],
    ["fe80::1", false, true],
    ["::1", false, false],
    ["ff02::1", false, false],
  ] as const) {
    test(`${text}: global unicast ${global}, link-local ${linkLocal}`, () => {
      const ip = parseIp(text)!;
      assert.equal(isGlobalUnicast(ip), global);
      assert.equal(isLinkLocalUnicast(ip), linkLocal);
    });
  }
});
