// The readiness monitor on a real namespace: a vxlan device deleted by hand turns the node
// unready naming it, and ready again once it is back; a failed rule check is noticed from the
// keeper's counters; each change of readiness is logged once. And periodic work never overlaps.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { execCommandRunner } from "../../../backends/kernel/command-runner.ts";
import { createLinkQuery } from "../../../backends/kernel/link-query.ts";
import type { RuleKeeperStats } from "../../../backends/kernel/rules/rule-keeper.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { createOpsRecord } from "../../../agent/ops/ops-record.ts";
import { repeatEvery } from "../../../agent/ops/periodic.ts";
import { createReadiness } from "../../../agent/ops/readiness.ts";
import { startReadinessMonitor } from "../../../agent/ops/readiness-monitor.ts";
import { createMemoryLog } from "../../support/memory-log.ts";
import { createNamespace } from "../../support/netns.ts";
import { needsRoot } from "../../support/root.ts";

describe("the readiness monitor", { skip: needsRoot }, () => {
  test("a missing device and a failed rule check make the node unready until they are fixed; each change is logged once", async (t) => {
    const ns = await createNamespace("ready");
    t.after(() => ns.remove());
    await ns.ip("link", "add", "flannel.1", "type", "vxlan", "id", "1", "dstport", "8472");
    const record = createOpsRecord();
    record.leaseAcquired({ subnet: parseCidr("10.244.1.0/24")!, attrs: { publicIP: parseIp("198.18.0.1")!, backendType: "vxlan" } });
    record.subnetEnvWritten();
    record.watchFollowing("leases");
    record.reconcileRun({ kind: "full", durationMs: 1, report: { added: 0, removed: 0, repaired: 0, errors: [] } }, 0);
    const readiness = createReadiness(record, { nearExpiryMs: 60_000, peerWatch: "leases" });
    let stats: RuleKeeperStats = { checks: 1, repairs: 0, repairedDifferences: 0, lastError: undefined };
    const log = createMemoryLog();
    const stop = new AbortController();
    const monitor = startReadinessMonitor(
      {
        record,
        readiness,
        links: createLinkQuery((argv, options) => execCommandRunner(["ip", "netns", "exec", ns.name, ...argv], options)),
        devices: () => ["flannel.1"],
        rules: () => stats,
        periodMs: 60_000,
        log,
      },
      stop.signal,
    );
    t.after(() => monitor.close());

    await monitor.checkNow();
    assert.deepEqual(readiness.problems(), []);
    await ns.ip("link", "del", "flannel.1");
    stats = { ...stats, checks: 2, lastError: new Error("iptables-restore: exit 4") };
    await monitor.checkNow();
    assert.deepEqual(readiness.problems(), ["device: flannel.1 missing", "rules: the last check failed: iptables-restore: exit 4"]);
    assert.equal(record.kernelErrors.get({ component: "rules", code: "unknown" }), 1);
    await monitor.checkNow(); // nothing changed: no second line
    await ns.ip("link", "add", "flannel.1", "type", "vxlan", "id", "1", "dstport", "8472");
    stats = { ...stats, checks: 3 }; // a check without a new error succeeded
    await monitor.checkNow();
    assert.deepEqual(readiness.problems(), []);
    const lines = log.entries.filter((entry) => entry.message === "ready" || entry.message === "not ready").map((entry) => entry.message);
    assert.deepEqual(lines, ["ready", "not ready", "ready"]);
    stop.abort();
  });
});

test("repeatEvery never overlaps its own rounds, and stop() waits for the round in progress", async () => {
  let running = 0;
  let maxRunning = 0;
  let rounds = 0;
  const stop = new AbortController();
  const periodic = repeatEvery(
    5,
    async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      rounds += 1;
      await sleep(30); // six periods long
      running -= 1;
    },
    stop.signal,
    true,
  );
  await sleep(100);
  await periodic.stop();
  const after = rounds;
  assert.equal(running, 0, "stop() returned while a round was running");
  await sleep(50);
  assert.equal(rounds, after, "a round ran after stop()");
  assert.equal(maxRunning, 1);
  assert.ok(rounds >= 2 && rounds <= 4, `${rounds} rounds`);
});
