// nftables mode against a real kernel, inside test namespaces: the chains `nft list chain`
// shows are exactly Flannel's golden listing, one `nft -f` puts this agent's part back atomically
// and idempotently, a check (one `nft -a list table`) sees rules deleted by handle or a deleted
// table, and another network's rules in the same chains are never touched.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { createNftWriter, deleteNftTables, probeNftRandomFully } from "../../../../backends/kernel/rules/nft-mode.ts";
import type { FamilyRules } from "../../../../backends/kernel/rules/rule-set.ts";
import { createNamespace, type Namespace } from "../../../support/netns.ts";
import { needsRoot } from "../../../support/root.ts";
import { cidr, inNs, namespaceRunner, snapshotRootFirewall, v4, v6, type RootFirewall } from "./firewall-fixture.ts";

const signal = new AbortController().signal;
const both = { masquerade: true, forward: true, randomFully: true } as const;

async function applyOnce(ns: Namespace, rules: FamilyRules) {
  const { runner, calls } = namespaceRunner(ns);
  const writer = createNftWriter({ runner, rules });
  const found = await writer.check(signal);
  await found.repair(signal);
  return { found, calls, writer };
}

/** F:e2e/rules.go expectedNftPostrouting / expectedNftForward for P = 10.244.1.0/24. */
const goldenPostrtg = [
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
].join("\n");
const goldenForward = [
  "table ip flannel-ipv4 {",
  "\tchain forward {",
  '\t\tcomment "chain to accept flannel traffic"',
  "\t\ttype filter hook forward priority filter; policy accept;",
  "\t\tip saddr 10.244.0.0/16 accept",
  "\t\tip daddr 10.244.0.0/16 accept",
  "\t}",
  "}",
].join("\n");

