// The datastore outage of issue 12, the same for etcd and for the lab's API server: with a pod on
// node1 pinging a pod on node2 every 200 ms, the datastore is stopped for `outageMs`. Throughout,
// every node's vxlan objects stay exactly what they were, every agent keeps running (/healthz 200)
// and answers /readyz 503 naming the datastore. Once the datastore is back, a peer written right
// then is programmed on every node, every agent is ready again, and no ping was lost.
// Not a test file itself.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab } from "../../../deploy/lab/lab.ts";
import { waitFor } from "../../../deploy/lab/tools/wait.ts";
import { agentGet, oneResyncDeadlineMs, vxlanState, type Lease, type VxlanState } from "../lab-fixture.ts";
import { expectedVxlanState, startPing, waitVxlanState, type Ghost } from "./fault-fixture.ts";

export interface DatastoreOutage {
  readonly outageMs: number;
  /** The nodes' own leases as the datastore holds them, by public IP. */
  readonly leases: Map<string, Lease>;
  /** What /readyz must say while the datastore is down. */
  readonly reason: RegExp;
  stop(): Promise<void>;
  start(): Promise<void>;
  readonly running: () => boolean;
  /** Writes `peer`'s lease into the datastore, as another node joining would. */
  addPeer(peer: Ghost): Promise<void>;
  readonly peer: Ghost;
}

export interface OutageFigures {
  readonly unreadyAfterMs: number;
  readonly looks: number;
  readonly caughtUpAfterMs: number;
  readonly transmitted: number;
  readonly received: number;
}

export async function datastoreOutage(lab: Lab, outage: DatastoreOutage): Promise<OutageFigures> {
  const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
  const before = new Map<string, VxlanState>();
  for (const node of lab.nodes) {
    await waitVxlanState(node, expectedVxlanState(lab, node, outage.leases, []), "Flannel's vxlan state before the outage", 10_000);
    before.set(node.name, await vxlanState(node));
    assert.equal((await agentGet(node, "/readyz")).status, 200, `${node.name} ready before the outage`);
  }

  const ping = startPing(node1.pods[0]!.ns, node2.pods[0]!.ip);
  try {
    await sleep(1000);
    await outage.stop();
    const stoppedAt = Date.now();
    const bodies = await Promise.all(
      lab.nodes.map((node) =>
        waitFor(
          async () => {
            const answer = await agentGet(node, "/readyz");
            return answer.status === 503 ? answer.body : undefined;
          },
          { what: `/readyz 503 on ${node.name}`, timeoutMs: oneResyncDeadlineMs, intervalMs: 200 },
        ),
      ),
    );
    const unreadyAfterMs = Date.now() - stoppedAt;
    for (const body of bodies) assert.match(body, outage.reason, `the reason names the datastore:\n${body}`);

    // A look every few seconds for the whole outage: nothing of the data plane may move.
    let looks = 0;
    while (Date.now() - stoppedAt < outage.outageMs) {
      for (const node of lab.nodes) {
        assert.ok(node.flanneld.running, `flanneld on ${node.name} exited during the outage:\n${node.flanneld.logTail(10)}`);
        assert.deepEqual(await vxlanState(node), before.get(node.name), `${node.name}'s vxlan objects changed during the outage`);
        assert.equal((await agentGet(node, "/healthz")).status, 200, `${node.name} liveness during the outage`);
        assert.equal((await agentGet(node, "/readyz")).status, 503, `${node.name} ready while the datastore is down`);
      }
      looks += 1;
      await sleep(Math.min(5000, Math.max(0, outage.outageMs - (Date.now() - stoppedAt))));
    }
    assert.ok(looks >= outage.outageMs / 6000, `only ${looks} looks during the outage`);

    await outage.start();
    const startedAt = Date.now();
    await outage.addPeer(outage.peer);
    for (const node of lab.nodes) {
      await waitVxlanState(node, expectedVxlanState(lab, node, outage.leases, [outage.peer]), "the peer written after the outage", 20_000);
      await waitFor(async () => (await agentGet(node, "/readyz")).status === 200, { what: `/readyz 200 again on ${node.name}`, timeoutMs: 20_000, intervalMs: 200 });
    }
    const caughtUpAfterMs = Date.now() - startedAt;
    for (const node of lab.nodes) assert.ok(node.flanneld.running, `flanneld on ${node.name} exited after the outage`);

    const stats = await ping.finish();
    assert.ok(stats.transmitted >= outage.outageMs / 250, `only ${stats.transmitted} pings sent`);
    assert.equal(stats.received, stats.transmitted, `pings lost across the outage:\n${stats.output}`);
    return { unreadyAfterMs, looks, caughtUpAfterMs, transmitted: stats.transmitted, received: stats.received };
  } finally {
    await ping.close();
    if (!outage.running()) await outage.start();
  }
}
