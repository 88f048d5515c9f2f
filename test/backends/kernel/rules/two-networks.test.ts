// Several networks on one node (issue 12): one RuleKeeper per network in the same namespace, as
// several flanneld with their own --etcd-prefix, --subnet-file and VNI would run, next to rules
// Flannel's own agent wrote for a third network (an in-place migration). Each keeper owns only its
// rules: both sets stay complete and exact through several resyncs, a keeper puts back its own
// rule deleted by hand but never the other network's, and Flannel's rules survive — in iptables
// and in nftables mode. The root namespace's firewall is never touched.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { startRuleKeeper, type RepairReport, type RuleKeeper } from "../../../../backends/kernel/rules/rule-keeper.ts";
import type { RulesMode } from "../../../../backends/kernel/rules/rule-set.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";
import { createNamespace, type Namespace } from "../../../support/netns.ts";
import { needsRoot } from "../../../support/root.ts";
import { cidr, eventually, inNs, namespaceRunner, snapshotRootFirewall, type RootFirewall } from "./firewall-fixture.ts";

const resyncMs = 100;
const networkA = { family: 4, network: cidr("10.244.0.0/16"), subnet: cidr("10.244.1.0/24"), n: "10.244.0.0/16", p: "10.244.1.0/24" } as const;
const networkB = { family: 4, network: cidr("10.245.0.0/16"), subnet: cidr("10.245.1.0/24"), n: "10.245.0.0/16", p: "10.245.1.0/24" } as const;
/** The network whose rules Flannel's own agent wrote (in iptables mode: --random-fully as here). */
const networkC = { n: "10.246.0.0/16", p: "10.246.1.0/24" } as const;
type Network = { readonly n: string; readonly p: string };

// Flannel's rule text (F:e2e/rules.go, reference §8.1, §8.2, §8.4), written out here rather than
// taken from the builders under test.
const mc = '-m comment --comment "flanneld masq"';
const fc = '-m comment --comment "flanneld forward"';
const masqJump = `-A POSTROUTING ${mc} -j FLANNEL-POSTRTG`;
const forwardJump = `-A FORWARD ${fc} -j FLANNEL-FWD`;
const masqMark = `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${mc} -j RETURN`;
const masq = ({ n, p }: Network) => [
  `-A FLANNEL-POSTRTG -s ${p} -d ${n} ${mc} -j RETURN`,
  `-A FLANNEL-POSTRTG -s ${n} -d ${p} ${mc} -j RETURN`,
  `-A FLANNEL-POSTRTG ! -s ${n} -d ${p} ${mc} -j RETURN`,
  `-A FLANNEL-POSTRTG -s ${n} ! -d 224.0.0.0/4 ${mc} -j MASQUERADE --random-fully`,
  `-A FLANNEL-POSTRTG ! -s ${n} -d ${n} ${mc} -j MASQUERADE --random-fully`,
];
const fwd = ({ n }: Network) => [`-A FLANNEL-FWD -s ${n} ${fc} -j ACCEPT`, `-A FLANNEL-FWD -d ${n} ${fc} -j ACCEPT`];
const nftMark = "meta mark 0x00004000 return";
const nftPostrtg = ({ n, p }: Network) => [
  `ip saddr ${p} ip daddr ${n} return`,
  `ip saddr ${n} ip daddr ${p} return`,
  `ip saddr != ${p} ip daddr ${n} return`,
  `ip saddr ${n} ip daddr != 224.0.0.0/4 masquerade fully-random`,
  `ip saddr != ${n} ip daddr ${n} masquerade fully-random`,
];
const nftForward = ({ n }: Network) => [`ip saddr ${n} accept`, `ip daddr ${n} accept`];

interface Keeper {
  readonly keeper: RuleKeeper;
  readonly repairs: RepairReport[];
}

async function startKeeper(ns: Namespace, mode: RulesMode, networks: typeof networkA | typeof networkB): Promise<Keeper> {
  const { family, network, subnet } = networks;
  const repairs: RepairReport[] = [];
  const keeper = await startRuleKeeper(
    {
      runner: namespaceRunner(ns).runner,
      mode,
      families: [{ family, network, subnet }],
      masquerade: true,
      forward: true,
      randomFullyDisable: false,
      resyncMs,
      log: createMemoryLog(),
      onRepair: (report) => repairs.push(report),
    },
    new AbortController().signal,
  );
  return { keeper, repairs };
}

/** Waits until every keeper has run `count` more timer checks. */
async function resyncs(keepers: readonly Keeper[], count: number): Promise<void> {
  const targets = keepers.map(({ keeper }) => keeper.stats().checks + count);
  await eventually(async () => keepers.every(({ keeper }, i) => keeper.stats().checks >= targets[i]!), 20 * count * resyncMs + 5000, `${count} resyncs`);
}