describe("nftables mode in a namespace", { skip: needsRoot }, () => {
  let root: RootFirewall;
  let ns: Namespace;
  before(async () => {
    root = await snapshotRootFirewall();
  });
  beforeEach(async () => {
    ns = await createNamespace("nft");
  });
  afterEach(async () => {
    await ns.remove();
  });
  after(async () => {
    await root.assertUnchanged();
  });

  test("applies Flannel's chains exactly as the golden `nft list chain` output", async () => {
    const { found } = await applyOnce(ns, { ...v4, ...both });
    assert.deepEqual(found.differences, ["missing table ip flannel-ipv4"]);
    assert.equal((await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "postrtg")).trimEnd(), goldenPostrtg);
    assert.equal((await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "forward")).trimEnd(), goldenForward);
    assert.ok((await inNs(ns, "nft", "list", "table", "ip", "flannel-ipv4")).includes('\tcomment "rules for flannel-ipv4"\n'));
  });

  test("re-applied 10 times, leaves one table with the same rules (flush and add in one transaction)", async () => {
    await applyOnce(ns, { ...v4, ...both });
    const first = await inNs(ns, "nft", "list", "ruleset");
    for (let i = 0; i < 10; i++) await applyOnce(ns, { ...v4, ...both });
    assert.equal(await inNs(ns, "nft", "list", "ruleset"), first);
    assert.equal((await inNs(ns, "nft", "list", "tables")).trim(), "table ip flannel-ipv4");
  });

  test("reads the kernel with one `nft list table` and repairs with one `nft -f -`", async () => {
    const { calls } = await applyOnce(ns, { ...v4, ...both });
    assert.deepEqual(calls, [
      ["nft", "-a", "list", "table", "ip", "flannel-ipv4"],
      ["nft", "-f", "-"],
    ]);
    const again = await applyOnce(ns, { ...v4, ...both });
    assert.deepEqual(again.calls, [["nft", "-a", "list", "table", "ip", "flannel-ipv4"]], "in sync: a read and no write");
  });

  test("finds a rule deleted by handle and a deleted table; leaves a rule added by hand", async () => {
    const rules = { ...v4, ...both };
    const { writer } = await applyOnce(ns, rules);
    assert.deepEqual((await writer.check(signal)).differences, []);

    const listing = await inNs(ns, "nft", "-a", "list", "chain", "ip", "flannel-ipv4", "postrtg");
    const handle = /ip saddr 10\.244\.0\.0\/16 ip daddr 10\.244\.1\.0\/24 return # handle (\d+)/.exec(listing)?.[1];
    assert.ok(handle !== undefined, listing);
    await inNs(ns, "nft", "delete", "rule", "ip", "flannel-ipv4", "postrtg", "handle", handle);
    await inNs(ns, "nft", "add", "rule", "ip", "flannel-ipv4", "forward", "ip", "saddr", "192.0.2.0/24", "drop");
    const drift = await writer.check(signal);
    assert.deepEqual(drift.differences, [
      "missing in table ip flannel-ipv4: postrtg: ip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return",
    ]);
    await drift.repair(signal);
    assert.deepEqual((await writer.check(signal)).differences, []);
    assert.ok((await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "forward")).includes("ip saddr 192.0.2.0/24 drop"), "not ours: kept");

    await inNs(ns, "nft", "delete", "table", "ip", "flannel-ipv4");
    const gone = await writer.check(signal);
    assert.deepEqual(gone.differences, ["missing table ip flannel-ipv4"]);
    await gone.repair(signal);
    assert.equal((await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "postrtg")).trimEnd(), goldenPostrtg);
  });

  test("two networks share the chains; each agent repairs only its own rules (Flannel flushes the chain instead)", async () => {
    // What we copy from Flannel (F:pkg/trafficmngr/nftables/nftables.go): one table per family
    // shared by every flanneld of the node, the same chains, headers and rule text. What we do not:
    // Flannel flushes the chain on start, so the network started last wipes the other's rules.
    const second = { family: 4, network: cidr("10.245.0.0/16"), subnet: cidr("10.245.3.0/24"), ...both } as const;
    const a = await applyOnce(ns, { ...v4, ...both });
    const b = await applyOnce(ns, second);
    assert.deepEqual((await a.writer.check(signal)).differences, [], "the second network left the first's rules alone");
    assert.deepEqual((await b.writer.check(signal)).differences, []);
    const postrtg = await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "postrtg");
    assert.equal(postrtg.split("meta mark 0x00004000 return").length - 1, 1, "one shared mark rule");
    assert.equal(postrtg.split("\n").filter((line) => line.includes("10.245.")).length, 5);
    assert.equal(postrtg.split("\n").filter((line) => line.includes("10.244.")).length, 5);
    // Delete one rule of the second network: the first agent's repair does not put it back.
    const handle = /ip saddr 10\.245\.0\.0\/16 ip daddr 10\.245\.3\.0\/24 return # handle (\d+)/.exec(
      await inNs(ns, "nft", "-a", "list", "chain", "ip", "flannel-ipv4", "postrtg"),
    )?.[1];
    assert.ok(handle !== undefined);
    await inNs(ns, "nft", "delete", "rule", "ip", "flannel-ipv4", "postrtg", "handle", handle);
    const first = await a.writer.check(signal);
    assert.deepEqual(first.differences, []);
    await first.repair(signal, true);
    assert.ok(!(await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "postrtg")).includes("ip saddr 10.245.0.0/16 ip daddr 10.245.3.0/24 return"));
    const own = await b.writer.check(signal);
    assert.deepEqual(own.differences, ["missing in table ip flannel-ipv4: postrtg: ip saddr 10.245.0.0/16 ip daddr 10.245.3.0/24 return"]);
    await own.repair(signal);
    assert.deepEqual((await a.writer.check(signal)).differences, []);
    assert.deepEqual((await b.writer.check(signal)).differences, []);
  });

  test("applies the IPv6 table `ip6 flannel-ipv6`", async () => {
    await applyOnce(ns, { ...v6, ...both });
    const postrtg = await inNs(ns, "nft", "list", "chain", "ip6", "flannel-ipv6", "postrtg");
    assert.ok(postrtg.includes("\t\tip6 saddr fd00:10:244:1::/64 ip6 daddr fd00:10:244::/56 return\n"));
    assert.ok(postrtg.includes("\t\tip6 saddr fd00:10:244::/56 ip6 daddr != ff00::/8 masquerade fully-random\n"));
    assert.equal((await inNs(ns, "nft", "list", "tables")).trim(), "table ip6 flannel-ipv6");
  });

  test("probes `masquerade fully-random` with nft --check and commits nothing", async () => {
    assert.equal(await probeNftRandomFully(namespaceRunner(ns).runner, signal), true);
    assert.equal((await inNs(ns, "nft", "list", "ruleset")).trim(), "");
  });

  test("deletes only Flannel's tables when cleaning up for iptables mode", async () => {
    await applyOnce(ns, { ...v4, ...both });
    await applyOnce(ns, { ...v6, ...both });
    await inNs(ns, "nft", "add", "table", "ip", "someone-else");
    const { runner } = namespaceRunner(ns);
    assert.deepEqual(await deleteNftTables(runner, signal), ["ip flannel-ipv4", "ip6 flannel-ipv6"]);
    assert.equal((await inNs(ns, "nft", "list", "tables")).trim(), "table ip someone-else");
    assert.deepEqual(await deleteNftTables(runner, signal), [], "nothing left to delete");
  });
});
