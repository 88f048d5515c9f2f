// The udp data plane resumed from the previous run's snapshot (backends/udp/resume.ts), against
// real kernels: node namespaces on one underlay, each backend in a process of its own. A new
// process forwards with the saved table before its backend is prepared or configured — what cuts
// an agent restart's gap to the process start — and configure keeps that data plane when the
// options are the same, replaces it when they are not. Nothing is resumed, and nothing created,
// without the previous flannel0 or while another process holds it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { readSnapshot } from "../../../backends/udp/data-plane-snapshot.ts";
import { needsRoot } from "../../support/root.ts";
import { createCluster, othersOf, type Cluster, type ClusterNode } from "../reconcile/cluster-fixture.ts";
import { needsAddon, startDriver, type UdpDriver } from "./udp-fixture.ts";

const skip = needsRoot || needsAddon;

describe("udp data plane resumed from the previous run's snapshot", { skip, timeout: 180_000 }, () => {
  let cluster: Cluster;
  let nodes: readonly ClusterNode[];
  const drivers = new Map<number, UdpDriver>();
  const started: UdpDriver[] = [];
  const dir = mkdtempSync(join(tmpdir(), "flannel-ts-resume-"));
  const snapshotOf = (node: ClusterNode): string => join(dir, `node${node.n}.json`);
  const optionsOf = (node: ClusterNode, queues = 1) => ({ tunName: "flannel0", bindAddress: node.address, port: 8285, mtu: 1472, ownSubnet: `10.244.${node.n}.0/24`, network: "10.244.0.0/16", queues });
  const peersOf = (node: ClusterNode) => othersOf(nodes.slice(0, 2), node).map((other) => ({ subnet: `10.244.${other.n}.0/24`, publicIP: other.address }));

  /** A driver that resumes from (and keeps) the node's snapshot; not yet prepared. */
  function startOn(node: ClusterNode): UdpDriver {
    const d = startDriver(node.ns.name, snapshotOf(node));
    drivers.set(node.n, d);
    started.push(d);
    return d;
  }

  async function prepareAndConfigure(d: UdpDriver, node: ClusterNode, queues = 1): Promise<void> {
    await d.send({ op: "prepare", device: "eth0", address: node.address, network: "10.244.0.0/16", backendConfig: { Type: "udp", Queues: queues } });
    await d.send({ op: "configure", subnet: `10.244.${node.n}.0/24` });
  }

  async function bringUp(node: ClusterNode): Promise<UdpDriver> {
    const d = startOn(node);
    await prepareAndConfigure(d, node);
    await d.send({ op: "reconcile", peers: peersOf(node) });
    return d;
  }

  before(async () => {
    cluster = await createCluster(3);
    nodes = cluster.nodes;
    // Nodes 1 and 2 run the backend; node 3 never does (no flannel0 there).
    for (const node of nodes.slice(0, 2)) await bringUp(node);
    assert.ok(await nodes[0]!.ping(nodes[1]!), "node1 → node2 before any restart");
  });

  after(async () => {
    for (const d of started) await d.stop();
    await cluster?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test("closed, the backend leaves its options and table; a new process forwards with them before it is prepared, and configure keeps that data plane", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await drivers.get(b.n)!.stop();
    assert.deepEqual(readSnapshot(snapshotOf(b)), { options: optionsOf(b), peers: peersOf(b) });
    const d = startOn(b);
    assert.deepEqual(await d.send({ op: "resumed" }), { peers: 1, options: optionsOf(b) });
    assert.ok(await a.ping(b), "node1 → node2 through the resumed data plane, node2's backend not even prepared");
    await prepareAndConfigure(d, b);
    assert.match(d.log(), /udp data plane kept: the one resumed at start/);
    assert.doesNotMatch(d.log(), /"message":"udp data plane open"/, "no second data plane was opened");
    await d.send({ op: "reconcile", peers: peersOf(b) });
    assert.ok(await a.ping(b), "node1 → node2 after the first reconcile");
  });

  test("killed, the table saved within a second of its last change still resumes", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const d = drivers.get(b.n)!;
    // A change the snapshot must follow: node3 added, then removed again.
    const node3 = { subnet: "10.244.3.0/24", publicIP: nodes[2]!.address };
    await d.send({ op: "apply", changes: [{ kind: "added", ...node3 }] });
    await sleep(1500);
    assert.deepEqual(readSnapshot(snapshotOf(b)), { options: optionsOf(b), peers: [...peersOf(b), node3] });
    await d.send({ op: "apply", changes: [{ kind: "removed", ...node3 }] });
    await sleep(1500);
    await d.stop(true);
    const resumed = startOn(b);
    assert.deepEqual(await resumed.send({ op: "resumed" }), { peers: 1, options: optionsOf(b) });
    assert.ok(await a.ping(b), "node1 → node2 through the data plane resumed after SIGKILL");
    await prepareAndConfigure(resumed, b);
    await resumed.send({ op: "reconcile", peers: peersOf(b) });
  });

  test("flannel0 held by a running data plane: nothing is resumed, and the log says why", async () => {
    const b = nodes[1]!;
    const second = startDriver(b.ns.name, snapshotOf(b));
    try {
      assert.equal(await second.send({ op: "resumed" }), null);
      assert.match(second.log(), /saved table is not used: udp data plane on flannel0, port 8285: another data plane in this network namespace holds the device .*\(EADDRINUSE\)/);
    } finally {
      await second.stop();
    }
    assert.ok(await nodes[0]!.ping(b), "the running data plane is untouched");
  });

  test("configured with other options (2 queues), the resumed data plane is closed, flannel0 made anew as a multi-queue TUN, and traffic flows", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await drivers.get(b.n)!.stop();
    const d = startOn(b);
    assert.notEqual(await d.send({ op: "resumed" }), null);
    await prepareAndConfigure(d, b, 2);
    assert.match(d.log(), /udp data plane resumed at start is replaced: this run opens it with other options/);
    // The single-queue flannel0 cannot take a multi-queue attachment: made anew.
    assert.match(d.log(), /udp device flannel0 exists but cannot be attached .*recreating it/);
    assert.match(d.log(), /"message":"udp data plane open".*"threads":4/);
    const [link] = await b.json<{ linkinfo?: { info_data?: { multi_queue?: boolean } } }[]>("-d", "link", "show", "flannel0");
    assert.equal(link?.linkinfo?.info_data?.multi_queue, true);
    await d.send({ op: "reconcile", peers: peersOf(b) });
    assert.ok(await a.ping(b), "node1 (one queue) → node2 (two queues): the wire is the same");
    await d.stop();
    assert.deepEqual(readSnapshot(snapshotOf(b)), { options: optionsOf(b, 2), peers: peersOf(b) }, "the new options saved");
    // Back to one queue for whatever runs after.
    await bringUp(b);
    assert.ok(await a.ping(b), "node1 → node2 with one queue again");
  });

  test("without the previous flannel0 nothing is resumed and no device is made", async () => {
    const c = nodes[2]!;
    writeFileSync(snapshotOf(c), `${JSON.stringify({ version: 1, dataPlane: optionsOf(c), peers: peersOf(nodes[0]!) })}\n`);
    const d = startOn(c);
    assert.equal(await d.send({ op: "resumed" }), null);
    assert.match(d.log(), /saved table is not used: flannel0 is gone/);
    const link = await c.ns.exec(["ip", "link", "show", "flannel0"], { allowFailure: true });
    assert.notEqual(link.code, 0, "flannel0 was created");
  });

  test("a malformed snapshot is refused with the reason, and nothing is resumed", async () => {
    const c = nodes[2]!;
    writeFileSync(snapshotOf(c), `{"version":1,"dataPlane":{"tunName":"flannel0"}}\n`);
    const d = startOn(c);
    assert.equal(await d.send({ op: "resumed" }), null);
    assert.match(d.log(), /saved table is not used: dataPlane\.bindAddress is not a string/);
  });
});
