// Fault: the agent killed -9 during a reconcile (issue 12). On a 2-node vxlan lab, a burst of 1000
// peer leases arrives; node1's flanneld is killed -9 while it is programming the first 300, the
// other 700 are written while it is dead, and then 100 of the first are deleted again. The lab's
// restart of the agent (the same command line, as its supervisor would) finishes the job: node1's
// vxlan neighbours, FDB entries and routes are then exactly what the leases in etcd say — the 900
// left all there, the 100 deleted gone, nothing else — and no ping between pods on the two nodes
// was lost.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../../../deploy/lab/lab.ts";
import { waitFor } from "../../../deploy/lab/tools/wait.ts";
import { needsRoot } from "../../support/root.ts";
import { assertConverged, buildUnlessInSuite, readLeases, startTestLab, tearDown, vxlanDevice } from "../lab-fixture.ts";
import { deleteGhosts, expectedVxlanState, ghosts, putGhosts, startPing, waitVxlanState, wideNetwork } from "./fault-fixture.ts";

const burst = ghosts(0, 1000);
const perTxn = 100;
const firstTxns = 3;
const deletedWhileDown = burst.slice(0, 100);

describe("fault: the agent killed -9 during a reconcile", { skip: needsRoot, timeout: 180_000 }, () => {
  let lab: Lab | undefined;
  before(async () => {
    await buildUnlessInSuite();
    lab = await startTestLab({ nodes: 2, backend: "vxlan", network: wideNetwork });
    await assertConverged(lab, "the lab did not converge");
  });
  after(() => tearDown(lab));

  test("the next start finishes the job: the kernel holds exactly the leases' entries; no ping lost", async () => {
    const theLab = lab!;
    const [node1, node2] = [theLab.nodes[0]!, theLab.nodes[1]!];
    const leases = await readLeases(theLab);
    await waitVxlanState(node1, expectedVxlanState(theLab, node1, leases, []), "Flannel's vxlan state before the burst", 10_000);

    const ping = startPing(node1.pods[0]!.ns, node2.pods[0]!.ip);
    try {
      await sleep(1000);
      // The first transactions at once; the kill as soon as node1 is programming them; the rest of
      // the burst while it is dead. (All at once, a slow look could miss the agent at work.)
      const first = burst.slice(0, firstTxns * perTxn);
      const writing = Promise.all(Array.from({ length: firstTxns }, (_, k) => putGhosts(theLab, first.slice(k * perTxn, (k + 1) * perTxn), perTxn)));
      const programmedAtKill = await waitFor(
        async () => {
          const routes = (await node1.ipJson<unknown[]>("route", "show", "dev", vxlanDevice)).length - 1;
          return routes > 0 ? routes : undefined;
        },
        { what: "node1 programming the burst", timeoutMs: 10_000, intervalMs: 1 },
      );
      assert.equal(await node1.flanneld.kill(), "ended", "kill -9 of flanneld on node1");
      await writing;
      const atKill = (await node1.ipJson<unknown[]>("route", "show", "dev", vxlanDevice)).length - 1;
      await putGhosts(theLab, burst.slice(first.length), perTxn);

      await deleteGhosts(theLab, deletedWhileDown);

      node1.flanneld.start();
      const startedAt = Date.now();
      await node1.flanneld.waitReady({ timeoutMs: 30_000 });
      const remaining = burst.slice(deletedWhileDown.length);
      await waitVxlanState(node1, expectedVxlanState(theLab, node1, leases, remaining), "the leases' entries after the restart", 20_000);
      const finishedAfterMs = Date.now() - startedAt;
      await waitVxlanState(node2, expectedVxlanState(theLab, node2, leases, remaining), "the leases' entries", 20_000);

      await sleep(1000);
      const stats = await ping.finish();
      console.log(`# killed with ${programmedAtKill} peers programmed (${atKill} once its last batch ended) of ${first.length} written, ${burst.length} in all; the next start matched the leases after ${finishedAfterMs} ms; ping ${stats.received}/${stats.transmitted}`);
      assert.ok(stats.transmitted >= 10, `only ${stats.transmitted} pings sent`);
      assert.equal(stats.received, stats.transmitted, `pings lost:\n${stats.output}`);
    } finally {
      await ping.close();
      if (!node1.flanneld.running) node1.flanneld.start();
    }
  });
});
