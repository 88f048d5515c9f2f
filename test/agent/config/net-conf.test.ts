// net-conf.json: decoding as Flannel's ParseConfig does, and the derivation and validation of
// Flannel's CheckNetworkConfig (reference §1 and §13), as tables of documents and outcomes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import type { JsonValue } from "../../../agent/config/json-fields.ts";
import { checkNetConf, enabledFamilies } from "../../../agent/config/net-conf-check.ts";
import { familyNetConf, formatNetConf, netConfJson, parseNetConf, type NetConf } from "../../../agent/config/net-conf.ts";

/** Compares the keys named in `expected` (undefined: the key must be absent) of the printed config. */
function assertFields(conf: NetConf, expected: Record<string, JsonValue | undefined>): void {
  const json = netConfJson(conf);
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(json[key], value, `field ${key}`);
}

/** Asserts a netconf-invalid error naming `field` and `shown` (its value) and carrying Flannel's `reason`. */
function assertInvalid(run: () => unknown, field: string, shown: string, reason: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(isFlannelError(error, "netconf-invalid"), `not a netconf-invalid FlannelError: ${String(error)}`);
    assert.equal(error.details.field, field);
    const named = field === "$" ? `net-conf.json ${shown}` : `${field} ${shown} is invalid`;
    assert.ok(error.message.includes(named), `message does not name ${named}: ${error.message}`);
    assert.ok(error.message.includes(reason), `message lacks "${reason}": ${error.message}`);
    assert.ok(error.message.includes("(allowed: "), `message does not say what is allowed: ${error.message}`);
    return true;
  });
}

const kubeFlannelYml = '{\n  "Network": "10.244.0.0/16",\n  "EnableNFTables": false,\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n';
const configurationMdUdp =
  '{\n\t"Network": "10.0.0.0/8",\n\t"SubnetLen": 20,\n\t"SubnetMin": "10.10.0.0",\n\t"SubnetMax": "10.99.0.0",\n\t"Backend": {\n\t\t"Type": "udp",\n\t\t"Port": 7890\n\t}\n}';

