// The vxlan backend against real kernels: three node namespaces on one underlay, each running
// the backend through the production kernel layer. The kernel objects are checked field by
// field against what Flannel creates, and pod addresses (10.244.N.1 on cni0) ping each other
// across the overlay. Then the kernel is disturbed by hand — entries deleted or changed, stale
// entries of "a previous run" added, the device deleted — and reconcile must put it right.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Backend, PreparedBackend, ReconcileReport } from "../../../backends/backend.ts";
import { createVxlanBackend } from "../../../backends/vxlan/vxlan-backend.ts";
import { needsRoot } from "../../support/root.ts";
import { allPairs, assertAllPing, createCluster, othersOf, peerOf, type Cluster, type ClusterNode } from "../reconcile/cluster-fixture.ts";

type Json = Record<string, unknown>;

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

function counts(report: ReconcileReport): { added: number; removed: number; repaired: number; errors: string[] } {
  return { added: report.added, removed: report.removed, repaired: report.repaired, errors: report.errors.map((e) => e.message) };
}

describe("vxlan backend in three node namespaces", { skip: needsRoot }, () => {
  let cluster: Cluster;
  let nodes: readonly ClusterNode[];
  const backends: Backend[] = [];
  const prepared: PreparedBackend[] = [];

  const macOf = (node: ClusterNode): string => (prepared[node.n - 1]?.backendData as { VtepMAC: string }).VtepMAC;
  const others = (node: ClusterNode): ClusterNode[] => othersOf(nodes, node);
  const peersOf = (node: ClusterNode, of: ClusterNode[] = others(node)) => of.map((other) => peerOf(other, "vxlan", prepared[other.n - 1]?.backendData));
  const reconcile = (node: ClusterNode, of?: ClusterNode[]) => backends[node.n - 1]!.reconcile(peersOf(node, of), signal());

  /** flannel.1's neighbours, FDB entries and routes, as `ip`/`bridge` print them. */
  async function overlay(node: ClusterNode) {
    const neighbours = await node.json<Json[]>("neigh", "show", "dev", "flannel.1");
    const fdb = await node.fdb("flannel.1");
    const routes = await node.json<Json[]>("route", "show", "dev", "flannel.1");
    return {
      neighbours: neighbours.map((n) => `${n.dst} lladdr ${n.lladdr} ${(n.state as string[]).join(",")}`).sort(),
      fdb: fdb.map((f) => `${f.mac} dst ${f.dst} ${(f.flags as string[]).join(",")} ${f.state}`).sort(),
      routes: routes.map((r) => `${r.dst} via ${r.gateway} ${(r.flags as string[]).join(",")}`).sort(),
    };
  }

  /** What Flannel programs on `node` for `peers`: one neighbour, FDB entry and onlink route each. */
  function flannelOverlay(peers: ClusterNode[]) {
    return {
      neighbours: peers.map((p) => `10.244.${p.n}.0 lladdr ${macOf(p)} PERMANENT`).sort(),
      fdb: peers.map((p) => `${macOf(p)} dst ${p.address} self permanent`).sort(),
      routes: peers.map((p) => `10.244.${p.n}.0/24 via 10.244.${p.n}.0 onlink`).sort(),
    };
  }

  const allNodePairs = (): [ClusterNode, ClusterNode][] => allPairs(nodes);

  before(async () => {
    cluster = await createCluster(3);
    nodes = cluster.nodes;
    for (const node of nodes) backends.push(createVxlanBackend({ kernel: node.kernel, log: node.log }));
  });

  after(async () => {
    for (const backend of backends) await backend.close();
    await cluster?.remove();
  });

  test("before the backend runs, pods on different nodes cannot reach each other", async () => {
    const [a, b] = nodes;
    assert.equal(await a!.ping(b!, 1), false);
  });

  test("prepare creates flannel.1 with Flannel's attributes and advertises its MAC", async () => {
    for (const node of nodes) {
      // A stray address inside the network, as an earlier lease could have left it.
      if (node.n === 1) {
        await node.ip("link", "add", "flannel.1", "type", "vxlan", "id", "1", "dev", "eth0", "local", node.address, "nolearning", "dstport", "0");
        await node.ip("addr", "add", "10.244.77.0/32", "dev", "flannel.1");
      }
      const result = await backends[node.n - 1]!.prepare(await node.local({ Type: "vxlan" }), signal());
      prepared.push(result);
      const [link] = await node.json<Json[]>("-d", "link", "show", "flannel.1");
      assert.ok(link !== undefined);
      const info = (link.linkinfo as Json).info_data as Json;
      assert.deepEqual(
        {
          kind: (link.linkinfo as Json).info_kind,
          id: info.id,
          local: info.local,
          underlay: info.link,
          port: info.port,
          learning: info.learning,
          mtu: link.mtu,
          up: (link.flags as string[]).includes("UP"),
        },
        { kind: "vxlan", id: 1, local: node.address, underlay: "eth0", port: 8472, learning: false, mtu: 1450, up: true },
      );
      assert.deepEqual(result, { backendData: { VNI: 1, VtepMAC: link.address }, mtu: 1450 });
      // Flannel's VTEP MAC: locally administered, unicast.
      const firstByte = Number.parseInt(String(link.address).slice(0, 2), 16);
      assert.equal(firstByte & 0x03, 0x02);
      const { stdout } = await node.ns.exec(["sysctl", "-n", "net.ipv6.conf.flannel/1.accept_ra"]);
      assert.equal(stdout.trim(), "0");
    }
    assert.equal(nodes[0]!.log.find("created").length, 0, "node 1's compatible device is adopted, not recreated");
    assert.equal(nodes[0]!.log.find("adopted").length, 1);
  });

  test("configure puts <subnet address>/32 on flannel.1 and removes other addresses", async () => {
    for (const node of nodes) {
      await backends[node.n - 1]!.configure({ subnet: node.subnet }, signal());
      const [link] = await node.json<Json[]>("addr", "show", "dev", "flannel.1");
      const v4 = (link?.addr_info as Json[]).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
      assert.deepEqual(v4, [`10.244.${node.n}.0/32`]);
    }
  });

  test("the first reconcile adds a neighbour, an FDB entry and an onlink route per peer, exactly as Flannel does", async () => {
    for (const node of nodes) {
      assert.deepEqual(counts(await reconcile(node)), { added: 6, removed: 0, repaired: 0, errors: [] });
      assert.deepEqual(await overlay(node), flannelOverlay(others(node)));
    }
  });

  test("pods on every node reach pods on every other node through the overlay", async () => {
    await assertAllPing(allNodePairs());
  });

  test("a second reconcile changes nothing", async () => {
    for (const node of nodes) assert.deepEqual(counts(await reconcile(node)), { added: 0, removed: 0, repaired: 0, errors: [] });
  });

  test("a route deleted by hand comes back", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.ip("route", "del", "10.244.3.0/24", "dev", "flannel.1");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 0, repaired: 1, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b, c]));
  });

  test("an FDB entry deleted by hand comes back", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.bridge("fdb", "del", macOf(c), "dev", "flannel.1", "dst", c.address, "self");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 0, repaired: 1, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b, c]));
    await assertAllPing([[a, c]]);
  });

  test("a neighbour deleted by hand comes back", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.ip("neigh", "del", "10.244.2.0", "dev", "flannel.1");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 0, repaired: 1, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b, c]));
  });

  test("entries changed by hand are replaced", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.ip("neigh", "replace", "10.244.2.0", "lladdr", "0a:bb:bb:bb:bb:bb", "dev", "flannel.1", "nud", "permanent");
    await a.bridge("fdb", "replace", macOf(c), "dev", "flannel.1", "dst", "198.18.0.99", "self", "permanent");
    await a.ip("route", "replace", "10.244.3.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 0, repaired: 3, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b, c]));
    await assertAllPing([[a, b], [a, c]]);
  });

  test("stale entries of a previous run are deleted; what is not flannel's is left alone", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    // Leftovers of a peer that went away while the agent was down, and of a DirectRouting run.
    await a.ip("route", "add", "10.244.99.0/24", "via", "10.244.99.0", "dev", "flannel.1", "onlink");
    await a.ip("neigh", "add", "10.244.99.0", "lladdr", "0a:99:99:99:99:99", "dev", "flannel.1", "nud", "permanent");
    await a.bridge("fdb", "add", "0a:99:99:99:99:99", "dev", "flannel.1", "dst", "198.18.0.99", "self", "permanent");
    await a.ip("route", "add", "10.244.98.0/24", "via", "198.18.0.3", "dev", "eth0");
    // Not flannel's: a route outside the cluster network, a neighbour on the underlay.
    await a.ip("route", "add", "192.0.2.0/24", "via", "198.18.0.254", "dev", "eth0");
    await a.ip("neigh", "add", "198.18.0.77", "lladdr", "0a:77:77:77:77:77", "dev", "eth0", "nud", "permanent");
    const before = await a.json<Json[]>("route", "show", "table", "main");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 4, repaired: 0, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b, c]));
    const remaining = (await a.json<Json[]>("route", "show", "table", "main")).map((r) => `${r.dst} ${r.dev}`);
    assert.deepEqual(
      remaining,
      before.map((r) => `${r.dst} ${r.dev}`).filter((r) => !r.startsWith("10.244.99.0/24") && !r.startsWith("10.244.98.0/24")),
    );
    for (const kept of ["default eth0", "10.244.1.0/24 cni0", "192.0.2.0/24 eth0", "198.18.0.0/24 eth0"]) assert.ok(remaining.includes(kept), kept);
    const eth0Neighbours = await a.json<Json[]>("neigh", "show", "dev", "eth0");
    assert.ok(eth0Neighbours.some((n) => n.dst === "198.18.0.77"));
  });

  test("a deleted vxlan device is recreated with its MAC and every peer replayed", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await b.ip("link", "del", "flannel.1");
    assert.equal(await a.ping(b, 1), false);
    assert.deepEqual(counts(await reconcile(b)), { added: 0, removed: 0, repaired: 1 + 1 + 6, errors: [] }); // device, address, entries
    const [link] = await b.json<Json[]>("-d", "link", "show", "flannel.1");
    assert.equal(link?.address, macOf(b));
    assert.equal(link?.mtu, 1450);
    assert.equal(((link?.linkinfo as Json).info_data as Json).local, b.address);
    assert.deepEqual(await overlay(b), flannelOverlay([a, c]));
    assert.equal(b.log.find("is gone", "warn").length, 1);
    await assertAllPing(allNodePairs());
  });

  test("a removed peer's neighbour, FDB entry and route are deleted", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    assert.deepEqual(counts(await reconcile(a, [b])), { added: 0, removed: 3, repaired: 0, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b]));
    await assertAllPing([[a, b]]);
    assert.equal(await a.ping(c, 1), false);
  });

  test("a peer with unusable backend data is skipped with an error; the rest is programmed", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const peers = [peerOf(b, "vxlan", prepared[1]?.backendData), peerOf(c, "vxlan", { VNI: 1, VtepMAC: "not-a-mac" })];
    const report = await backends[0]!.reconcile(peers, signal());
    assert.deepEqual([report.added, report.removed, report.repaired], [0, 0, 0]);
    assert.deepEqual(report.errors.map((e) => [e.code, e.details.peer]), [["lease-invalid", "10.244.3.0/24"]]);
    assert.deepEqual(counts(await reconcile(a)), { added: 3, removed: 0, repaired: 0, errors: [] });
    assert.deepEqual(await overlay(a), flannelOverlay([b, c]));
  });

  test("DirectRouting: peers on the same segment get a direct route instead, the overlay entries go", async () => {
    for (const node of nodes) {
      const result = await backends[node.n - 1]!.prepare(await node.local({ Type: "vxlan", DirectRouting: true }), signal());
      assert.deepEqual(result, prepared[node.n - 1], "the device is adopted: same MAC, same data");
      await backends[node.n - 1]!.configure({ subnet: node.subnet }, signal());
      assert.deepEqual(counts(await reconcile(node)), { added: 0, removed: 4, repaired: 2, errors: [] });
      assert.deepEqual(await overlay(node), { neighbours: [], fdb: [], routes: [] });
      const direct = (await node.json<Json[]>("route", "show", "dev", "eth0")).filter((r) => String(r.dst).startsWith("10.244."));
      assert.deepEqual(
        direct.map((r) => `${r.dst} via ${r.gateway}`),
        others(node).map((p) => `10.244.${p.n}.0/24 via ${p.address}`),
      );
    }
    await assertAllPing(allNodePairs());
    for (const node of nodes) assert.deepEqual(counts(await reconcile(node)), { added: 0, removed: 0, repaired: 0, errors: [] });
  });

  test("close is idempotent and leaves the data plane in place", async () => {
    for (const backend of backends) {
      await backend.close();
      await backend.close();
    }
    await assertAllPing([[nodes[0]!, nodes[1]!]]);
    await assert.rejects(backends[0]!.reconcile([], signal()));
  });
});
