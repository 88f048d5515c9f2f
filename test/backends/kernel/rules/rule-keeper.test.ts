// The RuleKeeper end to end, inside test namespaces: it applies at start, repairs drift within one
// resync in both modes and reports it, cleans the other mode's leftovers, and on close() stops
// checking while leaving the rules in place. The root namespace's firewall is never touched.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import type { CommandRunner } from "../../../../backends/kernel/command-runner.ts";
import { isFlannelError } from "../../../../backends/errors.ts";
import { buildMasqueradeRules } from "../../../../backends/kernel/rules/iptables-rules.ts";
import {
  startRuleKeeper,
  type RepairReport,
  type RuleKeeper,
  type RuleKeeperOptions,
} from "../../../../backends/kernel/rules/rule-keeper.ts";
import { createMemoryLog, type MemoryLog } from "../../../support/memory-log.ts";
import { createNamespace, type Namespace } from "../../../support/netns.ts";
import { needsRoot } from "../../../support/root.ts";
import {
  cidr,
  eventually,
  flannelIptablesListing,
  inNs,
  namespaceRunner,
  snapshotRootFirewall,
  v4,
  v6,
  type RootFirewall,
} from "./firewall-fixture.ts";

const resyncMs = 200;

interface Started {
  readonly keeper: RuleKeeper;
  readonly log: MemoryLog;
  readonly repairs: RepairReport[];
  /** Resolves with the next repair report. */
  nextRepair(): Promise<RepairReport>;
}

async function start(runner: CommandRunner, options: Partial<RuleKeeperOptions> = {}, signal = new AbortController().signal): Promise<Started> {
  const log = createMemoryLog();
  const repairs: RepairReport[] = [];
  let waiter: ((report: RepairReport) => void) | undefined;
  const keeper = await startRuleKeeper(
    {
      runner,
      mode: "iptables",
      families: [v4],
      masquerade: true,
      forward: true,
      randomFullyDisable: false,
      resyncMs,
      log,
      onRepair: (report) => {
        repairs.push(report);
        waiter?.(report);
        waiter = undefined;
      },
      ...options,
    },
    signal,
  );
  return {
    keeper,
    log,
    repairs,
    nextRepair: () => new Promise((resolve) => (waiter = resolve)),
  };
}

/** Runs `damage`, then waits for the keeper's repair and checks it came within one resync. */
async function damageAndAwaitRepair(started: Started, damage: () => Promise<unknown>): Promise<RepairReport> {
  const repaired = started.nextRepair();
  await damage();
  const damagedAt = Date.now();
  const report = await Promise.race([
    repaired,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no repair within 3 resyncs")), 3 * resyncMs + 1000)),
  ]);
  // The next tick comes at most one resync later; allow for the check and apply themselves.
  assert.ok(Date.now() - damagedAt < resyncMs + 500, `repaired after ${Date.now() - damagedAt} ms`);
  return report;
}

describe("RuleKeeper without a kernel", () => {
  test("fails to start when the rules cannot be applied (Flannel exits when masquerading cannot be set up)", async () => {
    const runner: CommandRunner = async (argv) => {
      if (argv[0] === "iptables") return { stdout: "iptables v1.8.9 (nf_tables)\n", stderr: "", code: 0 };
      if (argv[0] === "iptables-restore") return { stdout: "", stderr: "iptables-restore: line 2 failed", code: 1 };
      return { stdout: "", stderr: "", code: 0 };
    };
    await assert.rejects(start(runner), (error) => isFlannelError(error, "kernel-command-failed"));
  });

  test("reads again and retries when a write loses a race with another agent of the node", async () => {
    const argv0: string[] = [];
    let restores = 0;
    const runner: CommandRunner = async (argv) => {
      argv0.push(argv[0]!);
      if (argv[0] === "iptables") return { stdout: "iptables v1.8.9 (nf_tables)\n", stderr: "", code: 0 };
      if (argv[0] === "iptables-restore" && ++restores === 1) {
        return { stdout: "", stderr: "iptables-restore: line 2 failed: Chain already exists.", code: 1 };
      }
      return { stdout: "", stderr: "", code: 0 };
    };
    const started = await start(runner);
    await started.keeper.close();
    // nft: the start-up cleanup of the other mode; then read, a lost write, read again, write, confirm.
    assert.deepEqual(argv0, ["nft", "iptables", "iptables-save", "iptables-restore", "iptables-save", "iptables-restore", "iptables-save"]);
  });

  test("refuses a resync period that is not positive", async () => {
    const runner: CommandRunner = async () => ({ stdout: "", stderr: "", code: 0 });
    await assert.rejects(start(runner, { resyncMs: 0 }), RangeError);
  });
});