describe("parseNetConf decodes as Flannel's ParseConfig", () => {
  const cases: Array<{ name: string; text: string; fields: Record<string, JsonValue | undefined> }> = [
    {
      name: "an empty object gets the defaults: IPv4 on, IPv6 and nftables off, udp backend",
      text: "{}",
      fields: { EnableIPv4: true, EnableIPv6: false, EnableNFTables: false, Network: undefined, Backend: undefined, BackendType: "udp" },
    },
    {
      name: "the kube-flannel.yml example",
      text: kubeFlannelYml,
      fields: { Network: "10.244.0.0/16", EnableNFTables: false, SubnetLen: undefined, Backend: { Type: "vxlan" }, BackendType: "vxlan" },
    },
    {
      name: "the udp example of configuration.md keeps Port inside Backend",
      text: configurationMdUdp,
      fields: {
        Network: "10.0.0.0/8",
        SubnetLen: 20,
        SubnetMin: "10.10.0.0",
        SubnetMax: "10.99.0.0",
        Backend: { Type: "udp", Port: 7890 },
        BackendType: "udp",
      },
    },
    { name: "a lower-case key matches (network)", text: '{"network":"10.3.0.0/16"}', fields: { Network: "10.3.0.0/16" } },
    { name: "an upper-case key matches (NETWORK)", text: '{"NETWORK":"10.3.0.0/16"}', fields: { Network: "10.3.0.0/16" } },
    {
      name: "mixed-case IPv6 keys match (enableIPv6, ipv6Network)",
      text: '{"enableIPv6":true,"ipv6Network":"fc00::/48","Network":"10.0.0.0/16"}',
      fields: { EnableIPv6: true, IPv6Network: "fc00::/48" },
    },
    {
      name: "the exact-case IPv6 keys match (EnableIPv6, IPv6Network)",
      text: '{"EnableIPv6":true,"IPv6Network":"fc00::/48"}',
      fields: { EnableIPv6: true, IPv6Network: "fc00::/48" },
    },
    {
      name: "every field matches case-insensitively",
      text: '{"enableipv4":false,"ENABLEIPV6":true,"enablenftables":true,"subnetlen":26,"subnetmin":"10.0.0.64","SUBNETMAX":"10.0.0.192","ipv6subnetlen":80,"IPV6SUBNETMIN":"fc00:0:0:1::","ipv6subnetmax":"fc00:0:0:ff::","backend":{"type":"host-gw"}}',
      fields: {
        EnableIPv4: false,
        EnableIPv6: true,
        EnableNFTables: true,
        SubnetLen: 26,
        SubnetMin: "10.0.0.64",
        SubnetMax: "10.0.0.192",
        IPv6SubnetLen: 80,
        IPv6SubnetMin: "fc00:0:0:1::",
        IPv6SubnetMax: "fc00:0:0:ff::",
        BackendType: "host-gw",
      },
    },
    {
      name: "keys fold as Go's EqualFold does: long s and the Kelvin sign match s and k",
      text: '{"\u017fubnetLen":25,"Bac\u212aend":{"Type":"vxlan"}}',
      fields: { SubnetLen: 25, BackendType: "vxlan" },
    },
    { name: "an escaped key is matched after unescaping", text: '{"Net\\u0077ork":"10.5.0.0/16"}', fields: { Network: "10.5.0.0/16" } },
    {
      name: "unknown keys are ignored, BackendType included (it is json:\"-\" in Flannel)",
      text: '{"Network":"10.0.0.0/16","Foo":[1,{"Network":"x"}],"BackendType":"host-gw","Networks":"junk"}',
      fields: { Network: "10.0.0.0/16", BackendType: "udp" },
    },
    {
      name: "a later duplicate key wins, whatever its case",
      text: '{"Network":"10.1.0.0/16","network":"10.2.0.0/16"}',
      fields: { Network: "10.2.0.0/16" },
    },
    { name: "Network is stored masked", text: '{"Network":"10.244.3.7/16"}', fields: { Network: "10.244.0.0/16" } },
    { name: "IPv6Network is stored masked", text: '{"IPv6Network":"fc00::1:2:3/48"}', fields: { IPv6Network: "fc00::/48" } },
    {
      name: "IPv6Network takes any family at parse time while IPv6 is off (Flannel checks no family there)",
      text: '{"IPv6Network":"10.9.0.0/16"}',
      fields: { IPv6Network: "10.9.0.0/16", EnableIPv6: false },
    },
    {
      name: "IPv6SubnetMin takes an IPv4 address at parse time (the check finds it out of range)",
      text: '{"IPv6SubnetMin":"10.0.0.1"}',
      fields: { IPv6SubnetMin: "10.0.0.1" },
    },
    {
      name: "an IPv4-mapped IPv6 address is an IPv4 SubnetMin, as Go's To4() makes it",
      text: '{"SubnetMin":"::ffff:10.0.1.0"}',
      fields: { SubnetMin: "10.0.1.0" },
    },
    { name: "SubnetLen 0 is kept as written (the check derives it)", text: '{"SubnetLen":0}', fields: { SubnetLen: 0 } },
    {
      name: "SubnetLen takes any uint64 at parse time (the kube manager never checks it)",
      text: '{"SubnetLen":18446744073709551615}',
      fields: { SubnetLen: 18446744073709551615 },
    },
    {
      name: "null leaves a bool at its default, as Go does (EnableIPv4 stays true, EnableIPv6 false)",
      text: '{"EnableIPv4":null,"EnableIPv6":null,"EnableNFTables":null}',
      fields: { EnableIPv4: true, EnableIPv6: false, EnableNFTables: false },
    },
    {
      name: "null leaves a uint unset, as Go does",
      text: '{"SubnetLen":null,"IPv6SubnetLen":null}',
      fields: { SubnetLen: undefined, IPv6SubnetLen: undefined },
    },
    {
      name: "null after a value leaves the earlier value in place for a bool or a uint (Go: a no-op)",
      text: '{"EnableIPv6":true,"enableipv6":null,"SubnetLen":26,"subnetlen":null}',
      fields: { EnableIPv6: true, SubnetLen: 26 },
    },
    {
      name: "null resets IPv6SubnetMin/Max to absent, as Go does for its pointer fields",
      text: '{"IPv6SubnetMin":"fc00:0:0:1::","ipv6subnetmin":null,"IPv6SubnetMax":null}',
      fields: { IPv6SubnetMin: undefined, IPv6SubnetMax: undefined },
    },
    {
      name: "a top-level null decodes to all defaults, as Go does",
      text: " null ",
      fields: { EnableIPv4: true, EnableIPv6: false, Network: undefined, BackendType: "udp" },
    },
    { name: "Backend absent gives udp (DOC≠CODE: the docs say vxlan)", text: '{"Network":"10.0.0.0/8"}', fields: { BackendType: "udp" } },
    {
      name: "Backend as an empty object gives \"\" (Flannel only defaults an absent Backend)",
      text: '{"Backend":{}}',
      fields: { Backend: {}, BackendType: "" },
    },
    { name: "Backend without Type gives \"\"", text: '{"Backend":{"Port":8285}}', fields: { BackendType: "" } },
    { name: "Backend null gives \"\" (Go keeps the raw null)", text: '{"Backend":null}', fields: { Backend: null, BackendType: "" } },
    { name: "Backend.Type null gives \"\"", text: '{"Backend":{"Type":null}}', fields: { BackendType: "" } },
    { name: "the Type key is case-insensitive and the type lower-cased", text: '{"Backend":{"tYPE":"VXLAN"}}', fields: { BackendType: "vxlan" } },
    { name: "an unknown backend type is not a parse error", text: '{"Backend":{"Type":"Foo"}}', fields: { BackendType: "foo" } },
    {
      name: "EnableNFTables is decoded",
      text: '{"EnableNFTables":true}',
      fields: { EnableNFTables: true },
    },
  ];
  for (const c of cases) test(c.name, () => assertFields(parseNetConf(c.text), c.fields));

  test("addresses come back typed: Cidr and IpAddress values, not strings", () => {
    const conf = parseNetConf('{"Network":"10.244.3.7/16","SubnetMin":"10.244.1.0","IPv6Network":"fc00::/48"}');
    assert.deepEqual(conf.ipv4.network, { family: 4, address: 0x0af40000n, prefix: 16 });
    assert.deepEqual(conf.ipv4.subnetMin, parseIp("10.244.1.0"));
    assert.deepEqual(familyNetConf(conf, 6).network, parseCidr("fc00::/48"));
    assert.equal(conf.ipv4.family, 4);
    assert.equal(conf.ipv6.family, 6);
  });

  test("Backend is kept as written, so a backend can decode its options with Go's rules", () => {
    const text = '{"Backend":{"Type":"vxlan","VNI":1.0,"type":"VXLAN"}}';
    const conf = parseNetConf(text);
    assert.equal(conf.backend?.text, '{"Type":"vxlan","VNI":1.0,"type":"VXLAN"}');
    assert.deepEqual(conf.backend?.value, { Type: "vxlan", VNI: 1, type: "VXLAN" });
    assert.equal(conf.backendType, "vxlan");
  });

  test("parsing derives nothing: SubnetLen, SubnetMin and SubnetMax stay absent", () => {
    const conf = parseNetConf('{"Network":"10.3.0.0/16"}');
    assert.equal(conf.ipv4.subnetLen, undefined);
    assert.equal(conf.ipv4.subnetMin, undefined);
    assert.equal(conf.ipv4.subnetMax, undefined);
  });
});

