// Fault: the node's own lease about to expire while the datastore is unreachable (issue 12). On a
// 2-node vxlan lab, node2's flanneld runs with --subnet-lease-renew-margin=1 (minutes), and its
// lease is written again on a 65 s etcd lease: the agent follows the change and plans to renew 5 s
// later — but etcd is stopped first, until 5 s after that expiry. The agent must say so loudly
// (an error-level log line naming the expiry time), keep running, and keep the data plane exactly
// as it was on both nodes, with no ping lost between their pods. Once etcd is back the agent
// renews at its next retry (Flannel's: a minute after a failure) and holds a 24 h lease again.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../../../deploy/lab/lab.ts";
import { waitFor } from "../../../deploy/lab/tools/wait.ts";
import { sampleSum } from "../../agent/ops/exposition.ts";
import { needsRoot } from "../../support/root.ts";
import {
  agentGet,
  assertConverged,
  buildUnlessInSuite,
  etcdSwitch,
  type EtcdSwitch,
  leaseOf,
  readLeases,
  scrapeMetrics,
  startTestLab,
  subnetsPrefix,
  tearDown,
  vxlanState,
  type VxlanState,
} from "../lab-fixture.ts";
import { errorLines, runAgentWithFlags, type FlaggedAgent } from "./agent-process.ts";
import { expectedVxlanState, putWithTtl, startPing, waitVxlanState, wideNetwork } from "./fault-fixture.ts";

const ttlSeconds = 65;

describe("fault: the own lease about to expire while etcd is unreachable", { skip: needsRoot, timeout: 300_000 }, () => {
  let lab: Lab | undefined;
  let etcd: EtcdSwitch | undefined;
  let agent: FlaggedAgent | undefined;
  before(async () => {
    await buildUnlessInSuite();
    lab = await startTestLab({ nodes: 2, backend: "vxlan", network: wideNetwork });
    etcd = etcdSwitch(lab);
    const node2 = lab.nodes[1]!;
    agent = await runAgentWithFlags(node2, ["--subnet-lease-renew-margin=1"]);
    await waitFor(async () => (await agentGet(node2, "/readyz").catch(() => undefined))?.status === 200, { what: "node2's flanneld with a 1-minute renew margin ready", timeoutMs: 30_000, intervalMs: 200 });
    await assertConverged(lab, "the lab did not converge");
  });
  after(async () => {
    await agent?.close();
    await etcd?.close();
    await tearDown(lab);
  });

  const expiryMs = async (theLab: Lab): Promise<number> => sampleSum(await scrapeMetrics(theLab.nodes[1]!), "flannel_lease_expiry_timestamp_seconds") * 1000;

  test("logged loudly (error naming the expiry), agent alive, data plane kept, no ping lost; renewed once etcd is back", async () => {
    const theLab = lab!;
    const [node1, node2] = [theLab.nodes[0]!, theLab.nodes[1]!];
    const leases = await readLeases(theLab);
    const before = new Map<string, VxlanState>();
    for (const node of theLab.nodes) {
      await waitVxlanState(node, expectedVxlanState(theLab, node, leases, []), "Flannel's vxlan state", 10_000);
      before.set(node.name, await vxlanState(node));
    }
    const errorsBefore = errorLines(node2).length;
    const own = leaseOf(leases, node2);

    const ping = startPing(node1.pods[0]!.ns, node2.pods[0]!.ip);
    try {
      await sleep(1000);
      await putWithTtl(theLab, `${subnetsPrefix}${own.key}`, own.raw, ttlSeconds);
      // The agent follows the change to its lease: it now runs out in ttlSeconds.
      const expiresAt = await waitFor(
        async () => {
          const at = await expiryMs(theLab);
          return at > Date.now() && at < Date.now() + 2 * ttlSeconds * 1000 ? at : undefined;
        },
        { what: "node2's agent following its shortened lease", timeoutMs: 3000, intervalMs: 50 },
      );
      await etcd!.stop();
      assert.equal(await expiryMs(theLab), expiresAt, "the agent renewed before etcd was stopped: the test proves nothing");

      // Until 5 s past the expiry: loud about it, alive, and nothing of the data plane moves.
      let loud: Record<string, unknown> | undefined;
      while (Date.now() < expiresAt + 5000) {
        loud ??= errorLines(node2).slice(errorsBefore).find((entry) => /expir/i.test(JSON.stringify(entry)));
        for (const node of theLab.nodes) {
          assert.ok(node === node2 ? agent!.running : node.flanneld.running, `flanneld on ${node.name} exited:\n${node.flanneld.logTail(10)}`);
          assert.deepEqual(await vxlanState(node), before.get(node.name), `${node.name}'s vxlan objects changed while the lease ran out`);
        }
        await sleep(2000);
      }
      assert.ok(loud !== undefined, `no error-level log about the lease's expiry:\n${node2.flanneld.logTail(10)}`);
      assert.ok(JSON.stringify(loud).includes(new Date(expiresAt).toISOString()), `the error does not name the expiry ${new Date(expiresAt).toISOString()}: ${JSON.stringify(loud)}`);

      await etcd!.start();
      await waitFor(async () => (await expiryMs(theLab)) > Date.now() + 3_600_000, { what: "node2's lease renewed (24 h) after etcd came back", timeoutMs: 75_000, intervalMs: 1000 });
      for (const node of theLab.nodes) assert.deepEqual(await vxlanState(node), before.get(node.name), `${node.name}'s vxlan objects after the renewal`);

      const stats = await ping.finish();
      console.log(`# lease ran out ${ttlSeconds} s after it was shortened with etcd down; ping ${stats.received}/${stats.transmitted}`);
      assert.equal(stats.received, stats.transmitted, `pings lost:\n${stats.output}`);
    } finally {
      await ping.close();
      if (!etcd!.running) await etcd!.start();
    }
  });
});
