// etcd key layout: building `<prefix>/config` and `<prefix>/subnets/<name>` with Go's path.Join
// semantics, and parsing lease keys exactly as Flannel's ParseSubnetKey (F:pkg/subnet/subnet.go,
// F:pkg/subnet/subnet_test.go) — including where we deliberately refuse more.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { formatCidr, parseCidr, type Cidr } from "../../../backends/net/ip.ts";
import { configKey, decodeSubnetKey, encodeSubnetKeyName, subnetKey, subnetsPrefix } from "../../../agent/subnet/keys.ts";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(parsed !== undefined, `bad test CIDR ${text}`);
  return parsed;
}

/** The decoded key in CIDR text, for readable comparisons. */
function decoded(key: string): { subnet: string; subnetV6?: string } | undefined {
  const parts = decodeSubnetKey(key);
  if (parts === undefined) return undefined;
  return parts.subnetV6 === undefined
    ? { subnet: formatCidr(parts.subnet) }
    : { subnet: formatCidr(parts.subnet), subnetV6: formatCidr(parts.subnetV6) };
}

describe("configKey and subnetsPrefix join the prefix as Go's path.Join does", () => {
  const cases: Array<{ prefix: string; config: string; subnets: string }> = [
    { prefix: "/coreos.com/network", config: "/coreos.com/network/config", subnets: "/coreos.com/network/subnets/" },
    { prefix: "/coreos.com/network/", config: "/coreos.com/network/config", subnets: "/coreos.com/network/subnets/" },
    { prefix: "/coreos.com//network///", config: "/coreos.com/network/config", subnets: "/coreos.com/network/subnets/" },
    { prefix: "/vxlan/./network", config: "/vxlan/network/config", subnets: "/vxlan/network/subnets/" },
    { prefix: "/vxlan/old/../network", config: "/vxlan/network/config", subnets: "/vxlan/network/subnets/" },
    { prefix: "/", config: "/config", subnets: "/subnets/" },
    { prefix: "", config: "config", subnets: "subnets/" },
    { prefix: "flannel/net", config: "flannel/net/config", subnets: "flannel/net/subnets/" },
  ];
  for (const { prefix, config, subnets } of cases) {
    test(`prefix ${JSON.stringify(prefix)} gives ${config} and ${subnets}`, () => {
      assert.equal(configKey(prefix), config);
      assert.equal(subnetsPrefix(prefix), subnets);
    });
  }
});

describe("subnetKey writes Flannel's MakeSubnetKey form", () => {
  const cases: Array<{ name: string; lease: { subnet?: Cidr; subnetV6?: Cidr }; key: string }> = [
    { name: "IPv4 only (F:Documentation/reservations.md)", lease: { subnet: cidr("10.5.52.0/24") }, key: "/coreos.com/network/subnets/10.5.52.0-24" },
    {
      name: "dual-stack appends &<ipv6>-<len> (F:pkg/subnet/subnet_test.go)",
      lease: { subnet: cidr("10.12.13.0/24"), subnetV6: cidr("fd00:12:13::/56") },
      key: "/coreos.com/network/subnets/10.12.13.0-24&fd00:12:13::-56",
    },
    {
      name: "IPv6 in Go's compressed form: the longest zero run is the one compressed",
      lease: { subnet: cidr("10.5.1.0/24"), subnetV6: cidr("2001:db8:0:0:1::/80") },
      key: "/coreos.com/network/subnets/10.5.1.0-24&2001:db8:0:0:1::-80",
    },
    {
      name: "IPv6 hex digits are lower-case",
      lease: { subnet: cidr("10.5.1.0/24"), subnetV6: cidr("FD00:AB:CD::/64") },
      key: "/coreos.com/network/subnets/10.5.1.0-24&fd00:ab:cd::-64",
    },
  ];
  for (const { name, lease, key } of cases) {
    test(name, () => {
      assert.equal(subnetKey("/coreos.com/network", lease), key);
      assert.equal(subnetKey("/coreos.com/network/", lease), key, "a trailing slash on the prefix changes nothing");
      assert.equal(encodeSubnetKeyName(lease), key.slice("/coreos.com/network/subnets/".length));
    });
  }

  test("a lease without an IPv4 subnet has no etcd key (lease-invalid)", () => {
    assert.throws(
      () => subnetKey("/coreos.com/network", { subnetV6: cidr("fd00::/64") }),
      (error: unknown) => isFlannelError(error, "lease-invalid") && /IPv4/.test(error.message),
    );
  });

  test("subnets of the wrong family are refused", () => {
    assert.throws(() => encodeSubnetKeyName({ subnet: cidr("fd00::/64") }), (error: unknown) => isFlannelError(error, "lease-invalid"));
    assert.throws(
      () => encodeSubnetKeyName({ subnet: cidr("10.5.1.0/24"), subnetV6: cidr("10.6.1.0/24") }),
      (error: unknown) => isFlannelError(error, "lease-invalid"),
    );
  });
});