describe("parseNetConf refuses what Flannel refuses", () => {
  const cases: Array<{ name: string; text: string; field: string; shown: string; reason: string }> = [
    { name: "an empty document is not JSON", text: "", field: "$", shown: "is not valid JSON", reason: "" },
    { name: "a truncated object is not JSON", text: '{"Network":', field: "$", shown: "is not valid JSON", reason: "" },
    { name: "YAML is not JSON", text: "Network: 10.0.0.0/8", field: "$", shown: "is not valid JSON", reason: "" },
    { name: "a byte-order mark is not JSON (Go refuses it too)", text: '\ufeff{"Network":"10.0.0.0/8"}', field: "$", shown: "is not valid JSON", reason: "" },
    { name: "a top-level array", text: "[1,2]", field: "$", shown: "[1,2]", reason: "expected a JSON object, got an array" },
    { name: "a top-level string", text: '"10.0.0.0/8"', field: "$", shown: '"10.0.0.0/8"', reason: "expected a JSON object, got a string" },
    { name: "EnableIPv4 as a string", text: '{"EnableIPv4":"true"}', field: "EnableIPv4", shown: '"true"', reason: "expected a JSON boolean, got a string" },
    { name: "EnableIPv6 as a number", text: '{"enableIPv6":1}', field: "EnableIPv6", shown: "1", reason: "expected a JSON boolean, got a number" },
    { name: "EnableNFTables as a string", text: '{"EnableNFTables":"false"}', field: "EnableNFTables", shown: '"false"', reason: "got a string" },
    { name: "SubnetLen as a string", text: '{"SubnetLen":"24"}', field: "SubnetLen", shown: '"24"', reason: "expected an unsigned integer, got a string" },
    { name: "SubnetLen negative", text: '{"SubnetLen":-1}', field: "SubnetLen", shown: "-1", reason: "expected an unsigned integer" },
    { name: "SubnetLen fractional", text: '{"SubnetLen":24.5}', field: "SubnetLen", shown: "24.5", reason: "expected an unsigned integer" },
    { name: "SubnetLen written 24.0 (Go takes digits only)", text: '{"SubnetLen":24.0}', field: "SubnetLen", shown: "24.0", reason: "expected an unsigned integer" },
    { name: "SubnetLen with an exponent", text: '{"SubnetLen":2.4e1}', field: "SubnetLen", shown: "2.4e1", reason: "expected an unsigned integer" },
    {
      name: "SubnetLen beyond uint64",
      text: '{"SubnetLen":18446744073709551616}',
      field: "SubnetLen",
      shown: "18446744073709551616",
      reason: "expected an unsigned integer",
    },
    { name: "SubnetLen as a boolean", text: '{"SubnetLen":true}', field: "SubnetLen", shown: "true", reason: "got a boolean" },
    { name: "IPv6SubnetLen as a string", text: '{"IPv6SubnetLen":"64"}', field: "IPv6SubnetLen", shown: '"64"', reason: "expected an unsigned integer" },
    { name: "IPv6SubnetLen negative", text: '{"ipv6SubnetLen":-64}', field: "IPv6SubnetLen", shown: "-64", reason: "expected an unsigned integer" },
    {
      name: "Network null fails, as it does in Go (its UnmarshalJSON sees null)",
      text: '{"Network":null}',
      field: "Network",
      shown: "null",
      reason: "expected a JSON string holding an IPv4 CIDR, got null",
    },
    { name: "Network as a number", text: '{"Network":10}', field: "Network", shown: "10", reason: "got a number" },
    { name: "Network as an object", text: '{"Network":{"IP":"10.0.0.0"}}', field: "Network", shown: '{"IP":"10.0.0.0"}', reason: "got an object" },
    { name: "Network empty", text: '{"Network":""}', field: "Network", shown: '""', reason: "invalid CIDR address: " },
    { name: "Network without a prefix", text: '{"Network":"10.0.0.0"}', field: "Network", shown: '"10.0.0.0"', reason: "invalid CIDR address: 10.0.0.0" },
    { name: "Network with a prefix over 32", text: '{"Network":"10.0.0.0/33"}', field: "Network", shown: '"10.0.0.0/33"', reason: "invalid CIDR address" },
    { name: "Network with a bad octet", text: '{"Network":"10.0.0.256/8"}', field: "Network", shown: '"10.0.0.256/8"', reason: "invalid CIDR address" },
    { name: "Network with a leading zero (Go is strict)", text: '{"Network":"010.0.0.0/8"}', field: "Network", shown: '"010.0.0.0/8"', reason: "invalid CIDR address" },
    { name: "Network as an IPv6 CIDR", text: '{"Network":"fc00::/48"}', field: "Network", shown: '"fc00::/48"', reason: "invalid IPv4 CIDR format" },
    {
      name: "Network with an escaped slash (Flannel parses the raw text)",
      text: '{"Network":"10.0.0.0\\/8"}',
      field: "Network",
      shown: '"10.0.0.0\\/8"',
      reason: "drop the escape sequences",
    },
    { name: "IPv6Network null", text: '{"IPv6Network":null}', field: "IPv6Network", shown: "null", reason: "got null" },
    { name: "IPv6Network with a prefix over 128", text: '{"IPv6Network":"fc00::/129"}', field: "IPv6Network", shown: '"fc00::/129"', reason: "invalid CIDR address" },
    { name: "IPv6Network not a CIDR", text: '{"IPv6Network":"fc00::"}', field: "IPv6Network", shown: '"fc00::"', reason: "invalid CIDR address: fc00::" },
    {
      name: "IPv6Network as an IPv4 CIDR while IPv6 is on (a deliberate deviation)",
      text: '{"EnableIPv6":true,"IPv6Network":"10.0.0.0/8"}',
      field: "IPv6Network",
      shown: "10.0.0.0/8",
      reason: "IPv6Network must be an IPv6 CIDR when EnableIPv6 is true",
    },
    {
      name: "SubnetMin null fails, as it does in Go (its UnmarshalJSON sees null)",
      text: '{"SubnetMin":null}',
      field: "SubnetMin",
      shown: "null",
      reason: "expected a JSON string holding an IPv4 address, got null",
    },
    { name: "SubnetMin as a number", text: '{"SubnetMin":167772416}', field: "SubnetMin", shown: "167772416", reason: "got a number" },
    { name: "SubnetMin with three octets", text: '{"SubnetMin":"10.0.1"}', field: "SubnetMin", shown: '"10.0.1"', reason: "Invalid IP address format" },
    { name: "SubnetMin as a CIDR", text: '{"SubnetMin":"10.0.1.0/24"}', field: "SubnetMin", shown: '"10.0.1.0/24"', reason: "Invalid IP address format" },
    { name: "SubnetMin as an IPv6 address", text: '{"SubnetMin":"fc00::1"}', field: "SubnetMin", shown: '"fc00::1"', reason: "not an IPv4 address" },
    { name: "SubnetMax as an IPv6 address", text: '{"subnetMax":"fc00::1"}', field: "SubnetMax", shown: '"fc00::1"', reason: "not an IPv4 address" },
    { name: "SubnetMax empty", text: '{"SubnetMax":""}', field: "SubnetMax", shown: '""', reason: "Invalid IP address format" },
    { name: "IPv6SubnetMin as a number", text: '{"IPv6SubnetMin":5}', field: "IPv6SubnetMin", shown: "5", reason: "expected a JSON string holding an IP address" },
    { name: "IPv6SubnetMax not an address", text: '{"IPv6SubnetMax":"fc00::g"}', field: "IPv6SubnetMax", shown: '"fc00::g"', reason: "Invalid IP address format" },
    { name: "Backend as a string", text: '{"Backend":"vxlan"}', field: "Backend", shown: '"vxlan"', reason: "expected a JSON object, got a string" },
    { name: "Backend as an array", text: '{"Backend":[{"Type":"vxlan"}]}', field: "Backend", shown: '[{"Type":"vxlan"}]', reason: "got an array" },
    { name: "Backend.Type as a number", text: '{"Backend":{"Type":5}}', field: "Backend.Type", shown: "5", reason: "expected a JSON string, got a number" },
    { name: "Backend.Type as an array", text: '{"Backend":{"type":["vxlan"]}}', field: "Backend.Type", shown: '["vxlan"]', reason: "got an array" },
    {
      name: "a bad value fails even when a later duplicate key is good (Go decodes every member)",
      text: '{"Network":"bad","network":"10.0.0.0/8"}',
      field: "Network",
      shown: '"bad"',
      reason: "invalid CIDR address: bad",
    },
  ];
  for (const c of cases) test(c.name, () => assertInvalid(() => parseNetConf(c.text), c.field, c.shown, c.reason));

  test("a JSON syntax error is reported as netconf-invalid with the parser's error as cause", () => {
    assert.throws(
      () => parseNetConf("{oops}"),
      (error: unknown) => isFlannelError(error, "netconf-invalid") && error.cause instanceof SyntaxError && error.details.value === "{oops}",
    );
  });

  test("the value in details is the JSON value as decoded", () => {
    assert.throws(
      () => parseNetConf('{"SubnetLen":"24"}'),
      (error: unknown) => isFlannelError(error) && error.details.value === "24",
    );
  });
});

