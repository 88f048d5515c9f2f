// vxlan in a dual-stack cluster: the same code programs flannel-v6.<VNI> (IPv6 underlay, v6 VTEP
// address, neighbours, FDB entries and onlink routes) next to flannel.<VNI>, and IPv6 pod
// addresses reach each other through it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Backend, PreparedBackend } from "../../../backends/backend.ts";
import { createVxlanBackend } from "../../../backends/vxlan/vxlan-backend.ts";
import { needsRoot } from "../../support/root.ts";
import { createCluster, peerOf, type Cluster, type ClusterNode } from "../reconcile/cluster-fixture.ts";

type Json = Record<string, unknown>;

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

describe("vxlan backend, dual stack, in two node namespaces", { skip: needsRoot }, () => {
  let cluster: Cluster;
  let nodes: readonly ClusterNode[];
  const backends: Backend[] = [];
  const prepared: PreparedBackend[] = [];
  const other = (node: ClusterNode): ClusterNode => nodes.find((candidate) => candidate !== node)!;
  const peers = (node: ClusterNode) => [peerOf(other(node), "vxlan", prepared[other(node).n - 1]?.backendData, prepared[other(node).n - 1]?.backendV6Data)];

  before(async () => {
    cluster = await createCluster(2, { ipv6: true });
    nodes = cluster.nodes;
    for (const node of nodes) backends.push(createVxlanBackend({ kernel: node.kernel, log: node.log }));
  });

  after(async () => {
    for (const backend of backends) await backend.close();
    await cluster?.remove();
  });

  test("prepare creates flannel-v6.1 on the IPv6 underlay and advertises its MAC as BackendV6Data", async () => {
    for (const node of nodes) {
      const result = await backends[node.n - 1]!.prepare(await node.local({ Type: "vxlan" }), signal());
      prepared.push(result);
      const [link] = await node.json<Json[]>("-d", "link", "show", "flannel-v6.1");
      const info = (link?.linkinfo as Json).info_data as Json;
      // Asked for 1500 − 50 like Flannel; the kernel clamps a vxlan device on an IPv6 underlay
      // to 1500 − 70 (the outer IPv6 header is 20 bytes longer) without a word.
      assert.deepEqual([info.id, info.local6, info.port, info.learning, link?.mtu], [1, `2001:db8::${node.n}`, 8472, false, 1430]);
      assert.deepEqual(result.backendV6Data, { VNI: 1, VtepMAC: link?.address });
      assert.notDeepEqual(result.backendV6Data, result.backendData);
      // The pod MTU is what both devices carry: the smaller one, read back.
      assert.equal(result.mtu, 1430);
      await backends[node.n - 1]!.configure({ subnet: node.subnet, subnetV6: node.subnetV6 }, signal());
      const [addresses] = await node.json<Json[]>("addr", "show", "dev", "flannel-v6.1");
      const global = (addresses?.addr_info as Json[]).filter((a) => a.family === "inet6" && a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`);
      assert.deepEqual(global, [`fd00:0:0:${node.n}::/128`]);
    }
  });

  test("reconcile programs both families, and pods reach each other over IPv4 and IPv6", async () => {
    for (const node of nodes) {
      const report = await backends[node.n - 1]!.reconcile(peers(node), signal());
      assert.deepEqual([report.added, report.removed, report.repaired, report.errors], [6, 0, 0, []]);
      const peer = other(node);
      const v6Mac = (prepared[peer.n - 1]?.backendV6Data as { VtepMAC: string }).VtepMAC;
      const neighbours = await node.json<Json[]>("-6", "neigh", "show", "dev", "flannel-v6.1");
      assert.deepEqual(neighbours.filter((n) => (n.state as string[]).includes("PERMANENT")).map((n) => [n.dst, n.lladdr]), [[`fd00:0:0:${peer.n}::`, v6Mac]]);
      const fdb = await node.fdb("flannel-v6.1");
      assert.deepEqual(fdb.map((f) => [f.mac, f.dst, f.state]), [[v6Mac, `2001:db8::${peer.n}`, "permanent"]]);
      // The kernel's own route for the /128 is not flannel's: only routes through a gateway count.
      const routes = (await node.json<Json[]>("-6", "route", "show", "dev", "flannel-v6.1")).filter((r) => r.gateway !== undefined);
      assert.deepEqual(routes.map((r) => [r.dst, r.gateway, r.flags]), [[`fd00:0:0:${peer.n}::/64`, `fd00:0:0:${peer.n}::`, ["onlink"]]]);
    }
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    assert.ok(await a.ping(b));
    assert.ok(await a.ping6(b));
    assert.ok(await b.ping6(a));
    for (const node of nodes) {
      const report = await backends[node.n - 1]!.reconcile(peers(node), signal());
      assert.deepEqual([report.added, report.removed, report.repaired, report.errors.length], [0, 0, 0, 0]);
    }
  });

  test("a deleted flannel-v6.1 comes back with its MAC and its peer", async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    await b.ip("link", "del", "flannel-v6.1");
    const report = await backends[1]!.reconcile(peers(b), signal());
    assert.deepEqual([report.added, report.removed, report.repaired, report.errors], [0, 0, 1 + 1 + 3, []]);
    const [link] = await b.json<Json[]>("link", "show", "flannel-v6.1");
    assert.equal(link?.address, (prepared[1]?.backendV6Data as { VtepMAC: string }).VtepMAC);
    assert.ok(await a.ping6(b));
  });
});
