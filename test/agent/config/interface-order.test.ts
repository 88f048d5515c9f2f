// Which interface addresses Flannel would use, and in what order: table tests of the pure
// filter/sort, no kernel involved.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { orderUsableAddresses, type AddressCandidate } from "../../../agent/config/interface.ts";
import { formatIp, parseIp, type IpFamily } from "../../../backends/net/ip.ts";

interface Flags {
  dynamic?: boolean;
  deprecated?: boolean;
  temporary?: boolean;
}

/** "198.18.0.1", or "198.18.0.1 dynamic temporary" for an address with flags. */
function address(spec: string): AddressCandidate {
  const [text = "", ...flagWords] = spec.split(" ");
  const ip = parseIp(text);
  assert.ok(ip !== undefined, `bad test address ${text}`);
  const flags: Flags = Object.fromEntries(flagWords.map((word) => [word, true]));
  return {
    ip,
    flags: { permanent: flags.dynamic !== true, deprecated: flags.deprecated === true, temporary: flags.temporary === true },
  };
}

const cases: ReadonlyArray<{ name: string; family: IpFamily; input: string[]; expected: string[] }> = [
  { name: "keeps the kernel's order among equals", family: 4, input: ["198.18.0.2", "198.18.0.1"], expected: ["198.18.0.2", "198.18.0.1"] },
  { name: "drops deprecated addresses", family: 4, input: ["198.18.0.1 deprecated", "198.18.0.2"], expected: ["198.18.0.2"] },
  { name: "puts global unicast before link-local", family: 4, input: ["169.254.3.4", "198.18.0.1"], expected: ["198.18.0.1", "169.254.3.4"] },
  { name: "keeps a link-local address when it is the only one", family: 6, input: ["fe80::1"], expected: ["fe80::1"] },
  { name: "drops loopback, multicast and unspecified addresses", family: 4, input: ["127.0.0.1", "224.0.0.5", "0.0.0.0", "255.255.255.255"], expected: [] },
  { name: "drops IPv6 loopback and multicast", family: 6, input: ["::1", "ff02::1", "2001:db8::1"], expected: ["2001:db8::1"] },
  { name: "puts permanent before dynamic", family: 6, input: ["2001:db8::1 dynamic", "2001:db8::2"], expected: ["2001:db8::2", "2001:db8::1"] },
  { name: "puts non-temporary before temporary", family: 6, input: ["2001:db8::1 temporary", "2001:db8::2"], expected: ["2001:db8::2", "2001:db8::1"] },
  {
    name: "weighs permanence above temporariness",
    family: 6,
    input: ["2001:db8::1 dynamic", "2001:db8::2 temporary"],
    expected: ["2001:db8::2", "2001:db8::1"],
  },
  {
    name: "weighs global scope above permanence",
    family: 6,
    input: ["fe80::1", "2001:db8::1 dynamic temporary"],
    expected: ["2001:db8::1", "fe80::1"],
  },
  {
    name: "orders a realistic SLAAC interface",
    family: 6,
    input: [
      "2001:db8::aaaa dynamic temporary",
      "2001:db8::bbbb dynamic temporary deprecated",
      "2001:db8::cccc dynamic",
      "fd00:198:18::1",
      "fe80::1",
    ],
    expected: ["fd00:198:18::1", "2001:db8::cccc", "2001:db8::aaaa", "fe80::1"],
  },
  { name: "keeps only the asked family", family: 4, input: ["2001:db8::1", "198.18.0.1", "fe80::1"], expected: ["198.18.0.1"] },
  { name: "keeps only the asked family (IPv6)", family: 6, input: ["198.18.0.1", "2001:db8::1"], expected: ["2001:db8::1"] },
  { name: "returns nothing for no addresses", family: 4, input: [], expected: [] },
];

describe("orderUsableAddresses", () => {
  for (const { name, family, input, expected } of cases) {
    test(name, () => {
      const ordered = orderUsableAddresses(input.map(address), family);
      assert.deepEqual(ordered.map((a) => formatIp(a.ip)), expected);
    });
  }

  test("does not reorder its input array", () => {
    const input = ["198.18.0.1 dynamic", "198.18.0.2"].map(address);
    const before = [...input];
    orderUsableAddresses(input, 4);
    assert.deepEqual(input, before);
  });
});
