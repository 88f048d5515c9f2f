// iptables mode against a real kernel, inside test namespaces: the rules `iptables -S` shows are
// exactly Flannel's, re-applying never duplicates, a check is one process and a repair one more,
// and the rules of a previous subnet.env go away. The root namespace's firewall is never touched.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { capabilitiesFromVersion, createIptablesWriter, detectIptablesCapabilities } from "../../../../backends/kernel/rules/iptables-mode.ts";
import { buildForwardRules, buildMasqueradeRules } from "../../../../backends/kernel/rules/iptables-rules.ts";
import type { FamilyRules } from "../../../../backends/kernel/rules/rule-set.ts";
import { createNamespace, type Namespace } from "../../../support/netns.ts";
import { needsRoot } from "../../../support/root.ts";
import {
  cidr,
  flannelIptablesListing,
  inNs,
  namespaceRunner,
  snapshotRootFirewall,
  v4,
  v6,
  type RootFirewall,
} from "./firewall-fixture.ts";

const signal = new AbortController().signal;
const both = { masquerade: true, forward: true, randomFully: true } as const;

/** What the keeper does at start: read, then Flannel's bootstrap (force: own rules re-appended). */
async function applyOnce(
  ns: Namespace,
  rules: FamilyRules,
  previous?: { network: ReturnType<typeof cidr>; subnet: ReturnType<typeof cidr> },
  force = true,
) {
  const { runner, calls } = namespaceRunner(ns);
  const writer = createIptablesWriter({ runner, rules, capabilities: { wait: true }, previous });
  const found = await writer.check(signal);
  await found.repair(signal, force);
  return { found, calls, writer };
}

describe("iptables version capabilities", () => {
  test("turn on --wait and --random-fully from iptables 1.6.2, as Flannel, and tell nf_tables from legacy", () => {
    assert.deepEqual(capabilitiesFromVersion("iptables v1.8.9 (nf_tables)\n"), { version: "1.8.9", wait: true, randomFully: true, nfTables: true });
    assert.deepEqual(capabilitiesFromVersion("iptables v1.8.9 (legacy)\n"), { version: "1.8.9", wait: true, randomFully: true, nfTables: false });
    assert.deepEqual(capabilitiesFromVersion("iptables v1.6.2"), { version: "1.6.2", wait: true, randomFully: true, nfTables: false });
    assert.deepEqual(capabilitiesFromVersion("iptables v1.6.1"), { version: "1.6.1", wait: false, randomFully: false, nfTables: false });
    assert.deepEqual(capabilitiesFromVersion("garbage"), { version: undefined, wait: false, randomFully: false, nfTables: false });
  });
});