describe("decodeSubnetKey parses as Flannel's ParseSubnetKey", () => {
  const accepted: Array<{ key: string; subnet: string; subnetV6?: string; why: string }> = [
    { key: "10.12.13.0-24", subnet: "10.12.13.0/24", why: "TestSubnetNodev4" },
    { key: "10.12.13.0-24&fd00:12:13::-56", subnet: "10.12.13.0/24", subnetV6: "fd00:12:13::/56", why: "TestSubnetNodev6" },
    { key: "/coreos.com/network/subnets/10.5.52.0-24", subnet: "10.5.52.0/24", why: "the whole etcd key: the regex looks at its end" },
    { key: "/a/subnets/10.5.52.0-24&fd00::-64", subnet: "10.5.52.0/24", subnetV6: "fd00::/64", why: "whole dual-stack key" },
    { key: "10.12.13.0-024", subnet: "10.12.13.0/24", why: "ParseUint accepts leading zeros in the prefix" },
    { key: "x10.12.13.0-24", subnet: "10.12.13.0/24", why: "the regex is not anchored at the start" },
    { key: "10.12.13.0-24&::-0", subnet: "10.12.13.0/24", why: "`::/0` is Flannel's empty IP6Net: an IPv4-only lease" },
    { key: "0.0.0.0-0", subnet: "0.0.0.0/0", why: "a /0 with no host bits" },
    { key: "10.12.13.128-31", subnet: "10.12.13.128/31", why: "31 is the largest IPv4 prefix ParseUint(s, 10, 5) accepts" },
    { key: "10.1.0.0-16&fd00::-127", subnet: "10.1.0.0/16", subnetV6: "fd00::/127", why: "127 is the largest IPv6 prefix ParseUint(s, 10, 7) accepts" },
  ];
  for (const { key, subnet, subnetV6, why } of accepted) {
    test(`accepts ${key} (${why})`, () => {
      assert.deepEqual(decoded(key), subnetV6 === undefined ? { subnet } : { subnet, subnetV6 });
    });
  }

  const refused: Array<{ key: string; why: string }> = [
    // F:pkg/subnet/subnet_test.go TestSubnetNodeInvalid, every one of them.
    { key: "10", why: "Flannel's invalid list" },
    { key: "10.12.13.0", why: "Flannel's invalid list: no prefix" },
    { key: "10.12.13-24", why: "Flannel's invalid list: three octets" },
    { key: "10.12.13.300-24", why: "Flannel's invalid list: octet out of range" },
    { key: "10.12.13.0-24hi", why: "Flannel's invalid list: trailing text" },
    { key: "&2001::-56", why: "Flannel's invalid list: no IPv4 part" },
    { key: "10.12.13.0-24&:12:13:-56", why: "Flannel's invalid list: bad IPv6" },
    { key: "10.12.13.0-24&20011::-56", why: "Flannel's invalid list: IPv6 group too long" },
    { key: "10.12.13.0-24&2001-56", why: "Flannel's invalid list: IPv6 without colons" },
    { key: "10.12.13.0-24&2001::", why: "Flannel's invalid list: IPv6 without prefix" },
    { key: "10.12.13.0-24&2001::-56hi", why: "Flannel's invalid list: trailing text after IPv6" },
    // Flannel refuses these as well.
    { key: "10.12.13.0-32", why: "ParseUint(s, 10, 5) stops at 31" },
    { key: "10.12.13.0-33", why: "prefix beyond 32" },
    { key: "10.12.13.0-99999999999999999999", why: "prefix overflows" },
    { key: "10.12.13.0-24&fd00::-128", why: "ParseUint(s, 10, 7) stops at 127" },
    { key: "010.12.13.0-24", why: "Go's ParseIP refuses leading zeros" },
    { key: "10.12.13.0-24&FD00::-56", why: "the regex only takes lower-case hex" },
    { key: "10.12.13.0-24\n", why: "Go's $ matches only at the very end" },
    { key: "10.12.13.0-24&fd00::-56\n", why: "Go's $ matches only at the very end (dual-stack)" },
    { key: "10.12/13.0-24", why: "the regex's bare dot takes the slash, then ParseIP refuses it" },
    // Deviations: Flannel accepts these.
    { key: "10.12.13.1-24", why: "deviation: host bits set (Flannel keeps 10.12.13.1/24)" },
    { key: "10.12.13.0-16", why: "deviation: host bits set for the prefix" },
    { key: "10.12.13.0-24&fd00::1-64", why: "deviation: IPv6 host bits set" },
    { key: "10.12.13.0-24&::ffff:a00:0-104", why: "deviation: an IPv4-mapped IPv6 part" },
  ];
  for (const { key, why } of refused) {
    test(`refuses ${JSON.stringify(key)} (${why})`, () => {
      assert.equal(decodeSubnetKey(key), undefined);
    });
  }

  test("every key it writes reads back to the same subnets, and every canonical key to the same text", () => {
    const leases = [
      { subnet: cidr("10.5.52.0/24") },
      { subnet: cidr("10.12.13.0/24"), subnetV6: cidr("fd00:12:13::/56") },
      { subnet: cidr("192.168.0.0/30"), subnetV6: cidr("2001:db8:0:0:1::/80") },
    ];
    for (const lease of leases) {
      const key = subnetKey("/coreos.com/network", lease);
      assert.deepEqual(decodeSubnetKey(key), lease, key);
      assert.equal(subnetKey("/coreos.com/network", decodeSubnetKey(key)!), key);
    }
  });
});