/** Flannel's bootstrap for network C, as its Go agent writes it: rules appended with iptables-restore --noflush. */
async function flannelWritesIptables(ns: Namespace): Promise<void> {
  const payload = ["*nat", ":FLANNEL-POSTRTG - [0:0]", masqJump, masqMark, ...masq(networkC), "COMMIT", "*filter", ":FLANNEL-FWD - [0:0]", forwardJump, ...fwd(networkC), "COMMIT", ""];
  await ns.exec(["iptables-restore", "--noflush"], { input: payload.join("\n") });
}

async function chainRules(ns: Namespace, table: string, chain: string): Promise<string[]> {
  return (await inNs(ns, "iptables", "-t", table, "-S", chain)).split("\n").filter((line) => line.startsWith("-A "));
}

async function jumps(ns: Namespace, table: string, hook: string, chain: string): Promise<number> {
  return (await chainRules(ns, table, hook)).filter((line) => line.endsWith(`-j ${chain}`)).length;
}

/** Flannel's nftables transaction for network C (F:pkg/trafficmngr/nftables/nftables.go): chain added, flushed, rules added. */
async function flannelWritesNft(ns: Namespace): Promise<void> {
  const chains = [
    { name: "postrtg", spec: 'comment "chain to manage traffic masquerading by flannel"; type nat hook postrouting priority srcnat; policy accept;', rules: [nftMark, ...nftPostrtg(networkC)] },
    { name: "forward", spec: 'comment "chain to accept flannel traffic"; type filter hook forward priority filter; policy accept;', rules: nftForward(networkC) },
  ];
  const lines = ['add table ip flannel-ipv4 { comment "rules for flannel-ipv4"; }'];
  for (const chain of chains) {
    lines.push(`add chain ip flannel-ipv4 ${chain.name} { ${chain.spec} }`);
    lines.push(`flush chain ip flannel-ipv4 ${chain.name}`);
    for (const rule of chain.rules) lines.push(`add rule ip flannel-ipv4 ${chain.name} ${rule}`);
  }
  await ns.exec(["nft", "-f", "-"], { input: `${lines.join("\n")}\n` });
}

async function nftChainRules(ns: Namespace, chain: string): Promise<string[]> {
  const text = await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", chain);
  return text.split("\n").map((line) => line.trim()).filter((line) => / (return|accept|masquerade|masquerade fully-random|drop)$/.test(line));
}