describe("iptables mode in a namespace", { skip: needsRoot }, () => {
  let root: RootFirewall;
  let ns: Namespace;
  before(async () => {
    root = await snapshotRootFirewall();
  });
  beforeEach(async () => {
    ns = await createNamespace("ipt");
  });
  afterEach(async () => {
    await ns.remove();
  });
  after(async () => {
    await root.assertUnchanged();
  });

  test("detects this host's iptables (1.8.9: --wait and --random-fully)", async () => {
    const capabilities = await detectIptablesCapabilities(namespaceRunner(ns).runner, 4, signal);
    assert.equal(capabilities.wait, true);
    assert.equal(capabilities.randomFully, true);
  });

  test("applies exactly Flannel's nat and filter rules, as `iptables -S` lists them", async () => {
    const { found } = await applyOnce(ns, { ...v4, ...both });
    assert.ok(found.differences.length > 0, "a fresh namespace differs");
    assert.deepEqual(await flannelIptablesListing(ns, "iptables", "nat"), [
      `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
      "-N FLANNEL-POSTRTG",
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN`,
      `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
    ]);
    assert.deepEqual((await inNs(ns, "iptables", "-t", "filter", "-S", "FORWARD")).trim().split("\n"), [
      "-P FORWARD ACCEPT",
      `-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`,
    ]);
    assert.deepEqual((await inNs(ns, "iptables", "-t", "filter", "-S", "FLANNEL-FWD")).trim().split("\n"), [
      "-N FLANNEL-FWD",
      `-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
      `-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT`,
    ]);
  });

  test("re-applied 10 times, keeps one jump each and no duplicate rule, behind other rules (as Flannel)", async () => {
    await inNs(ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth9", "-j", "MASQUERADE");
    for (let i = 0; i < 10; i++) await applyOnce(ns, { ...v4, ...both });
    await inNs(ns, "iptables", "-t", "filter", "-A", "FORWARD", "-j", "DROP");
    await applyOnce(ns, { ...v4, ...both });
    const nat = (await inNs(ns, "iptables", "-t", "nat", "-S", "POSTROUTING")).trim().split("\n");
    assert.deepEqual(nat.slice(1), [
      "-A POSTROUTING -o eth9 -j MASQUERADE",
      `-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`,
    ]);
    const forward = (await inNs(ns, "iptables", "-t", "filter", "-S", "FORWARD")).trim().split("\n");
    // Flannel's bootstrap deletes and re-appends the jump, so it lands after the DROP added later.
    assert.deepEqual(forward.slice(1), ["-A FORWARD -j DROP", `-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`]);
    assert.equal((await inNs(ns, "iptables", "-t", "nat", "-S", "FLANNEL-POSTRTG")).trim().split("\n").length, 7);
    const writer = createIptablesWriter({ runner: namespaceRunner(ns).runner, rules: { ...v4, ...both }, capabilities: { wait: true } });
    assert.deepEqual((await writer.check(signal)).differences, []);
  });

  test("reads the kernel with one process and repairs with one more, never one per rule", async () => {
    const { calls } = await applyOnce(ns, { ...v4, ...both });
    assert.deepEqual(calls.map((argv) => argv[0]), ["iptables-save", "iptables-restore"]);
    assert.deepEqual(calls[1]?.slice(1), ["--noflush", "--wait=10"]);
    const inSync = await applyOnce(ns, { ...v4, ...both }, undefined, false);
    assert.deepEqual(inSync.calls, [["iptables-save"]], "in sync: one read, no write");
    const natOnly = await applyOnce(ns, { ...v4, masquerade: true, forward: false, randomFully: true });
    assert.deepEqual(natOnly.calls[0], ["iptables-save", "-t", "nat"]);
  });

  test("finds a deleted rule, a flushed chain and a deleted jump, and puts them back", async () => {
    const rules = { ...v4, ...both };
    await applyOnce(ns, rules);
    const masq = buildMasqueradeRules(4, v4.network, v4.subnet, { randomFully: true });
    const fwd = buildForwardRules(4, v4.network);
    await inNs(ns, "iptables", "-t", "nat", "-D", "FLANNEL-POSTRTG", "-s", "10.244.1.0/24", "-d", "10.244.0.0/16", "-m", "comment", "--comment", "flanneld masq", "-j", "RETURN");
    await inNs(ns, "iptables", "-t", "filter", "-F", "FLANNEL-FWD");
    await inNs(ns, "iptables", "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "flanneld masq", "-j", "FLANNEL-POSTRTG");
    const { found } = await applyOnce(ns, rules);
    assert.deepEqual(found.differences, [
      `missing in nat FLANNEL-POSTRTG: ${masq.rules[0]}`,
      `missing in nat POSTROUTING: ${masq.jump}`,
      `missing in filter FLANNEL-FWD: ${fwd.rules[0]}`,
      `missing in filter FLANNEL-FWD: ${fwd.rules[1]}`,
    ]);
    assert.deepEqual(await flannelIptablesListing(ns, "iptables", "nat"), [masq.jump, "-N FLANNEL-POSTRTG", ...masq.head, ...masq.rules]);
    assert.deepEqual(await flannelIptablesListing(ns, "iptables", "filter"), [fwd.jump, "-N FLANNEL-FWD", ...fwd.rules]);
  });

  test("removes the rules built from a previous subnet.env's network and subnet", async () => {
    const previous = { network: cidr("10.200.0.0/16"), subnet: cidr("10.200.7.0/24") };
    await applyOnce(ns, { ...v4, ...previous, ...both });
    const { found } = await applyOnce(ns, { ...v4, ...both }, previous);
    assert.equal(found.stale.length, 5 + 2, "five masquerade rules and two forward rules name 10.200.x");
    const everything = await inNs(ns, "iptables-save");
    assert.ok(!everything.includes("10.200."), "no rule of the previous subnet is left");
    const masq = buildMasqueradeRules(4, v4.network, v4.subnet, { randomFully: true });
    assert.deepEqual(await flannelIptablesListing(ns, "iptables", "nat"), [masq.jump, "-N FLANNEL-POSTRTG", ...masq.head, ...masq.rules]);
  });

  test("applies Flannel's IPv6 rules with ip6tables, leaving IPv4 alone", async () => {
    const { calls } = await applyOnce(ns, { ...v6, ...both });
    assert.deepEqual(calls.map((argv) => argv[0]), ["ip6tables-save", "ip6tables-restore"]);
    const masq = buildMasqueradeRules(6, v6.network, v6.subnet, { randomFully: true });
    const fwd = buildForwardRules(6, v6.network);
    assert.deepEqual(await flannelIptablesListing(ns, "ip6tables", "nat"), [masq.jump, "-N FLANNEL-POSTRTG", ...masq.head, ...masq.rules]);
    assert.deepEqual(await flannelIptablesListing(ns, "ip6tables", "filter"), [fwd.jump, "-N FLANNEL-FWD", ...fwd.rules]);
    assert.ok(!(await inNs(ns, "iptables-save")).includes("FLANNEL"));
  });

  test("leaves --random-fully out when disabled", async () => {
    await applyOnce(ns, { ...v4, ...both, randomFully: false });
    const chain = await inNs(ns, "iptables", "-t", "nat", "-S", "FLANNEL-POSTRTG");
    assert.ok(chain.includes("-j MASQUERADE\n"));
    assert.ok(!chain.includes("--random-fully"));
  });
});