describe("checkNetConf derives subnet ranges as Flannel's CheckNetworkConfig", () => {
  const cases: Array<{ name: string; text: string; fields: Record<string, JsonValue | undefined> }> = [
    {
      name: "worked example: 10.3.0.0/16 gives /24 from 10.3.1.0 to 10.3.255.0 (the first subnet is skipped)",
      text: '{"network":"10.3.0.0/16"}',
      fields: { SubnetLen: 24, SubnetMin: "10.3.1.0", SubnetMax: "10.3.255.0" },
    },
    {
      name: "worked example: fc00::/48 gives /64 from fc00:0:0:1:: to fc00:0:0:ffff::",
      text: '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}',
      fields: { IPv6SubnetLen: 64, IPv6SubnetMin: "fc00:0:0:1::", IPv6SubnetMax: "fc00:0:0:ffff::", SubnetLen: undefined },
    },
    {
      name: "dual stack derives both families",
      text: '{"Network":"10.3.0.0/16","enableIPv6":true,"ipv6Network":"fc00::/48"}',
      fields: { SubnetLen: 24, SubnetMin: "10.3.1.0", IPv6SubnetLen: 64, IPv6SubnetMax: "fc00:0:0:ffff::" },
    },
    { name: "/8 gets /24", text: '{"Network":"10.0.0.0/8"}', fields: { SubnetLen: 24, SubnetMin: "10.0.1.0", SubnetMax: "10.255.255.0" } },
    { name: "/22 still gets /24", text: '{"Network":"10.0.0.0/22"}', fields: { SubnetLen: 24, SubnetMin: "10.0.1.0", SubnetMax: "10.0.3.0" } },
    { name: "/23 gets /25 (prefix + 2)", text: '{"Network":"10.0.0.0/23"}', fields: { SubnetLen: 25, SubnetMin: "10.0.0.128", SubnetMax: "10.0.1.128" } },
    { name: "/28 gets /30", text: '{"Network":"10.0.0.0/28"}', fields: { SubnetLen: 30, SubnetMin: "10.0.0.4", SubnetMax: "10.0.0.12" } },
    {
      name: "IPv6 /62 still gets /64",
      text: '{"EnableIPv6":true,"IPv6Network":"fc00::/62","EnableIPv4":false}',
      fields: { IPv6SubnetLen: 64, IPv6SubnetMin: "fc00:0:0:1::", IPv6SubnetMax: "fc00:0:0:3::" },
    },
    {
      name: "IPv6 /63 gets /65",
      text: '{"EnableIPv6":true,"IPv6Network":"fc00::/63","EnableIPv4":false}',
      fields: { IPv6SubnetLen: 65, IPv6SubnetMin: "fc00::8000:0:0:0", IPv6SubnetMax: "fc00:0:0:1:8000::" },
    },
    {
      name: "IPv6 /124 gets /126",
      text: '{"EnableIPv6":true,"IPv6Network":"fc00::/124","EnableIPv4":false}',
      fields: { IPv6SubnetLen: 126, IPv6SubnetMin: "fc00::4", IPv6SubnetMax: "fc00::c" },
    },
    {
      name: "an explicit SubnetLen of prefix + 2 is accepted",
      text: '{"Network":"10.0.0.0/16","SubnetLen":18}',
      fields: { SubnetLen: 18, SubnetMin: "10.0.64.0", SubnetMax: "10.0.192.0" },
    },
    { name: "an explicit SubnetLen of 30 is accepted", text: '{"Network":"10.0.0.0/16","SubnetLen":30}', fields: { SubnetLen: 30, SubnetMax: "10.0.255.252" } },
    { name: "SubnetLen 0 means derive it", text: '{"Network":"10.0.0.0/16","SubnetLen":0}', fields: { SubnetLen: 24 } },
    {
      name: "the udp example of configuration.md keeps its SubnetLen, SubnetMin and SubnetMax",
      text: configurationMdUdp,
      fields: { Network: "10.0.0.0/8", SubnetLen: 20, SubnetMin: "10.10.0.0", SubnetMax: "10.99.0.0", BackendType: "udp" },
    },
    {
      name: "the kube-flannel.yml example",
      text: kubeFlannelYml,
      fields: { SubnetLen: 24, SubnetMin: "10.244.1.0", SubnetMax: "10.244.255.0", BackendType: "vxlan" },
    },
    {
      name: "SubnetMin 0.0.0.0 counts as not set, as in Flannel",
      text: '{"Network":"10.3.0.0/16","SubnetMin":"0.0.0.0","SubnetMax":"0.0.0.0"}',
      fields: { SubnetMin: "10.3.1.0", SubnetMax: "10.3.255.0" },
    },
    {
      name: "IPv6SubnetMin :: counts as not set, as in Flannel",
      text: '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"::"}',
      fields: { IPv6SubnetMin: "fc00:0:0:1::" },
    },
    {
      name: "SubnetMin above SubnetMax is accepted: Flannel does not compare them",
      text: '{"Network":"10.0.0.0/16","SubnetMin":"10.0.200.0","SubnetMax":"10.0.100.0"}',
      fields: { SubnetMin: "10.0.200.0", SubnetMax: "10.0.100.0" },
    },
    {
      name: "a written SubnetMin may be the network address: only the default skips the first subnet",
      text: '{"Network":"10.0.0.0/16","SubnetMin":"10.0.0.0"}',
      fields: { SubnetMin: "10.0.0.0" },
    },
    {
      name: "a network at the top of the address space does not overflow",
      text: '{"Network":"255.255.0.0/16"}',
      fields: { SubnetMin: "255.255.1.0", SubnetMax: "255.255.255.0" },
    },
    {
      name: "a disabled family is not checked or derived",
      text: '{"Network":"10.0.0.0/16","IPv6Network":"fc00::/127","IPv6SubnetLen":200,"IPv6SubnetMin":"10.0.0.1"}',
      fields: { IPv6Network: "fc00::/127", IPv6SubnetLen: 200, IPv6SubnetMin: "10.0.0.1", IPv6SubnetMax: undefined },
    },
    {
      name: "IPv4 off: Network may be absent and nothing IPv4 is derived",
      text: '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","SubnetLen":99}',
      fields: { Network: undefined, SubnetLen: 99, SubnetMin: undefined },
    },
  ];
  for (const c of cases) test(c.name, () => assertFields(checkNetConf(parseNetConf(c.text)), c.fields));

  test("derived values are typed, and narrowing on enabled reaches them", () => {
    const conf = checkNetConf(parseNetConf('{"Network":"10.3.0.0/16"}'));
    assert.ok(conf.ipv4.enabled);
    const min: { family: number; value: bigint } = conf.ipv4.subnetMin;
    assert.deepEqual(min, { family: 4, value: 0x0a030100n });
    assert.deepEqual(conf.ipv4.subnetMax, parseIp("10.3.255.0"));
    assert.equal(conf.ipv4.subnetLen, 24);
    assert.equal(conf.ipv6.enabled, false);
  });

  test("checking does not change the parsed configuration", () => {
    const parsed = parseNetConf('{"Network":"10.3.0.0/16"}');
    checkNetConf(parsed);
    assert.equal(parsed.ipv4.subnetLen, undefined);
  });
});

