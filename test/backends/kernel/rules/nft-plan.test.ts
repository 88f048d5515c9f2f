// nftables mode as pure functions: `nft -a list table` parsed into chains and handles, drift
// counted only on this agent's rules (those naming its N or P) and the shared header and head rule,
// and a repair transaction that deletes by handle only what is ours — never another network's rule.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildNftRepairScript, findNftDrift, ownsNftRule, parseNftListing, staleNftRules } from "../../../../backends/kernel/rules/nft-plan.ts";
import { buildNftChains } from "../../../../backends/kernel/rules/nft-rules.ts";
import { cidr, v4 } from "./firewall-fixture.ts";

const options = { masquerade: true, forward: true, randomFully: true } as const;
const ours = buildNftChains({ ...v4, ...options });
const theirs = buildNftChains({ family: 4, network: cidr("10.245.0.0/16"), subnet: cidr("10.245.3.0/24"), ...options });
const table = "ip flannel-ipv4";
const comment = "rules for flannel-ipv4";
const none = { force: false, stale: [] } as const;

/** What `nft -a list table` prints, handles numbered from 10 in order. */
function listing(chains: ReadonlyArray<{ name: string; header: readonly string[]; rules: readonly string[] }>, extra = ""): string {
  let handle = 10;
  const blocks = chains.map((chain) =>
    [`\tchain ${chain.name} { # handle ${handle++}`, ...chain.header.map((l) => `\t\t${l}`), ...chain.rules.map((l) => `\t\t${l} # handle ${handle++}`), "\t}"].join("\n"),
  );
  return [`table ip flannel-ipv4 { # handle 1`, `\tcomment "${comment}"`, extra, blocks.join("\n\n"), "}", ""].filter((l) => l !== "").join("\n");
}

const [postrtg, forward] = ours as [(typeof ours)[0], (typeof ours)[0]];
const [theirPostrtg, theirForward] = theirs as [(typeof ours)[0], (typeof ours)[0]];
const both = listing([
  { name: "postrtg", header: postrtg.header, rules: [...postrtg.head, ...theirPostrtg.rules, ...postrtg.rules] },
  { name: "forward", header: forward.header, rules: [...theirForward.rules, ...forward.rules] },
]);

describe("parseNftListing", () => {
  test("reads each chain's header and rules with their handles, skipping sets", () => {
    const text = listing(
      [{ name: "forward", header: forward.header, rules: forward.rules }],
      '\tset allowed { # handle 3\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2,\n\t\t\t     10.0.0.3 }\n\t}',
    );
    const parsed = parseNftListing(text);
    assert.deepEqual([...parsed.keys()], ["forward"]);
    assert.deepEqual(parsed.get("forward"), {
      header: forward.header,
      rules: [
        { text: "ip saddr 10.244.0.0/16 accept", handle: 11 },
        { text: "ip daddr 10.244.0.0/16 accept", handle: 12 },
      ],
    });
  });
});

describe("ownsNftRule", () => {
  test("owns rules naming N or P as a whole word; the mark rule and other networks' are not ours", () => {
    for (const text of postrtg.rules) assert.ok(ownsNftRule(postrtg, { text, handle: 1 }), text);
    for (const text of [...postrtg.head, ...theirPostrtg.rules, "ip saddr 110.244.0.0/16 return"]) {
      assert.ok(!ownsNftRule(postrtg, { text, handle: 1 }), text);
    }
  });
});

describe("findNftDrift", () => {
  test("finds nothing with two networks' rules interleaved in the shared chains", () => {
    assert.deepEqual(findNftDrift(table, ours, parseNftListing(both)), []);
    assert.deepEqual(findNftDrift(table, theirs, parseNftListing(both)), []);
  });

  test("names a missing table, a missing chain, a rule of ours gone and a misplaced mark rule", () => {
    assert.deepEqual(findNftDrift(table, ours, undefined), ["missing table ip flannel-ipv4"]);
    const text = listing([{ name: "postrtg", header: postrtg.header, rules: [...theirPostrtg.rules, ...postrtg.head, ...postrtg.rules.slice(1)] }]);
    assert.deepEqual(findNftDrift(table, ours, parseNftListing(text)), [
      "not at the head of table ip flannel-ipv4: postrtg: meta mark 0x00004000 return",
      `missing in table ip flannel-ipv4: postrtg: ${postrtg.rules[0]}`,
      "missing chain forward in table ip flannel-ipv4",
    ]);
  });
});

