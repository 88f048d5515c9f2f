// Subnet allocation in etcd mode: Flannel's isSubnetConfigCompat and allocateSubnet
// (F:pkg/subnet/etcd/local_manager.go), for both families, with ranges derived by checkNetConf.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../backends/errors.ts";
import { formatCidr, parseCidr, type Cidr } from "../../../backends/net/ip.ts";
import { checkNetConf } from "../../../agent/config/net-conf-check.ts";
import { parseNetConf, type FamilySubnets } from "../../../agent/config/net-conf.ts";
import { chooseFreeSubnet, isSubnetCompatible, outOfSubnetsError } from "../../../agent/subnet/allocate.ts";

function ipv4Range(json: string): FamilySubnets {
  const family = checkNetConf(parseNetConf(json)).ipv4;
  assert.ok(family.enabled, "IPv4 must be enabled in the test config");
  return family;
}

function ipv6Range(json: string): FamilySubnets {
  const family = checkNetConf(parseNetConf(json)).ipv6;
  assert.ok(family.enabled, "IPv6 must be enabled in the test config");
  return family;
}

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(parsed !== undefined, `bad test CIDR ${text}`);
  return parsed;
}

function cidrs(...texts: string[]): Cidr[] {
  return texts.map(cidr);
}

/** The chosen subnet as text ("none" when undefined), for readable comparisons. */
function choose(range: FamilySubnets, taken: readonly Cidr[], random: number | (() => number)): string {
  const chosen = chooseFreeSubnet(range, taken, typeof random === "number" ? () => random : random);
  return chosen === undefined ? "none" : formatCidr(chosen);
}