describe("checkNetConf refuses what Flannel's CheckNetworkConfig refuses", () => {
  const v6 = (rest: string) => `{"EnableIPv4":false,"EnableIPv6":true,${rest}}`;
  const cases: Array<{ name: string; text: string; field: string; shown: string; reason: string }> = [
    { name: "Network absent", text: "{}", field: "Network", shown: "(absent)", reason: "please define a correct Network parameter in the flannel config" },
    { name: "Network 0.0.0.0/0 counts as absent", text: '{"Network":"0.0.0.0/0"}', field: "Network", shown: "0.0.0.0/0", reason: "please define a correct Network parameter" },
    {
      name: "IPv6Network absent while IPv6 is on",
      text: '{"Network":"10.0.0.0/16","EnableIPv6":true}',
      field: "IPv6Network",
      shown: "(absent)",
      reason: "please define a correct IPv6Network parameter in the flannel config",
    },
    { name: "IPv6Network ::/0 counts as absent", text: v6('"IPv6Network":"::/0"'), field: "IPv6Network", shown: "::/0", reason: "please define a correct IPv6Network parameter" },
    { name: "SubnetLen over 30", text: '{"Network":"10.0.0.0/16","SubnetLen":31}', field: "SubnetLen", shown: "31", reason: "SubnetLen must be less than /31" },
    { name: "SubnetLen 32", text: '{"Network":"10.0.0.0/16","SubnetLen":32}', field: "SubnetLen", shown: "32", reason: "SubnetLen must be less than /31" },
    {
      name: "SubnetLen below prefix + 2",
      text: '{"Network":"10.0.0.0/16","SubnetLen":17}',
      field: "SubnetLen",
      shown: "17",
      reason: "network must be able to accommodate at least four subnets",
    },
    {
      name: "SubnetLen equal to the prefix",
      text: '{"Network":"10.0.0.0/8","SubnetLen":8}',
      field: "SubnetLen",
      shown: "8",
      reason: "network must be able to accommodate at least four subnets (allowed: 10..30 for Network 10.0.0.0/8)",
    },
    {
      name: "SubnetLen 30 on a /29 (no SubnetLen fits)",
      text: '{"Network":"10.0.0.0/29","SubnetLen":30}',
      field: "SubnetLen",
      shown: "30",
      reason: "network must be able to accommodate at least four subnets (allowed: none, Network 10.0.0.0/29 is too small",
    },
    { name: "a /29 Network is too small", text: '{"Network":"10.0.0.0/29"}', field: "Network", shown: "10.0.0.0/29", reason: "network is too small. Minimum useful network prefix is /28" },
    { name: "a /32 Network is too small", text: '{"Network":"10.0.0.1/32"}', field: "Network", shown: "10.0.0.1/32", reason: "Minimum useful network prefix is /28" },
    { name: "IPv6SubnetLen over 126", text: v6('"IPv6Network":"fc00::/48","IPv6SubnetLen":127'), field: "IPv6SubnetLen", shown: "127", reason: "SubnetLen must be less than /127" },
    {
      name: "IPv6SubnetLen below prefix + 2",
      text: v6('"IPv6Network":"fc00::/48","IPv6SubnetLen":49'),
      field: "IPv6SubnetLen",
      shown: "49",
      reason: "network must be able to accommodate at least four subnets (allowed: 50..126 for IPv6Network fc00::/48)",
    },
    {
      name: "a /125 IPv6Network is too small",
      text: v6('"IPv6Network":"fc00::/125"'),
      field: "IPv6Network",
      shown: "fc00::/125",
      reason: "IPv6Network is too small. Minimum useful network prefix is /124",
    },
    {
      name: "SubnetMin outside Network",
      text: '{"Network":"10.0.0.0/16","SubnetMin":"10.1.0.0"}',
      field: "SubnetMin",
      shown: "10.1.0.0",
      reason: "SubnetMin is not in the range of the Network (allowed: an address inside Network 10.0.0.0/16)",
    },
    { name: "SubnetMax outside Network", text: '{"Network":"10.0.0.0/16","SubnetMax":"11.0.0.0"}', field: "SubnetMax", shown: "11.0.0.0", reason: "SubnetMax is not in the range of the Network" },
    {
      name: "IPv6SubnetMin outside IPv6Network",
      text: v6('"IPv6Network":"fc00::/48","IPv6SubnetMin":"fc01::"'),
      field: "IPv6SubnetMin",
      shown: "fc01::",
      reason: "IPv6SubnetMin is not in the range of the IPv6Network",
    },
    {
      name: "IPv6SubnetMax outside IPv6Network",
      text: v6('"IPv6Network":"fc00::/48","IPv6SubnetMax":"fc00:1::"'),
      field: "IPv6SubnetMax",
      shown: "fc00:1::",
      reason: "IPv6SubnetMax is not in the range of the IPv6Network",
    },
    {
      name: "an IPv4 IPv6SubnetMin is out of range",
      text: v6('"IPv6Network":"fc00::/48","IPv6SubnetMin":"10.0.0.0"'),
      field: "IPv6SubnetMin",
      shown: "10.0.0.0",
      reason: "IPv6SubnetMin is not in the range of the IPv6Network",
    },
    {
      name: "SubnetMin off the SubnetLen boundary",
      text: '{"Network":"10.0.0.0/16","SubnetMin":"10.0.1.5"}',
      field: "SubnetMin",
      shown: "10.0.1.5",
      reason: "SubnetMin is not on a SubnetLen boundary: 10.0.1.5 (allowed: an address on a /24 boundary, such as 10.0.1.0)",
    },
    {
      name: "SubnetMax off an explicit SubnetLen boundary",
      text: '{"Network":"10.0.0.0/16","SubnetLen":20,"SubnetMax":"10.0.248.0"}',
      field: "SubnetMax",
      shown: "10.0.248.0",
      reason: "SubnetMax is not on a SubnetLen boundary: 10.0.248.0",
    },
    {
      name: "IPv6SubnetMin off the SubnetLen boundary",
      text: v6('"IPv6Network":"fc00::/48","IPv6SubnetMin":"fc00:0:0:1::1"'),
      field: "IPv6SubnetMin",
      shown: "fc00:0:0:1::1",
      reason: "IPv6SubnetMin is not on a SubnetLen boundary: fc00:0:0:1::1",
    },
    {
      name: "IPv6SubnetMax off the SubnetLen boundary",
      text: v6('"IPv6Network":"fc00::/48","IPv6SubnetMax":"fc00:0:0:ff:8000::"'),
      field: "IPv6SubnetMax",
      shown: "fc00:0:0:ff:8000::",
      reason: "IPv6SubnetMax is not on a SubnetLen boundary",
    },
    {
      name: "range checks come before alignment checks, as in Flannel",
      text: '{"Network":"10.0.0.0/16","SubnetMin":"10.0.1.5","SubnetMax":"10.9.0.0"}',
      field: "SubnetMax",
      shown: "10.9.0.0",
      reason: "SubnetMax is not in the range of the Network",
    },
    {
      name: "IPv4 is checked before IPv6",
      text: '{"Network":"10.0.0.0/30","EnableIPv6":true}',
      field: "Network",
      shown: "10.0.0.0/30",
      reason: "network is too small",
    },
    {
      name: "both families off: none defined stack",
      text: '{"EnableIPv4":false,"EnableIPv6":false,"Network":"10.0.0.0/16"}',
      field: "EnableIPv4",
      shown: "false",
      reason: "none defined stack",
    },
  ];
  for (const c of cases) test(c.name, () => assertInvalid(() => checkNetConf(parseNetConf(c.text)), c.field, c.shown, c.reason));

  test("the SubnetLen message names the field, the value and the allowed range", () => {
    assert.throws(() => checkNetConf(parseNetConf('{"Network":"10.0.0.0/16","SubnetLen":31}')), {
      message: "net-conf.json: SubnetLen 31 is invalid: SubnetLen must be less than /31 (allowed: 18..30 for Network 10.0.0.0/16)",
    });
  });

  test("the kube manager's path accepts what only the check would refuse (parse and check are separate)", () => {
    const conf = parseNetConf('{"Network":"10.0.0.0/29","SubnetLen":31,"SubnetMin":"192.168.0.1"}');
    assert.equal(conf.ipv4.subnetLen, 31);
    assert.throws(() => checkNetConf(conf), (error: unknown) => isFlannelError(error, "netconf-invalid"));
  });
});

