// The pure rule builders against Flannel's golden rules (F:e2e/rules.go; reference §8.1, §8.2,
// §8.4) for N=10.244.0.0/16, P=10.244.1.0/24, and the same template for an IPv6 pair.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  buildForwardRules,
  buildIptablesChains,
  buildMasqueradeRules,
  iptablesCommand,
  listChainRules,
} from "../../../../backends/kernel/rules/iptables-rules.ts";
import {
  buildNftChains,
  buildNftForwardChain,
  buildNftMasqueradeChain,
  renderNftTable,
} from "../../../../backends/kernel/rules/nft-rules.ts";
import { diffRuleLines } from "../../../../backends/kernel/rules/rule-set.ts";
import { v4, v6 } from "./firewall-fixture.ts";

describe("iptables rule builders", () => {
  test("build Flannel's exact masquerade rules (§8.1) with --random-fully", () => {
    assert.deepEqual(listChainRules(buildMasqueradeRules(4, v4.network, v4.subnet, { randomFully: true })), [
      `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
    ]);
  });

  test("leave --random-fully out when it is unsupported or disabled", () => {
    const rules = buildMasqueradeRules(4, v4.network, v4.subnet, { randomFully: false }).rules;
    assert.equal(rules[3], `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE`);
    assert.equal(rules[4], `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE`);
  });

  test("split the shared rules (jump, kube-proxy mark) from the network's own, which all name N or P", () => {
    const chain = buildMasqueradeRules(4, v4.network, v4.subnet, { randomFully: true });
    assert.deepEqual(chain.head, [`-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`]);
    assert.deepEqual(chain.ownCidrs, ["10.244.0.0/16", "10.244.1.0/24"]);
    assert.ok(chain.rules.every((line) => line.includes("10.244.0.0/16") || line.includes("10.244.1.0/24")));
    assert.ok([chain.jump, ...chain.head].every((line) => !line.includes("10.244.")));
  });

  test("build the IPv6 masquerade rules from the same template, with ff00::/8 as multicast", () => {
    const chain = buildMasqueradeRules(6, v6.network, v6.subnet, { randomFully: true });
    assert.equal(chain.table, "nat");
    assert.deepEqual(listChainRules(chain), [
      `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244:1::/64 -d fd00:10:244::/56 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244::/56 -d fd00:10:244:1::/64 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s fd00:10:244::/56 -d fd00:10:244:1::/64 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s fd00:10:244::/56 -d fd00:10:244::/56 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
    ]);
  });

  test("build Flannel's exact forward rules (§8.2) in table filter", () => {
    const chain = buildForwardRules(4, v4.network);
    assert.equal(chain.table, "filter");
    assert.deepEqual(listChainRules(chain), [
      `-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
      `-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
      `-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
    ]);
    assert.deepEqual(buildForwardRules(6, v6.network).rules, [
      `-A FLANNEL-FWD -s fd00:10:244::/56 -m comment --comment "flanneld forward" -j ACCEPT`,
      `-A FLANNEL-FWD -d fd00:10:244::/56 -m comment --comment "flanneld forward" -j ACCEPT`,
    ]);
  });

  test("include only the groups the flags ask for (--ip-masq, --iptables-forward-rules)", () => {
    const base = { ...v4, randomFully: true };
    assert.deepEqual(buildIptablesChains({ ...base, masquerade: false, forward: true }).map((c) => c.chain), ["FLANNEL-FWD"]);
    assert.deepEqual(buildIptablesChains({ ...base, masquerade: true, forward: true }).map((c) => c.chain), [
      "FLANNEL-POSTRTG",
      "FLANNEL-FWD",
    ]);
    assert.deepEqual(buildIptablesChains({ ...base, masquerade: false, forward: false }), []);
  });

  test("reject a CIDR of the other family", () => {
    assert.throws(() => buildMasqueradeRules(4, v6.network, v4.subnet, { randomFully: true }), TypeError);
    assert.throws(() => buildForwardRules(6, v4.network), TypeError);
  });

  test("name the per-family tools", () => {
    assert.equal(iptablesCommand(4, "-restore"), "iptables-restore");
    assert.equal(iptablesCommand(6, "-save"), "ip6tables-save");
    assert.equal(iptablesCommand(6), "ip6tables");
  });
});

describe("nftables table builders", () => {
  test("render Flannel's postrtg chain exactly as the golden `nft list chain` (§8.4)", () => {
    const chain = buildNftMasqueradeChain(4, v4.network, v4.subnet, { randomFully: true });
    // F:e2e/rules.go lists `nft list chain ip flannel-ipv4 postrtg`: the table without its comment.
    const listing = renderNftTable(4, [chain]).replace(`\tcomment "rules for flannel-ipv4"\n`, "");
    assert.equal(
      listing,
      [
        "table ip flannel-ipv4 {",
        "\tchain postrtg {",
        '\t\tcomment "chain to manage traffic masquerading by flannel"',
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        "\t\tmeta mark 0x00004000 return",
        "\t\tip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return",
        "\t\tip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return",
        "\t\tip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return",
        "\t\tip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random",
        "\t\tip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random",
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
  });

  test("keep nftables' differences from iptables: exact mark, and `saddr != P daddr N`", () => {
    const chain = buildNftMasqueradeChain(4, v4.network, v4.subnet, { randomFully: false });
    assert.deepEqual(chain.head, ["meta mark 0x00004000 return"]);
    assert.equal(chain.rules[2], "ip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return");
    assert.equal(chain.rules[3], "ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade");
  });

  test("render the whole table with its comment and both chains, as `nft list table` prints it", () => {
    const chains = buildNftChains({ ...v4, masquerade: true, forward: true, randomFully: true });
    const text = renderNftTable(4, chains);
    assert.ok(text.startsWith('table ip flannel-ipv4 {\n\tcomment "rules for flannel-ipv4"\n\tchain postrtg {\n'));
    assert.ok(
      text.endsWith(
        [
          "\t}",
          "",
          "\tchain forward {",
          '\t\tcomment "chain to accept flannel traffic"',
          "\t\ttype filter hook forward priority filter; policy accept;",
          "\t\tip saddr 10.244.0.0/16 accept",
          "\t\tip daddr 10.244.0.0/16 accept",
          "\t}",
          "}",
          "",
        ].join("\n"),
      ),
    );
  });

  test("render the IPv6 table `ip6 flannel-ipv6` with ip6 matches and ff00::/8", () => {
    const chains = [
      buildNftMasqueradeChain(6, v6.network, v6.subnet, { randomFully: true }),
      buildNftForwardChain(6, v6.network),
    ];
    const text = renderNftTable(6, chains);
    assert.ok(text.startsWith('table ip6 flannel-ipv6 {\n\tcomment "rules for flannel-ipv6"\n'));
    assert.ok(text.includes("\t\tip6 saddr != fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return\n"));
    assert.ok(text.includes("\t\tip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random\n"));
    assert.ok(text.includes("\t\tip6 daddr fd00:10:244::/56 accept\n"));
  });

});

describe("diffRuleLines", () => {
  test("names missing and unexpected lines, counting duplicates", () => {
    assert.deepEqual(diffRuleLines(["a", "b"], ["a", "a", "c"], "t"), ["missing in t: b", "unexpected in t: a", "unexpected in t: c"]);
  });

  test("reports a different order when the same lines are there", () => {
    assert.deepEqual(diffRuleLines(["a", "b"], ["b", "a"], "t"), ["out of order in t"]);
    assert.deepEqual(diffRuleLines(["a", "b"], ["a", "b"], "t"), []);
  });
});