describe("buildNftRepairScript", () => {
  test("writes nothing when our part is in place", () => {
    assert.equal(buildNftRepairScript(table, comment, ours, parseNftListing(both), none), undefined);
  });

  test("creates the table and chains on an empty node, head inserted and own rules added", () => {
    assert.equal(
      buildNftRepairScript(table, comment, ours, undefined, none),
      [
        `add table ip flannel-ipv4 { comment "rules for flannel-ipv4"; }`,
        `add chain ip flannel-ipv4 postrtg { comment "chain to manage traffic masquerading by flannel"; type nat hook postrouting priority srcnat; policy accept; }`,
        "insert rule ip flannel-ipv4 postrtg meta mark 0x00004000 return",
        ...postrtg.rules.map((rule) => `add rule ip flannel-ipv4 postrtg ${rule}`),
        `add chain ip flannel-ipv4 forward { comment "chain to accept flannel traffic"; type filter hook forward priority filter; policy accept; }`,
        ...forward.rules.map((rule) => `add rule ip flannel-ipv4 forward ${rule}`),
        "",
      ].join("\n"),
    );
  });

  test("deletes by handle only our rules and re-adds them, when one of ours is gone", () => {
    const text = listing([
      { name: "postrtg", header: postrtg.header, rules: [...postrtg.head, ...theirPostrtg.rules, ...postrtg.rules] },
      { name: "forward", header: forward.header, rules: [...theirForward.rules, forward.rules[0]!] },
    ]);
    // Handles: postrtg 10, its rules 11–21; forward 22, their two rules 23, 24, ours 25.
    assert.equal(
      buildNftRepairScript(table, comment, ours, parseNftListing(text), none),
      [
        `add table ip flannel-ipv4 { comment "rules for flannel-ipv4"; }`,
        "delete rule ip flannel-ipv4 forward handle 25",
        ...forward.rules.map((rule) => `add rule ip flannel-ipv4 forward ${rule}`),
        "",
      ].join("\n"),
    );
  });

  test("remakes a chain whose hook was changed, putting the other network's rules back", () => {
    const text = listing([
      { name: "postrtg", header: [postrtg.header[0]!, "type nat hook output priority srcnat; policy accept;"], rules: [...postrtg.head, ...theirPostrtg.rules] },
      { name: "forward", header: forward.header, rules: forward.rules },
    ]);
    const script = buildNftRepairScript(table, comment, ours, parseNftListing(text), none)!.split("\n");
    assert.deepEqual(script.slice(1, 4), ["flush chain ip flannel-ipv4 postrtg", "delete chain ip flannel-ipv4 postrtg", script[3]]);
    assert.ok(script[3]!.includes("hook postrouting"));
    assert.deepEqual(script.slice(4, 9), theirPostrtg.rules.map((rule) => `add rule ip flannel-ipv4 postrtg ${rule}`));
    assert.equal(script[9], "insert rule ip flannel-ipv4 postrtg meta mark 0x00004000 return");
  });

  test("at start (force) re-adds our rules and deletes the previous subnet.env's", () => {
    const previous = buildNftChains({ ...v4, subnet: cidr("10.244.9.0/24"), ...options });
    const stale = staleNftRules(previous, ours);
    assert.equal(stale.length, 3, "the three rules naming the old P");
    const text = listing([{ name: "postrtg", header: postrtg.header, rules: [...postrtg.head, ...previous[0]!.rules] }, { name: "forward", header: forward.header, rules: forward.rules }]);
    const script = buildNftRepairScript(table, comment, ours, parseNftListing(text), { force: true, stale })!;
    // The previous rules naming N are ours anyway; all five go, the mark rule stays.
    assert.equal(script.split("\n").filter((line) => line.startsWith("delete rule ip flannel-ipv4 postrtg")).length, 5);
    assert.ok(!script.includes("handle 11\n"), "the mark rule (handle 11) is kept");
    assert.equal(script.split("\n").filter((line) => line.startsWith("add rule ip flannel-ipv4 forward")).length, 2);
  });
});
