// A resync with nothing changed reads nothing: once a clean run is vouched for by the kernel's
// change feed, the timer's resync of 5000 peers costs no dump at all. Anything that touches the
// backend's devices — an entry deleted by hand — makes the next resync read and repair again.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Backend, Peer, ReconcileReport } from "../../../backends/backend.ts";
import { spawnCoprocess, type CoprocessSpawner } from "../../../backends/kernel/batch-process.ts";
import { openKernel, type Kernel } from "../../../backends/kernel/kernel.ts";
import { createHostGwBackend } from "../../../backends/hostgw/hostgw-backend.ts";
import { parseCidr, parseIp, type Cidr } from "../../../backends/net/ip.ts";
import { createVxlanBackend } from "../../../backends/vxlan/vxlan-backend.ts";
import { needsRoot } from "../../support/root.ts";
import { createCluster, type Cluster, type ClusterNode } from "./cluster-fixture.ts";

const signal = (): AbortSignal => AbortSignal.timeout(30_000);
const own: Cidr = parseCidr("10.244.250.0/24")!;

/** Every `show` line sent to a read coprocess (`ip -json … -batch -`), counted. */
function countingSpawner(): { spawner: CoprocessSpawner; reads: () => number } {
  let reads = 0;
  const spawner: CoprocessSpawner = (argv) => {
    const child = spawnCoprocess(argv);
    if (argv.includes("-json")) {
      const write = child.stdin.write.bind(child.stdin) as (chunk: string) => boolean;
      (child.stdin as { write: (chunk: string) => boolean }).write = (chunk: string) => {
        reads += chunk.split("\n").filter((line) => / show /.test(` ${line} `) && !line.endsWith(" .")).length;
        return write(chunk);
      };
    }
    return child;
  };
  return { spawner, reads: () => reads };
}

function peers(type: string, count: number): Peer[] {
  return Array.from({ length: count }, (_, i) => ({
    subnet: parseCidr(`10.244.${i + 10}.0/24`)!,
    publicIP: parseIp(`198.18.0.${i + 10}`)!,
    backendType: type,
    ...(type === "vxlan" ? { backendData: { VNI: 1, VtepMAC: `0e:00:00:00:00:${(i + 10).toString(16).padStart(2, "0")}` } } : {}),
  }));
}

const counts = (report: ReconcileReport) => ({ added: report.added, removed: report.removed, repaired: report.repaired, errors: report.errors.map((e) => e.message) });
const nothing = { added: 0, removed: 0, repaired: 0, errors: [] };

for (const type of ["vxlan", "host-gw"] as const) {
  describe(`${type}: a resync while nothing changed`, { skip: needsRoot }, () => {
    let cluster: Cluster;
    let node: ClusterNode;
    let kernel: Kernel;
    let backend: Backend;
    let reads: () => number;
    const set = peers(type, 20);

    before(async () => {
      cluster = await createCluster(1);
      node = cluster.nodes[0]!;
      const counting = countingSpawner();
      reads = counting.reads;
      kernel = openKernel({ prefix: ["ip", "netns", "exec", node.ns.name], spawner: counting.spawner });
      backend = type === "vxlan" ? createVxlanBackend({ kernel, log: node.log }) : createHostGwBackend({ kernel, log: node.log });
      const local = await node.local({ Type: type });
      await backend.prepare(local, signal());
      await backend.configure({ subnet: own }, signal());
      assert.deepEqual(counts(await backend.reconcile(set, signal())).errors, []);
      assert.equal(await kernel.changes.ready(), true);
      // The first run's stamp was taken before the feed listened: one more clean run is vouched for.
      // A fresh namespace is still settling (IPv6 address configuration on eth0 notifies its link
      // for a second or two): resync until a run reads nothing, then the tests start.
      const settleUntil = Date.now() + 10_000;
      for (;;) {
        const before = reads();
        assert.deepEqual(counts(await backend.reconcile(set, signal(), "resync")), nothing);
        if (reads() === before || Date.now() > settleUntil) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });
    after(async () => {
      await backend?.close();
      await kernel?.close();
      await cluster?.remove();
    });

    test("reads nothing from the kernel", async () => {
      const before = reads();
      for (let i = 0; i < 3; i++) assert.deepEqual(counts(await backend.reconcile(set, signal(), "resync")), nothing);
      assert.equal(reads() - before, 0);
    });

    test("a full reconcile reads everything all the same", async () => {
      const before = reads();
      assert.deepEqual(counts(await backend.reconcile(set, signal(), "full")), nothing);
      assert.ok(reads() - before > 0);
    });

    test("a route deleted by hand is seen by the next resync, which reads and repairs it", async () => {
      await backend.reconcile(set, signal(), "resync");
      const before = reads();
      await node.ip("route", "del", "10.244.12.0/24");
      assert.deepEqual(counts(await backend.reconcile(set, signal(), "resync")), { ...nothing, repaired: 1 });
      assert.ok(reads() - before > 0);
    });

    test("a new peer set is read against even with a quiet kernel", async () => {
      await backend.reconcile(set, signal(), "resync");
      const before = reads();
      const fewer = set.slice(1);
      const report = await backend.reconcile(fewer, signal(), "resync");
      assert.equal(report.removed, type === "vxlan" ? 3 : 1);
      assert.ok(reads() - before > 0);
      await backend.reconcile(set, signal(), "full");
    });
  });
}
