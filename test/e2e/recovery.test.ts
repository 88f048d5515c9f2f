// End to end on one 3-node vxlan lab with --ip-masq: what happens to a running cluster when an
// agent restarts (SIGTERM, then kill -9) — pod traffic through that node loses no packet and the
// node keeps its subnet; when someone breaks the data plane by hand (a route, an FDB entry, the
// vxlan device, a masquerade rule) — each comes back within one resync (--iptables-resync, 5 s by
// default; the lab passes no flag) and pods reach each other again; and when a node's lease is
// deleted from etcd — the other nodes drop its entries and its own agent exits 0, as Flannel's
// does. Tests restore what they break, so they share the lab; the lease deletion runs last.
import assert from "node:assert/strict";
import { before, beforeEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Lab, LabNode } from "../../deploy/lab/lab.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { needsRoot } from "../support/root.ts";
import { waitFor } from "../../deploy/lab/tools/wait.ts";
import {
  assertConverged,
  bridgeJson,
  flannelMasqRules,
  flannelVxlanState,
  labEtcd,
  type Lease,
  leaseOf,
  natMasqRules,
  oneResyncDeadlineMs,
  parsePingStats,
  readLeases,
  subnetsPrefix,
  useTestLab,
  vxlanDevice,
  vxlanState,
} from "./lab-fixture.ts";

const network = "10.244.0.0/16";