/** A small deterministic generator (LCG), so random-driven tests repeat exactly. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const slash16 = ipv4Range('{"Network":"10.5.0.0/16"}'); //                      /24s, 10.5.1.0 … 10.5.255.0
const udpExample = ipv4Range('{"Network":"10.0.0.0/8","SubnetLen":20,"SubnetMin":"10.10.0.0","SubnetMax":"10.99.0.0"}');
const slash8 = ipv4Range('{"Network":"10.0.0.0/8"}'); //                         /24s, 10.0.1.0 … 10.255.255.0
const tiny = ipv4Range('{"Network":"10.5.0.0/28"}'); //                          /30s, 10.5.0.4 … 10.5.0.12
const v6Slash48 = ipv6Range('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48"}'); // /64s, fc00:0:0:1:: … fc00:0:0:ffff::

describe("isSubnetCompatible matches Flannel's isSubnetConfigCompat", () => {
  const cases: Array<{ range: FamilySubnets; rangeName: string; subnet: string; compatible: boolean; why: string }> = [
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.5.1.0/24", compatible: true, why: "SubnetMin itself" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.5.255.0/24", compatible: true, why: "SubnetMax itself" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.5.77.0/24", compatible: true, why: "inside the range" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.5.0.0/24", compatible: false, why: "the skipped first subnet is below SubnetMin" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.5.7.0/25", compatible: false, why: "prefix is not SubnetLen" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.5.8.0/23", compatible: false, why: "a shorter prefix in range is still wrong" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "10.6.0.0/24", compatible: false, why: "outside the network" },
    { range: slash16, rangeName: "10.5.0.0/16", subnet: "fd00::/24", compatible: false, why: "the other family" },
    { range: udpExample, rangeName: "udp example", subnet: "10.10.0.0/20", compatible: true, why: "explicit SubnetMin" },
    { range: udpExample, rangeName: "udp example", subnet: "10.99.0.0/20", compatible: true, why: "explicit SubnetMax" },
    { range: udpExample, rangeName: "udp example", subnet: "10.99.16.0/20", compatible: false, why: "one past SubnetMax" },
    { range: udpExample, rangeName: "udp example", subnet: "10.9.240.0/20", compatible: false, why: "one before SubnetMin" },
    { range: v6Slash48, rangeName: "fc00::/48", subnet: "fc00:0:0:1::/64", compatible: true, why: "IPv6 SubnetMin" },
    { range: v6Slash48, rangeName: "fc00::/48", subnet: "fc00:0:0:ffff::/64", compatible: true, why: "IPv6 SubnetMax" },
    { range: v6Slash48, rangeName: "fc00::/48", subnet: "fc00::/64", compatible: false, why: "IPv6 skipped first subnet" },
    { range: v6Slash48, rangeName: "fc00::/48", subnet: "fc00:0:0:1::/56", compatible: false, why: "IPv6 wrong prefix" },
    { range: v6Slash48, rangeName: "fc00::/48", subnet: "10.5.1.0/24", compatible: false, why: "IPv4 subnet for an IPv6 range" },
  ];
  for (const { range, rangeName, subnet, compatible, why } of cases) {
    test(`${subnet} in ${rangeName}: ${compatible} (${why})`, () => {
      assert.equal(isSubnetCompatible(cidr(subnet), range), compatible);
    });
  }
});

describe("chooseFreeSubnet allocates as Flannel's allocateSubnet", () => {
  const cases: Array<{ name: string; range: FamilySubnets; taken: Cidr[]; random: number; chosen: string }> = [
    { name: "random 0 takes SubnetMin, never the network's first subnet", range: slash16, taken: [], random: 0, chosen: "10.5.1.0/24" },
    { name: "random 0.999 takes the 100th free subnet", range: slash16, taken: [], random: 0.999, chosen: "10.5.100.0/24" },
    { name: "random 0.5 takes the 51st free subnet", range: slash16, taken: [], random: 0.5, chosen: "10.5.51.0/24" },
    { name: "a random() of exactly 1 still picks within the list", range: slash16, taken: [], random: 1, chosen: "10.5.100.0/24" },
    {
      name: "taken subnets are skipped when counting the first 100 free",
      range: slash16,
      taken: cidrs("10.5.2.0/24", "10.5.50.0/24"),
      random: 0.999,
      chosen: "10.5.102.0/24",
    },
    {
      name: "a taken bigger subnet covers every candidate inside it",
      range: slash16,
      taken: cidrs("10.5.0.0/20"),
      random: 0,
      chosen: "10.5.16.0/24",
    },
    {
      name: "a taken smaller subnet blocks the candidate around it",
      range: slash16,
      taken: cidrs("10.5.1.64/26"),
      random: 0,
      chosen: "10.5.2.0/24",
    },
    {
      name: "overlapping and unsorted taken subnets",
      range: slash16,
      taken: cidrs("10.5.3.0/24", "10.5.1.0/24", "10.5.0.0/23", "10.5.2.128/25"),
      random: 0,
      chosen: "10.5.4.0/24",
    },
    {
      name: "taken subnets outside the range or of the other family change nothing",
      range: slash16,
      taken: cidrs("10.5.0.0/24", "10.6.0.0/16", "fd00::/8", "0a05:100::/24"),
      random: 0,
      chosen: "10.5.1.0/24",
    },
    { name: "a taken supernet leaves nothing", range: slash16, taken: cidrs("10.4.0.0/15"), random: 0, chosen: "none" },
    {
      name: "never beyond an explicit SubnetMax, and aligned to SubnetLen",
      range: udpExample,
      taken: Array.from({ length: 89 }, (_, i) => cidr(`10.${10 + i}.0.0/16`)),
      random: 0.999,
      chosen: "10.99.0.0/20",
    },
    { name: "an explicit SubnetMin is where the walk starts", range: udpExample, taken: [], random: 0, chosen: "10.10.0.0/20" },
    { name: "a /28 network has three /30s: the last is SubnetMax", range: tiny, taken: [], random: 0.999, chosen: "10.5.0.12/30" },
    { name: "a /28 network with its three /30s leased is full", range: tiny, taken: cidrs("10.5.0.4/30", "10.5.0.8/30", "10.5.0.12/30"), random: 0, chosen: "none" },
    {
      name: "on a /8 the pick is still among the first 100 free /24s",
      range: slash8,
      taken: [],
      random: 0.99999,
      chosen: "10.0.100.0/24",
    },
    { name: "IPv6: random 0 takes IPv6SubnetMin", range: v6Slash48, taken: [], random: 0, chosen: "fc00:0:0:1::/64" },
    { name: "IPv6: random 0.999 takes the 100th free /64", range: v6Slash48, taken: [], random: 0.999, chosen: "fc00:0:0:64::/64" },
    { name: "IPv6: a taken /49 covers the lower half", range: v6Slash48, taken: cidrs("fc00::/49"), random: 0, chosen: "fc00:0:0:8000::/64" },
    { name: "IPv6: a taken /72 blocks its /64", range: v6Slash48, taken: cidrs("fc00:0:0:1:ab00::/72"), random: 0, chosen: "fc00:0:0:2::/64" },
    { name: "IPv6: the whole /48 taken leaves nothing", range: v6Slash48, taken: cidrs("fc00::/48"), random: 0, chosen: "none" },
  ];
  for (const { name, range, taken, random, chosen } of cases) {
    test(name, () => {
      assert.equal(choose(range, taken, random), chosen);
    });
  }

  test("every /24 of a /16 leased: nothing left", () => {
    const taken = Array.from({ length: 255 }, (_, i) => cidr(`10.5.${i + 1}.0/24`));
    assert.equal(choose(slash16, taken, 0), "none");
    assert.equal(choose(slash16, taken.slice(1), 0.999), "10.5.1.0/24", "the one freed subnet is the only choice");
  });

  test("random() is asked once when there is a choice and never when there is none", () => {
    let calls = 0;
    const counting = (): number => {
      calls++;
      return 0.25;
    };
    assert.equal(choose(slash16, [], counting), "10.5.26.0/24");
    assert.equal(calls, 1);
    assert.equal(choose(tiny, cidrs("10.5.0.0/28"), counting), "none");
    assert.equal(calls, 1);
  });

  test("across random leases and draws: always in range, aligned, free, and among the first 100 free", () => {
    const random = seeded(7);
    for (let round = 0; round < 200; round++) {
      const taken = Array.from({ length: Math.floor(random() * 300) }, () => {
        const prefix = 22 + Math.floor(random() * 7); // /22 … /28
        const offset = Math.floor(random() * 2 ** 16);
        return cidr(`10.5.${offset >> 8}.${offset & 0xff}/${prefix}`);
      });
      const chosen = chooseFreeSubnet(slash16, taken, random);
      // The reference answer, computed the slow way Flannel does it.
      const free: bigint[] = [];
      for (let a = slash16.subnetMin.value; a <= slash16.subnetMax.value && free.length < 100; a += 256n) {
        const overlaps = taken.some((t) => {
          const tLast = t.address + (1n << BigInt(32 - t.prefix)) - 1n;
          return t.address <= a + 255n && tLast >= a;
        });
        if (!overlaps) free.push(a);
      }
      if (free.length === 0) {
        assert.equal(chosen, undefined, `round ${round}`);
        continue;
      }
      assert.ok(chosen !== undefined, `round ${round}: nothing chosen though ${free.length} are free`);
      assert.equal(chosen.prefix, 24);
      assert.ok(free.includes(chosen.address), `round ${round}: ${formatCidr(chosen)} is not among the first 100 free`);
      assert.ok(isSubnetCompatible(chosen, slash16), `round ${round}: ${formatCidr(chosen)} outside the range`);
    }
  });

  test("stays quick on big ranges: a /48 of /64s, a /16 of /64s and a /8 of /24s with many leases", () => {
    // No timing assertion: these would take minutes if the walk did not stop after 100 free
    // candidates or compared every candidate with every lease.
    const v6Taken = Array.from({ length: 5000 }, (_, i) => cidr(`fc00:0:0:${(i + 1).toString(16)}::/64`));
    assert.equal(choose(v6Slash48, v6Taken, 0), "fc00:0:0:1389::/64");
    const v6Huge = ipv6Range('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/16"}');
    assert.equal(choose(v6Huge, [], 0.999), "fc00:0:0:64::/64");
    const v4Taken = Array.from({ length: 60000 }, (_, i) => cidr(`10.${(i + 1) >> 8}.${(i + 1) & 0xff}.0/24`));
    assert.equal(choose(slash8, v4Taken, 0), "10.234.97.0/24");
    assert.equal(choose(slash8, v4Taken, 0.999), "10.234.196.0/24");
  });
});

describe("outOfSubnetsError names the exhausted range", () => {
  test("IPv4", () => {
    const error = outOfSubnetsError(slash16);
    assert.ok(isFlannelError(error, "out-of-subnets"));
    assert.equal(error.message, "out of subnets: every /24 between 10.5.1.0 and 10.5.255.0 in 10.5.0.0/16 is leased");
    assert.deepEqual(error.details, { family: 4, network: "10.5.0.0/16", subnetLen: 24, subnetMin: "10.5.1.0", subnetMax: "10.5.255.0" });
  });

  test("IPv6", () => {
    const error = outOfSubnetsError(v6Slash48);
    assert.ok(isFlannelError(error, "out-of-subnets"));
    assert.equal(error.message, "out of subnets: every /64 between fc00:0:0:1:: and fc00:0:0:ffff:: in fc00::/48 is leased");
  });
});
