// An idle resync reads nothing: `nft monitor` (ruleset-feed.ts) files every nftables change —
// iptables-nft's among them — under its table, and the RuleKeeper skips a family's read while the
// feed vouches that none of its tables changed since its last clean check. A rule deleted by hand
// is still repaired within one resync, in both modes. Inside test namespaces; the root namespace's
// firewall is never touched.
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { spawnCoprocess } from "../../../../backends/kernel/batch-process.ts";
import { prefixSpawner } from "../../../../backends/kernel/command-prefix.ts";
import { startRuleKeeper, type RuleKeeper } from "../../../../backends/kernel/rules/rule-keeper.ts";
import type { RulesMode } from "../../../../backends/kernel/rules/rule-set.ts";
import { openRulesetFeed, rulesetEventKey, type RulesetFeed } from "../../../../backends/kernel/rules/ruleset-feed.ts";
import { run } from "../../../../deploy/lab/tools/command.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";
import { spawnProcess, waitFor } from "../../../support/process.ts";
import { createNamespace, type Namespace } from "../../../support/netns.ts";
import { needsRoot } from "../../../support/root.ts";
import { eventually, inNs, namespaceRunner, snapshotRootFirewall, v4, type RootFirewall } from "./firewall-fixture.ts";

const resyncMs = 100;

describe("rulesetEventKey", () => {
  test("files a change under its family and table, and skips generation comments", () => {
    assert.equal(rulesetEventKey('add rule ip nat FLANNEL-POSTRTG ip saddr 10.0.0.0/8 counter packets 0 bytes 0 return'), "ip nat");
    assert.equal(rulesetEventKey("delete rule ip6 filter FLANNEL-FWD handle 4"), "ip6 filter");
    assert.equal(rulesetEventKey("delete table ip flannel-ipv4"), "ip flannel-ipv4");
    assert.equal(rulesetEventKey("add chain ip nat POSTROUTING { type nat hook postrouting priority srcnat; policy accept; }"), "ip nat");
    assert.equal(rulesetEventKey("add element inet x s { 1.2.3.4 }"), "inet x");
    assert.equal(rulesetEventKey("# new generation 5 by process 23659 (iptables)"), "");
    assert.equal(rulesetEventKey(""), "");
    assert.equal(rulesetEventKey("something else entirely"), undefined);
  });
});