describe("RuleKeeper in a namespace", { skip: needsRoot }, () => {
  let root: RootFirewall;
  let ns: Namespace;
  let keepers: RuleKeeper[] = [];
  const track = (started: Started) => {
    keepers.push(started.keeper);
    return started;
  };
  before(async () => {
    root = await snapshotRootFirewall();
  });
  beforeEach(async () => {
    ns = await createNamespace("keep");
    keepers = [];
  });
  afterEach(async () => {
    for (const keeper of keepers) await keeper[Symbol.asyncDispose]();
    await ns.remove();
  });
  after(async () => {
    await root.assertUnchanged();
  });

  test("iptables: repairs a rule deleted by hand within one resync and reports it", async () => {
    const started = track(await start(namespaceRunner(ns).runner));
    const masq = buildMasqueradeRules(4, v4.network, v4.subnet, { randomFully: true });
    assert.deepEqual(await flannelIptablesListing(ns, "iptables", "nat"), [masq.jump, "-N FLANNEL-POSTRTG", ...masq.head, ...masq.rules]);
    const report = await damageAndAwaitRepair(started, () =>
      inNs(ns, "iptables", "-t", "nat", "-D", "FLANNEL-POSTRTG", "-m", "mark", "--mark", "0x4000/0x4000", "-m", "comment", "--comment", "flanneld masq", "-j", "RETURN"),
    );
    assert.equal(report.repaired, 1);
    assert.deepEqual(report.families, [{ family: 4, differences: [`missing in nat FLANNEL-POSTRTG: ${masq.head[0]}`] }]);
    const line = started.log.find("re-applying", "info");
    assert.equal(line.length, 1);
    assert.equal(line[0]?.fields.repaired, 1);
    assert.deepEqual(await flannelIptablesListing(ns, "iptables", "nat"), [masq.jump, "-N FLANNEL-POSTRTG", ...masq.head, ...masq.rules]);
    assert.equal(started.keeper.stats().repairs, 1);
  });

  test("iptables: repairs a flushed chain and a deleted jump", async () => {
    const started = track(await start(namespaceRunner(ns).runner));
    const flushed = await damageAndAwaitRepair(started, () => inNs(ns, "iptables", "-t", "filter", "-F", "FLANNEL-FWD"));
    assert.equal(flushed.repaired, 2);
    const jump = await damageAndAwaitRepair(started, () =>
      inNs(ns, "iptables", "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "flanneld masq", "-j", "FLANNEL-POSTRTG"),
    );
    assert.equal(jump.repaired, 1);
    assert.equal((await inNs(ns, "iptables", "-t", "nat", "-S", "POSTROUTING")).split("FLANNEL-POSTRTG").length - 1, 1);
    assert.equal((await inNs(ns, "iptables", "-t", "filter", "-S", "FLANNEL-FWD")).trim().split("\n").length, 3);
  });

  test("iptables, dual stack: keeps ip6tables rules too", async () => {
    const started = track(await start(namespaceRunner(ns).runner, { families: [v4, v6] }));
    const report = await damageAndAwaitRepair(started, () => inNs(ns, "ip6tables", "-t", "nat", "-F", "FLANNEL-POSTRTG"));
    assert.deepEqual(report.families.map((f) => [f.family, f.differences.length]), [
      [4, 0],
      [6, 6],
    ]);
    assert.equal((await inNs(ns, "ip6tables", "-t", "nat", "-S", "FLANNEL-POSTRTG")).trim().split("\n").length, 7);
  });

  test("nftables: repairs a rule deleted by handle and a deleted table within one resync", async () => {
    const started = track(await start(namespaceRunner(ns).runner, { mode: "nftables", families: [v4, v6] }));
    assert.equal(started.keeper.randomFully.get(4), true);
    const listing = await inNs(ns, "nft", "-a", "list", "chain", "ip", "flannel-ipv4", "forward");
    const handle = /ip daddr 10\.244\.0\.0\/16 accept # handle (\d+)/.exec(listing)?.[1];
    assert.ok(handle !== undefined);
    const byHandle = await damageAndAwaitRepair(started, () =>
      inNs(ns, "nft", "delete", "rule", "ip", "flannel-ipv4", "forward", "handle", handle),
    );
    assert.deepEqual(byHandle.families[0]?.differences, ["missing in table ip flannel-ipv4: forward: ip daddr 10.244.0.0/16 accept"]);
    const table = await damageAndAwaitRepair(started, () => inNs(ns, "nft", "delete", "table", "ip6", "flannel-ipv6"));
    assert.deepEqual(table.families[1]?.differences, ["missing table ip6 flannel-ipv6"]);
    assert.ok((await inNs(ns, "nft", "list", "chain", "ip6", "flannel-ipv6", "postrtg")).includes("masquerade fully-random"));
    assert.ok(started.log.find("re-applying").length >= 2);
  });

  test("switching iptables → nftables removes both chains, FLANNEL-FWD from filter (where Flannel's cleanup never looks)", async () => {
    const first = await start(namespaceRunner(ns).runner, { families: [v4, v6] });
    await first.keeper.close();
    await inNs(ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth9", "-j", "MASQUERADE");
    const second = track(await start(namespaceRunner(ns).runner, { mode: "nftables", families: [v4, v6] }));
    for (const save of ["iptables-save", "ip6tables-save"]) {
      const text = await inNs(ns, save);
      assert.ok(!text.includes("FLANNEL"), `${save} still has flannel rules:\n${text}`);
    }
    assert.ok((await inNs(ns, "iptables", "-t", "nat", "-S")).includes("-A POSTROUTING -o eth9 -j MASQUERADE"), "foreign rules stay");
    const removed = second.log.find("removed iptables chains");
    assert.deepEqual(removed.map((e) => e.fields.chains), [
      ["nat/FLANNEL-POSTRTG", "filter/FLANNEL-FWD"],
      ["nat/FLANNEL-POSTRTG", "filter/FLANNEL-FWD"],
    ]);
    assert.equal((await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "postrtg")).split("\n").length > 5, true);
  });

  test("switching nftables → iptables deletes the flannel nft tables", async () => {
    const first = await start(namespaceRunner(ns).runner, { mode: "nftables", families: [v4, v6] });
    await first.keeper.close();
    const second = track(await start(namespaceRunner(ns).runner, { mode: "iptables", families: [v4, v6] }));
    assert.ok(!(await inNs(ns, "nft", "list", "tables")).includes("flannel-ipv"));
    assert.deepEqual(second.log.find("deleted nftables tables")[0]?.fields.tables, ["ip flannel-ipv4", "ip6 flannel-ipv6"]);
    assert.ok((await inNs(ns, "iptables", "-t", "nat", "-S")).includes("FLANNEL-POSTRTG"));
  });

  test("removes the rules of a previous subnet.env at start and says so", async () => {
    const previous = { network: v4.network, subnet: cidr("10.244.9.0/24") };
    const first = await start(namespaceRunner(ns).runner, { families: [{ ...v4, subnet: previous.subnet }] });
    await first.keeper.close();
    const second = track(await start(namespaceRunner(ns).runner, { families: [{ ...v4, previous }] }));
    assert.ok(!(await inNs(ns, "iptables-save")).includes("10.244.9.0/24"));
    const logged = second.log.find("previous subnet.env", "info");
    assert.equal(logged.length, 1);
    assert.equal((logged[0]?.fields.stale as string[]).length, 3, "the three rules naming the old subnet");
  });

  test("close() stops the timer and leaves the rules in place", async () => {
    const started = await start(namespaceRunner(ns).runner);
    await started.keeper.close();
    await started.keeper.close();
    const checks = started.keeper.stats().checks;
    await inNs(ns, "iptables", "-t", "filter", "-F", "FLANNEL-FWD");
    await new Promise((resolve) => setTimeout(resolve, 3 * resyncMs));
    assert.equal(started.keeper.stats().checks, checks, "no check after close()");
    assert.equal((await inNs(ns, "iptables", "-t", "filter", "-S", "FLANNEL-FWD")).trim(), "-N FLANNEL-FWD", "not repaired");
    assert.equal((await inNs(ns, "iptables", "-t", "nat", "-S", "FLANNEL-POSTRTG")).trim().split("\n").length, 7, "rules left in place");
    await assert.rejects(started.keeper.checkNow(), { name: "AbortError" });
  });

  test("aborting the start signal stops the keeper", async () => {
    const controller = new AbortController();
    const started = track(await start(namespaceRunner(ns).runner, {}, controller.signal));
    await eventually(async () => started.keeper.stats().checks >= 2, 5 * resyncMs, "a timer check");
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const checks = started.keeper.stats().checks;
    await new Promise((resolve) => setTimeout(resolve, 3 * resyncMs));
    assert.equal(started.keeper.stats().checks, checks);
  });

  test("checkNow() finds nothing when in sync and is serialised with the timer", async () => {
    const started = track(await start(namespaceRunner(ns).runner, { families: [v4, v6] }));
    const reports = await Promise.all([started.keeper.checkNow(), started.keeper.checkNow(), started.keeper.checkNow()]);
    assert.deepEqual(reports.map((r) => r.repaired), [0, 0, 0]);
    assert.equal(started.repairs.length, 0);
  });
});