describe("enabledFamilies", () => {
  const cases: Array<{ text: string; families: number[] }> = [
    { text: "{}", families: [4] },
    { text: '{"EnableIPv6":true}', families: [4, 6] },
    { text: '{"EnableIPv4":false,"EnableIPv6":true}', families: [6] },
  ];
  for (const c of cases) {
    test(`${c.text} runs IPv${c.families.join(" and IPv")}`, () => assert.deepEqual(enabledFamilies(parseNetConf(c.text)), c.families));
  }

  test("no family at all is refused without running the subnet check (kube mode)", () => {
    assertInvalid(() => enabledFamilies(parseNetConf('{"EnableIPv4":false}')), "EnableIPv4", "false", "none defined stack");
  });
});

describe("formatNetConf prints the configuration for logs", () => {
  test("a checked configuration prints its derived ranges with Flannel's field names", () => {
    assert.equal(
      formatNetConf(checkNetConf(parseNetConf(kubeFlannelYml))),
      '{"EnableIPv4":true,"EnableIPv6":false,"EnableNFTables":false,"Network":"10.244.0.0/16","SubnetLen":24,' +
        '"SubnetMin":"10.244.1.0","SubnetMax":"10.244.255.0","Backend":{"Type":"vxlan"},"BackendType":"vxlan"}',
    );
  });

  test("a parsed configuration prints only what was written, plus the backend type", () => {
    assert.equal(
      formatNetConf(parseNetConf('{"network":"10.3.0.7/16"}')),
      '{"EnableIPv4":true,"EnableIPv6":false,"EnableNFTables":false,"Network":"10.3.0.0/16","BackendType":"udp"}',
    );
  });

  const roundTrips = [kubeFlannelYml, configurationMdUdp, '{"Network":"10.3.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48"}'];
  for (const text of roundTrips) {
    test(`the printed form parses back to the same checked configuration: ${text.replace(/\s+/g, "")}`, () => {
      const checked = checkNetConf(parseNetConf(text));
      const again = checkNetConf(parseNetConf(formatNetConf(checked)));
      assert.deepEqual([again.ipv4, again.ipv6, again.backendType], [checked.ipv4, checked.ipv6, checked.backendType]);
      assert.deepEqual(netConfJson(again), netConfJson(checked));
    });
  }
});