describe("quiet resyncs in a namespace", { skip: needsRoot }, () => {
  let root: RootFirewall;
  let ns: Namespace;
  let feed: RulesetFeed | undefined;
  let keeper: RuleKeeper | undefined;
  before(async () => {
    root = await snapshotRootFirewall();
  });
  beforeEach(async () => {
    ns = await createNamespace("quiet");
  });
  afterEach(async () => {
    await feed?.close();
    await keeper?.[Symbol.asyncDispose]();
    feed = undefined;
    keeper = undefined;
    await ns.remove();
  });
  after(async () => {
    await root.assertUnchanged();
  });

  test("the feed sees iptables-nft and nft changes by table, and stops vouching once closed", async () => {
    feed = openRulesetFeed(prefixSpawner(["ip", "netns", "exec", ns.name], spawnCoprocess));
    assert.equal(await feed.ready(), true);
    const stamp = feed.stamp();
    assert.equal(stamp.trusted, true);
    assert.equal(feed.changedSince(stamp, ["ip nat"]), false);
    await inNs(ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-j", "RETURN");
    await feed.drain();
    assert.equal(feed.changedSince(stamp, ["ip nat"]), true);
    assert.equal(feed.changedSince(stamp, ["ip filter", "ip6 nat"]), false, "another table, another family");
    const later = feed.stamp();
    await inNs(ns, "nft", "add", "table", "ip", "flannel-ipv4");
    await feed.drain();
    assert.equal(feed.changedSince(later, ["ip nat"]), false);
    assert.equal(feed.changedSince(later, ["ip flannel-ipv4"]), true);
    await feed.close();
    assert.equal(feed.changedSince(feed.stamp(), ["ip nat"]), true, "a closed feed vouches for nothing");
  });

  test("the feed gives up for good when the monitor holds more memory than allowed (a large ruleset)", async () => {
    const reasons: string[] = [];
    feed = openRulesetFeed(prefixSpawner(["ip", "netns", "exec", ns.name], spawnCoprocess), {
      maxMonitorRssBytes: 1024,
      onGiveUp: (reason) => reasons.push(reason),
    });
    assert.equal(await feed.ready(), true);
    const stamp = feed.stamp();
    await feed.drain();
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /^nft monitor holds \d+ MiB/);
    assert.equal(feed.changedSince(stamp, ["ip nat"]), true);
    assert.equal(feed.stamp().trusted, false);
    assert.equal(await feed.ready(), false, "not started again");
    assert.equal((await run(["ip", "netns", "pids", ns.name])).stdout.trim(), "", "the monitor is gone");
  });

  test("the monitor dies with its agent, even one killed with SIGKILL (it would keep the namespace alive)", async () => {
    const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    const script = [
      `import { spawnCoprocess } from ${module("../../../../backends/kernel/batch-process.ts")};`,
      `import { prefixSpawner } from ${module("../../../../backends/kernel/command-prefix.ts")};`,
      `import { openRulesetFeed } from ${module("../../../../backends/kernel/rules/ruleset-feed.ts")};`,
      `const feed = openRulesetFeed(prefixSpawner(["ip", "netns", "exec", ${JSON.stringify(ns.name)}], spawnCoprocess));`,
      `console.log(await feed.ready() ? "listening" : "not listening");`,
      "setInterval(() => {}, 1000);",
    ].join("\n");
    const agent = spawnProcess([process.execPath, "--input-type=module", "-e", script]);
    try {
      await waitFor(async () => agent.output().includes("listening"), { what: "the feed listening", timeoutMs: 10_000, intervalMs: 20, process: agent });
      assert.ok(agent.output().includes("\nlistening") || agent.output().startsWith("listening"), agent.output());
      const monitors = (await run(["ip", "netns", "pids", ns.name])).stdout.trim().split(/\s+/).filter((pid) => pid !== "");
      assert.equal(monitors.length, 1, "one nft monitor in the namespace");
      agent.child.kill("SIGKILL");
      await agent.exited;
      await eventually(async () => (await run(["ip", "netns", "pids", ns.name])).stdout.trim() === "", 2000, "the monitor gone");
    } finally {
      await agent.stop("SIGKILL");
    }
  });

  test("iptables-legacy, whose changes nft monitor cannot see: no monitor is started and every resync reads", async () => {
    const { runner: inNamespace } = namespaceRunner(ns);
    const legacy: Record<string, string> = { iptables: "iptables-legacy", "iptables-save": "iptables-legacy-save", "iptables-restore": "iptables-legacy-restore" };
    const reads: string[] = [];
    const spawned: string[][] = [];
    keeper = await startRuleKeeper(
      {
        runner: (argv, options) => {
          if (argv[0] === "iptables-save") reads.push(argv[0]);
          return inNamespace([legacy[argv[0]!] ?? argv[0]!, ...argv.slice(1)], options);
        },
        spawner: (argv) => (spawned.push([...argv]), prefixSpawner(["ip", "netns", "exec", ns.name], spawnCoprocess)(argv)),
        mode: "iptables",
        families: [v4],
        masquerade: true,
        forward: true,
        randomFullyDisable: false,
        resyncMs,
        log: createMemoryLog(),
      },
      new AbortController().signal,
    );
    const k = keeper;
    await eventually(async () => k.stats().checks >= 6, 50 * resyncMs, "five timer resyncs");
    assert.deepEqual(spawned, [], "no nft monitor");
    assert.equal(k.stats().skippedReads, 0);
    assert.ok(reads.length >= 6, `a read per resync: ${reads.length}`);
    assert.ok((await inNs(ns, "iptables-legacy", "-t", "nat", "-S", "FLANNEL-POSTRTG")).includes("10.244.1.0/24"));
  });

  for (const mode of ["iptables", "nftables"] as const satisfies readonly RulesMode[]) {
    test(`${mode}: idle resyncs start no process, and a rule deleted by hand is still repaired within one resync`, async () => {
      const { runner, calls } = namespaceRunner(ns);
      keeper = await startRuleKeeper(
        {
          runner,
          spawner: prefixSpawner(["ip", "netns", "exec", ns.name], spawnCoprocess),
          mode,
          families: [v4],
          masquerade: true,
          forward: true,
          randomFullyDisable: false,
          resyncMs,
          log: createMemoryLog(),
        },
        new AbortController().signal,
      );
      const k = keeper;
      // The first timer run reads (the start-up stamp may predate the monitor listening); then quiet.
      await eventually(async () => (k.stats().skippedReads ?? 0) >= 3, 50 * resyncMs, "three skipped reads");
      const callsBefore = calls.length;
      const checksBefore = k.stats().checks;
      await eventually(async () => k.stats().checks >= checksBefore + 10, 50 * resyncMs, "ten more resyncs");
      assert.deepEqual(calls.slice(callsBefore), [], "ten idle resyncs ran no command");

      if (mode === "iptables") await inNs(ns, "iptables", "-t", "filter", "-F", "FLANNEL-FWD");
      else await inNs(ns, "nft", "flush", "chain", "ip", "flannel-ipv4", "forward");
      const damagedAt = Date.now();
      await eventually(async () => k.stats().repairs === 1, 20 * resyncMs + 2000, "the repair");
      assert.ok(Date.now() - damagedAt < resyncMs + 1000, `repaired after ${Date.now() - damagedAt} ms`);
      const listing =
        mode === "iptables"
          ? await inNs(ns, "iptables", "-t", "filter", "-S", "FLANNEL-FWD")
          : await inNs(ns, "nft", "list", "chain", "ip", "flannel-ipv4", "forward");
      assert.ok(listing.includes("10.244.0.0/16"), listing);
    });
  }
});