describe("a running vxlan lab (3 nodes, --ip-masq) under restarts, hand-made damage and a revoked lease", { skip: needsRoot, timeout: 180_000 }, () => {
  const theLab = useTestLab({ nodes: 3, backend: "vxlan", ipMasq: true });
  before(async () => {
    await assertConverged(theLab(), "the lab did not converge");
  });
  // A test that failed half-way may have left an agent stopped: the next one starts from a whole lab.
  beforeEach(async () => {
    for (const node of theLab().nodes) {
      if (node.flanneld.running) continue;
      node.flanneld.start();
      await node.flanneld.waitReady({ timeoutMs: 20_000 });
    }
  });

  const assertReach = (what: string): Promise<void> => assertConverged(theLab(), `pods unreachable ${what}`, 10_000);

  /** Waits until the node's vxlan objects are Flannel's again; returns how long that took. */
  async function waitVxlanRestored(node: LabNode, leases: Map<string, Lease>, since: number, what: string): Promise<number> {
    const expected = flannelVxlanState(theLab().nodes, node, leases);
    let last: unknown;
    await waitFor(
      async () => {
        last = await vxlanState(node).catch((error: unknown) => String(error));
        return JSON.stringify(last) === JSON.stringify(expected);
      },
      { what: `${what} repaired on ${node.name}`, timeoutMs: oneResyncDeadlineMs, intervalMs: 100 },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nlast seen: ${JSON.stringify(last)}\nexpected: ${JSON.stringify(expected)}\nflanneld log:\n${node.flanneld.logTail(15)}`);
    });
    return Date.now() - since;
  }

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    test(`restarting an agent after ${signal} loses no ping between pods on its node and another, and keeps its subnet and lease`, async () => {
      const lab = theLab();
      const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
      const from = node1.pods[0]!;
      const to = node2.pods[0]!;
      const leaseBefore = leaseOf(await readLeases(lab), node2);
      const subnetBefore = node2.subnet();
      // 120 pings 50 ms apart: 6 s, across the agent's stop (at 1 s), start and first reconcile.
      const ping = run(["ip", "netns", "exec", from.ns, "ping", "-n", "-q", "-i", "0.05", "-c", "120", "-W", "1", to.ip], {
        allowFailure: true,
        timeoutMs: 30_000,
      });
      const pingDone = ping.then(() => Date.now());
      await sleep(1000);
      const outcome = await node2.flanneld.stop(signal);
      assert.equal(outcome, "ended", `flanneld on node2 after ${signal} (SIGTERM must not need SIGKILL)`);
      node2.flanneld.start();
      await node2.flanneld.waitReady({ timeoutMs: 15_000 });
      const readyAt = Date.now();
      const result = await ping;
      assert.ok(readyAt < (await pingDone), "the agent was ready again only after the ping ended: the test proves nothing");
      const stats = parsePingStats(result.stdout);
      assert.deepEqual(stats, { transmitted: 120, received: 120 }, result.stdout);
      assert.equal(node2.subnet(), subnetBefore, "subnet.env changed");
      const leaseAfter = leaseOf(await readLeases(lab), node2);
      assert.equal(leaseAfter.key, leaseBefore.key, "the node's lease key changed");
      assert.equal(leaseAfter.raw, leaseBefore.raw, "the node's lease value (VtepMAC) changed");
      const leases = await readLeases(lab);
      for (const node of lab.nodes) assert.deepEqual(await vxlanState(node), flannelVxlanState(lab.nodes, node, leases), node.name);
    });
  }

  test("a peer route deleted by hand is put back within one resync", async () => {
    const lab = theLab();
    const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
    const leases = await readLeases(lab);
    const peer = leaseOf(leases, node2);
    await node1.ip("route", "del", peer.subnet, "dev", vxlanDevice);
    const since = Date.now();
    const routes = await node1.ipJson<Array<{ dst: string }>>("route", "show", "dev", vxlanDevice);
    assert.ok(!routes.some((route) => route.dst === peer.subnet), "the route was not deleted");
    await waitVxlanRestored(node1, leases, since, `route ${peer.subnet}`);
    await assertReach("after the route came back");
  });

  test("a peer FDB entry deleted by hand is put back within one resync", async () => {
    const lab = theLab();
    const [node1, node3] = [lab.nodes[0]!, lab.nodes[2]!];
    const leases = await readLeases(lab);
    const peer = leaseOf(leases, node3);
    await node1.exec(["bridge", "fdb", "del", peer.vtepMAC!, "dev", vxlanDevice, "dst", peer.publicIP, "self"]);
    const since = Date.now();
    const fdb = await bridgeJson<Array<{ mac: string }>>(node1, "fdb", "show", "dev", vxlanDevice);
    assert.ok(!fdb.some((entry) => entry.mac === peer.vtepMAC), "the FDB entry was not deleted");
    await waitVxlanRestored(node1, leases, since, `FDB entry ${peer.vtepMAC}`);
    await assertReach("after the FDB entry came back");
  });

  test("the vxlan device deleted by hand comes back with its MAC, neighbours, FDB entries and routes within one resync", async () => {
    const lab = theLab();
    const node2 = lab.nodes[1]!;
    const leases = await readLeases(lab);
    await node2.ip("link", "del", vxlanDevice);
    const since = Date.now();
    await waitVxlanRestored(node2, leases, since, "the vxlan device");
    await assertReach("after the vxlan device came back");
    // The device kept its MAC, so the lease (read by every peer) did not have to change.
    assert.equal(leaseOf(await readLeases(lab), node2).raw, leaseOf(leases, node2).raw);
  });

  test("a masquerade rule deleted by hand is put back within one resync", async () => {
    const lab = theLab();
    const node3 = lab.nodes[2]!;
    const own = leaseOf(await readLeases(lab), node3);
    const expected = flannelMasqRules(network, own.subnet);
    await node3.exec(["iptables", "-t", "nat", "-D", "FLANNEL-POSTRTG", "-s", network, "!", "-d", "224.0.0.0/4", "-m", "comment", "--comment", "flanneld masq", "-j", "MASQUERADE", "--random-fully"]);
    assert.notDeepEqual(await natMasqRules(node3), expected, "the rule was not deleted");
    await waitFor(async () => JSON.stringify(await natMasqRules(node3)) === JSON.stringify(expected), {
      what: "the masquerade rules restored on node3",
      timeoutMs: oneResyncDeadlineMs,
      intervalMs: 100,
    });
    await assertReach("after the masquerade rule came back");
  });

  // Destructive: runs last; node3 is started again afterwards.
  test("deleting a node's lease in etcd removes its entries from the other nodes and its agent exits 0", async () => {
    const lab = theLab();
    const [node1, node2, node3] = [lab.nodes[0]!, lab.nodes[1]!, lab.nodes[2]!];
    const leases = await readLeases(lab);
    const gone = leaseOf(leases, node3);
    const exited = node3.flanneld.exited;
    assert.ok(exited !== undefined, "flanneld on node3 is not running");
    await labEtcd(lab).etcdctl("del", `${subnetsPrefix}${gone.key}`);
    const since = Date.now();

    const remaining = new Map([...leases].filter(([publicIP]) => publicIP !== node3.publicIP));
    for (const node of [node1, node2]) {
      const expected = flannelVxlanState([node1, node2], node, remaining);
      await waitFor(async () => JSON.stringify(await vxlanState(node)) === JSON.stringify(expected), {
        what: `node3's route, neighbour and FDB entry gone from ${node.name}`,
        timeoutMs: oneResyncDeadlineMs - (Date.now() - since),
        intervalMs: 100,
      });
    }
    // Flannel: its lease was revoked → the agent shuts down, exit code 0.
    const exit = await waitFor(() => Promise.race([exited, sleep(200, undefined)]), {
      what: "flanneld on node3 to exit",
      timeoutMs: 15_000,
    });
    assert.deepEqual(exit, { code: 0, signal: null }, node3.flanneld.logTail(15));

    // Restore: node3's agent comes back, takes a lease again, and the cluster converges.
    node3.flanneld.start();
    await node3.flanneld.waitReady({ timeoutMs: 20_000 });
    const after = await readLeases(lab);
    assert.equal(after.size, 3);
    for (const node of lab.nodes) {
      await waitFor(async () => JSON.stringify(await vxlanState(node)) === JSON.stringify(flannelVxlanState(lab.nodes, node, after)), {
        what: `${node.name} programmed again after node3 rejoined`,
        timeoutMs: oneResyncDeadlineMs,
        intervalMs: 100,
      });
    }
    // Its subnet.env names the old subnet, which is free again: Flannel takes it back (the hint).
    assert.equal(leaseOf(after, node3).key, gone.key, "node3 came back with another subnet");
    await assertReach("after node3 rejoined");
  });
});