describe("two networks on one node", { skip: needsRoot }, () => {
  let root: RootFirewall;
  let ns: Namespace;
  let keepers: Keeper[] = [];
  before(async () => {
    root = await snapshotRootFirewall();
  });
  beforeEach(async () => {
    ns = await createNamespace("two");
    keepers = [];
  });
  afterEach(async () => {
    for (const { keeper } of keepers) await keeper[Symbol.asyncDispose]();
    await ns.remove();
  });
  after(async () => {
    await root.assertUnchanged();
  });
  const track = (keeper: Keeper) => (keepers.push(keeper), keeper);

  test("iptables: both networks' rules and Flannel's stay complete and exact; each keeper repairs only its own", async () => {
    await flannelWritesIptables(ns);
    const a = track(await startKeeper(ns, "iptables", networkA));
    const b = track(await startKeeper(ns, "iptables", networkB));
    const [ma, mb, mcc] = [masq(networkA), masq(networkB), masq(networkC)];
    // Flannel's mark rule is the shared head; each network appended its own rules after the others'.
    const expectedNat = [masqMark, ...mcc, ...ma, ...mb];
    const expectedFilter = [...fwd(networkC), ...fwd(networkA), ...fwd(networkB)];
    for (let round = 0; round < 3; round++) {
      await resyncs([a, b], 2);
      assert.deepEqual(await chainRules(ns, "nat", "FLANNEL-POSTRTG"), expectedNat, `nat after ${2 * (round + 1)} resyncs`);
      assert.deepEqual(await chainRules(ns, "filter", "FLANNEL-FWD"), expectedFilter);
      assert.equal(await jumps(ns, "nat", "POSTROUTING", "FLANNEL-POSTRTG"), 1, "one shared jump");
      assert.equal(await jumps(ns, "filter", "FORWARD", "FLANNEL-FWD"), 1);
    }
    assert.deepEqual([a.repairs, b.repairs], [[], []], "two agents in the same chains never see each other's rules as drift");

    // B stops checking (its agent is down); one rule of each network is deleted by hand.
    await b.keeper.close();
    const deleted = [mb[0]!, ma[3]!, mb[4]!].map((line) => line.replace(/^-A /, "-D "));
    await ns.exec(["iptables-restore", "--noflush"], { input: ["*nat", ...deleted, "COMMIT", ""].join("\n") });
    await eventually(async () => a.repairs.length > 0, 10 * resyncMs + 2000, "A's repair");
    await resyncs([a], 3);
    assert.deepEqual(a.repairs.map((r) => r.families.flatMap((f) => f.differences)), [[`missing in nat FLANNEL-POSTRTG: ${ma[3]}`]]);
    const nat = await chainRules(ns, "nat", "FLANNEL-POSTRTG");
    assert.ok(nat.includes(ma[3]!), "A put its own rule back");
    assert.ok(!nat.includes(mb[0]!) && !nat.includes(mb[4]!), "A left B's deleted rules deleted");
    assert.deepEqual(nat.filter((line) => line.includes("10.246.")), mcc, "Flannel's rules are untouched");

    // B comes back (a restart): its rules are complete again, the others untouched.
    const b2 = track(await startKeeper(ns, "iptables", networkB));
    await resyncs([a, b2], 2);
    const after = await chainRules(ns, "nat", "FLANNEL-POSTRTG");
    assert.deepEqual(after.filter((line) => line.includes("10.245.")), mb);
    assert.deepEqual(after.filter((line) => line.includes("10.244.")), ma);
    assert.deepEqual(after.filter((line) => line.includes("10.246.")), mcc);
    assert.deepEqual(after[0], masqMark, "the shared mark rule still first, once");
    assert.equal(after.filter((line) => line === masqMark).length, 1);
  });

  for (const mode of ["iptables", "nftables"] as const) {
    test(`${mode}: two agents starting at the same moment both start and keep their rules (a lost race is read again)`, async () => {
      for (let round = 0; round < 3; round++) {
        const started = await Promise.all([startKeeper(ns, mode, networkA), startKeeper(ns, mode, networkB)]);
        keepers.push(...started);
        await resyncs(started, 2);
        const rules = mode === "iptables" ? await chainRules(ns, "nat", "FLANNEL-POSTRTG") : await nftChainRules(ns, "postrtg");
        const [ownA, ownB, mark] = mode === "iptables" ? [masq(networkA), masq(networkB), masqMark] : [nftPostrtg(networkA), nftPostrtg(networkB), nftMark];
        assert.equal(rules[0], mark, `round ${round}: the shared mark rule first`);
        assert.deepEqual([...rules].sort(), [mark, ...ownA, ...ownB].sort(), `round ${round}`);
        assert.deepEqual(rules.filter((line) => line.includes("10.244.")), ownA);
        assert.deepEqual(rules.filter((line) => line.includes("10.245.")), ownB);
        for (const { keeper } of started) await keeper.close();
      }
    });
  }

  test("nftables: the shared table keeps both networks' rules and Flannel's; each keeper repairs only its own", async () => {
    await flannelWritesNft(ns);
    const a = track(await startKeeper(ns, "nftables", networkA));
    const b = track(await startKeeper(ns, "nftables", networkB));
    const [pa, pb, pc] = [nftPostrtg(networkA), nftPostrtg(networkB), nftPostrtg(networkC)];
    const expectedPostrtg = [nftMark, ...pc, ...pa, ...pb];
    const expectedForward = [...nftForward(networkC), ...nftForward(networkA), ...nftForward(networkB)];
    for (let round = 0; round < 3; round++) {
      await resyncs([a, b], 2);
      assert.deepEqual(await nftChainRules(ns, "postrtg"), expectedPostrtg, `postrtg after ${2 * (round + 1)} resyncs`);
      assert.deepEqual(await nftChainRules(ns, "forward"), expectedForward);
    }
    assert.deepEqual([a.repairs, b.repairs], [[], []]);

    await b.keeper.close();
    const listing = await inNs(ns, "nft", "-a", "list", "chain", "ip", "flannel-ipv4", "postrtg");
    const handleOf = (rule: string) => new RegExp(`\\t${rule.replaceAll(".", "\\.").replaceAll("/", "\\/")} # handle (\\d+)`).exec(listing)?.[1];
    for (const rule of [pa[1]!, pb[1]!]) {
      const handle = handleOf(rule);
      assert.ok(handle !== undefined, rule);
      await inNs(ns, "nft", "delete", "rule", "ip", "flannel-ipv4", "postrtg", "handle", handle);
    }
    await eventually(async () => a.repairs.length > 0, 10 * resyncMs + 2000, "A's repair");
    await resyncs([a], 3);
    assert.deepEqual(a.repairs.map((r) => r.families.flatMap((f) => f.differences)), [[`missing in table ip flannel-ipv4: postrtg: ${pa[1]}`]]);
    const postrtg = await nftChainRules(ns, "postrtg");
    assert.ok(postrtg.includes(pa[1]!), "A put its own rule back");
    assert.ok(!postrtg.includes(pb[1]!), "A left B's deleted rule deleted");
    assert.deepEqual(postrtg.filter((line) => line.includes("10.246.")), pc, "Flannel's rules are untouched");
    assert.deepEqual(await nftChainRules(ns, "forward"), expectedForward);
  });
});
