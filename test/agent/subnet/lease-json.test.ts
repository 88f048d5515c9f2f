// Lease values: byte-for-byte what Go's json.Marshal(LeaseAttrs) writes, and Go-style decoding of
// what Flannel nodes write (F:pkg/lease/lease.go, F:pkg/ip/ipnet.go, F:pkg/ip/ip6net.go,
// F:Documentation/reservations.md).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { parseIp, type IpAddress } from "../../../backends/net/ip.ts";
import { decodeLeaseAttrs, encodeLeaseAttrs } from "../../../agent/subnet/lease-json.ts";
import type { LeaseAttrs } from "../../../agent/subnet/manager.ts";

function ip(text: string): IpAddress {
  const parsed = parseIp(text);
  assert.ok(parsed !== undefined, `bad test address ${text}`);
  return parsed;
}

const vtep = { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" };

describe("encodeLeaseAttrs writes what Go's json.Marshal writes", () => {
  const cases: Array<{ name: string; attrs: LeaseAttrs; json: string }> = [
    {
      name: "the vxlan lease of F:Documentation/reservations.md",
      attrs: { publicIP: ip("192.168.64.3"), backendType: "vxlan", backendData: vtep },
      json: '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    },
    {
      name: "the reference's vxlan example",
      attrs: { publicIP: ip("10.0.0.1"), backendType: "vxlan", backendData: vtep },
      json: '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    },
    {
      name: "dual-stack vxlan: PublicIPv6 as a string, BackendV6Data last",
      attrs: {
        publicIP: ip("10.0.0.1"),
        publicIPv6: ip("fd00:0:0:0:0:0:0:1"),
        backendType: "vxlan",
        backendData: vtep,
        backendV6Data: { VNI: 1, VtepMAC: "aa:bb:cc:dd:ee:ff" },
      },
      json:
        '{"PublicIP":"10.0.0.1","PublicIPv6":"fd00::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},' +
        '"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
    },
    {
      name: "host-gw has no BackendData: the field is left out",
      attrs: { publicIP: ip("10.0.0.2"), backendType: "host-gw" },
      json: '{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"host-gw"}',
    },
    {
      name: "udp never sets BackendType: an empty one is left out (omitempty)",
      attrs: { publicIP: ip("10.0.0.3"), backendType: "" },
      json: '{"PublicIP":"10.0.0.3","PublicIPv6":null}',
    },
    {
      name: "no public IP is written as 0.0.0.0, never left out",
      attrs: { publicIP: ip("0.0.0.0"), backendType: "" },
      json: '{"PublicIP":"0.0.0.0","PublicIPv6":null}',
    },
    {
      name: "a null BackendData is written as null, like a RawMessage holding null",
      attrs: { publicIP: ip("10.0.0.4"), backendType: "vxlan", backendData: null },
      json: '{"PublicIP":"10.0.0.4","PublicIPv6":null,"BackendType":"vxlan","BackendData":null}',
    },
    {
      name: "Go's HTML escaping of <, > and & in strings, BackendData's included",
      attrs: { publicIP: ip("10.0.0.5"), backendType: "a<b>&c", backendData: { "<k>": "x&y" } },
      json: '{"PublicIP":"10.0.0.5","PublicIPv6":null,"BackendType":"a\\u003cb\\u003e\\u0026c","BackendData":{"\\u003ck\\u003e":"x\\u0026y"}}',
    },
    {
      name: "U+2028 and U+2029 escaped, other non-ASCII written raw",
      attrs: { publicIP: ip("10.0.0.6"), backendType: "a\u2028b\u2029c", backendData: { name: "é\u2028" } },
      json: '{"PublicIP":"10.0.0.6","PublicIPv6":null,"BackendType":"a\\u2028b\\u2029c","BackendData":{"name":"é\\u2028"}}',
    },
    {
      name: "control characters: short escapes where Go has them, lower-case \\u00XX otherwise",
      attrs: { publicIP: ip("10.0.0.7"), backendType: 'q"\\\b\f\n\r\t\u0001\u001f\u007f' },
      json: '{"PublicIP":"10.0.0.7","PublicIPv6":null,"BackendType":"q\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u007f"}',
    },
    {
      name: "a lone surrogate becomes U+FFFD, as its UTF-8 reaches etcd; an escaped backslash before 'ud800' text is kept",
      attrs: { publicIP: ip("10.0.0.8"), backendType: "a\ud800b", backendData: { k: "\\ud800" } },
      json: '{"PublicIP":"10.0.0.8","PublicIPv6":null,"BackendType":"a\ufffdb","BackendData":{"k":"\\\\ud800"}}',
    },
  ];
  for (const { name, attrs, json } of cases) {
    test(name, () => {
      assert.equal(encodeLeaseAttrs(attrs), json);
    });
  }

  const refused: Array<{ name: string; attrs: LeaseAttrs }> = [
    { name: "an IPv6 PublicIP", attrs: { publicIP: ip("fd00::1"), backendType: "vxlan" } },
    { name: "an IPv4 PublicIPv6", attrs: { publicIP: ip("10.0.0.1"), publicIPv6: ip("10.0.0.2"), backendType: "vxlan" } },
    { name: "BackendData that is not JSON (a bigint)", attrs: { publicIP: ip("10.0.0.1"), backendType: "vxlan", backendData: { VNI: 1n } } },
    { name: "BackendData that has no JSON form (a function)", attrs: { publicIP: ip("10.0.0.1"), backendType: "vxlan", backendData: () => 1 } },
  ];
  for (const { name, attrs } of refused) {
    test(`refuses ${name} with lease-invalid`, () => {
      assert.throws(() => encodeLeaseAttrs(attrs), (error: unknown) => isFlannelError(error, "lease-invalid"));
    });
  }
});

describe("decodeLeaseAttrs reads as Go's json.Unmarshal into LeaseAttrs", () => {
  const roundTrips = [
    '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    '{"PublicIP":"10.0.0.1","PublicIPv6":"fd00::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
    '{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"host-gw"}',
    '{"PublicIP":"10.0.0.3","PublicIPv6":null}',
    '{"PublicIP":"10.0.0.4","PublicIPv6":null,"BackendType":"vxlan","BackendData":null}',
  ];
  for (const json of roundTrips) {
    test(`round-trips byte for byte: ${json}`, () => {
      assert.equal(encodeLeaseAttrs(decodeLeaseAttrs(json, "/coreos.com/network/subnets/10.5.52.0-24")), json);
    });
  }

  const cases: Array<{ name: string; json: string; attrs: LeaseAttrs }> = [
    {
      name: "the reservations.md lease into its fields",
      json: '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
      attrs: { publicIP: ip("192.168.64.3"), backendType: "vxlan", backendData: vtep },
    },
    {
      name: "field names match case-insensitively, whitespace is allowed",
      json: '{ "publicip": "10.0.0.1", "PUBLICIPV6": "fd00::1", "backendtype": "vxlan", "backendData": {"VNI": 1} }',
      attrs: { publicIP: ip("10.0.0.1"), publicIPv6: ip("fd00::1"), backendType: "vxlan", backendData: { VNI: 1 } },
    },
    {
      name: "Go's case folding: the Kelvin sign folds to k",
      json: '{"PublicIP":"10.0.0.1","BacKendType":"vxlan"}'.replace("K", "\u212a"),
      attrs: { publicIP: ip("10.0.0.1"), backendType: "vxlan" },
    },
    {
      name: "unknown fields are ignored",
      json: '{"PublicIP":"10.0.0.1","Extra":{"x":[1,2]},"BackendType":"host-gw"}',
      attrs: { publicIP: ip("10.0.0.1"), backendType: "host-gw" },
    },
    {
      name: "the last of duplicate keys wins, whatever their case",
      json: '{"PublicIP":"10.0.0.1","publicIP":"10.0.0.2","PublicIPv6":"fd00::1","PublicIPv6":null}',
      attrs: { publicIP: ip("10.0.0.2"), backendType: "" },
    },
    { name: "absent fields keep Go's zero values", json: "{}", attrs: { publicIP: ip("0.0.0.0"), backendType: "" } },
    { name: "a top-level null decodes to the zero values", json: "null", attrs: { publicIP: ip("0.0.0.0"), backendType: "" } },
    {
      name: "a null BackendType leaves it empty",
      json: '{"PublicIP":"10.0.0.1","BackendType":null}',
      attrs: { publicIP: ip("10.0.0.1"), backendType: "" },
    },
    {
      name: "BackendType keeps its case (Flannel does not lower-case it)",
      json: '{"PublicIP":"10.0.0.1","BackendType":"VXLAN"}',
      attrs: { publicIP: ip("10.0.0.1"), backendType: "VXLAN" },
    },
    {
      name: "BackendType escapes are resolved (it is a Go string)",
      json: '{"PublicIP":"10.0.0.1","BackendType":"a\\u003cb"}',
      attrs: { publicIP: ip("10.0.0.1"), backendType: "a<b" },
    },
    {
      name: "an IPv4-mapped PublicIP is the IPv4 address (Go's To4)",
      json: '{"PublicIP":"::ffff:10.0.0.9"}',
      attrs: { publicIP: ip("10.0.0.9"), backendType: "" },
    },
    {
      name: "BackendData of any JSON type is kept",
      json: '{"PublicIP":"10.0.0.1","BackendData":[1,"a"],"BackendV6Data":"text"}',
      attrs: { publicIP: ip("10.0.0.1"), backendType: "", backendData: [1, "a"], backendV6Data: "text" },
    },
  ];
  for (const { name, json, attrs } of cases) {
    test(name, () => {
      assert.deepEqual(decodeLeaseAttrs(json, "/k"), attrs);
    });
  }

  const refused: Array<{ name: string; json: string }> = [
    { name: "text that is not JSON", json: '{"PublicIP":"10.0.0.1"' },
    { name: "an empty value", json: "" },
    { name: "a JSON array", json: '["10.0.0.1"]' },
    { name: "a JSON string", json: '"10.0.0.1"' },
    { name: "a PublicIP that is not an address", json: '{"PublicIP":"10.0.0.300"}' },
    { name: "an IPv6 PublicIP (Go's IP4 would panic)", json: '{"PublicIP":"fd00::1"}' },
    { name: "a null PublicIP (IP4's UnmarshalJSON fails on null)", json: '{"PublicIP":null}' },
    { name: "a number PublicIP", json: '{"PublicIP":10}' },
    { name: "a PublicIP with escapes (Go parses the raw text)", json: '{"PublicIP":"10.0.0.\\u0031"}' },
    { name: "a PublicIP with a leading zero", json: '{"PublicIP":"010.0.0.1"}' },
    { name: "a PublicIPv6 that is not an address", json: '{"PublicIP":"10.0.0.1","PublicIPv6":"fd00::zz"}' },
    { name: "an IPv4 PublicIPv6 (deviation: Go keeps it IPv4-mapped)", json: '{"PublicIP":"10.0.0.1","PublicIPv6":"10.0.0.2"}' },
    { name: "a number BackendType", json: '{"PublicIP":"10.0.0.1","BackendType":1}' },
    { name: "an object BackendType", json: '{"PublicIP":"10.0.0.1","BackendType":{}}' },
  ];
  for (const { name, json } of refused) {
    test(`refuses ${name} with lease-invalid naming the key`, () => {
      const key = "/coreos.com/network/subnets/10.5.52.0-24";
      assert.throws(
        () => decodeLeaseAttrs(json, key),
        (error: unknown) => {
          assert.ok(isFlannelError(error, "lease-invalid"), `not a lease-invalid FlannelError: ${String(error)}`);
          assert.deepEqual(error.details, { key, value: json });
          assert.ok(error.message.includes(key), `message does not name the key: ${error.message}`);
          return true;
        },
      );
    });
  }

  test("without a key the message still says what was wrong", () => {
    assert.throws(
      () => decodeLeaseAttrs('{"PublicIP":"nope"}'),
      (error: unknown) =>
        isFlannelError(error, "lease-invalid") && error.message.startsWith("lease value is invalid: PublicIP") && error.details.key === undefined,
    );
  });
});
