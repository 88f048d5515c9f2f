// The host-gw backend against real kernels: three node namespaces on one L2 underlay. Each
// node's routes are checked against Flannel's (`<peer subnet> via <peer PublicIP> dev eth0`),
// pod addresses ping each other across nodes, and hand-made drift — deleted routes, a wrong
// gateway, stale routes of a previous run — is put right by the next reconcile.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Backend, ReconcileReport } from "../../../backends/backend.ts";
import { isFlannelError } from "../../../backends/errors.ts";
import { createHostGwBackend } from "../../../backends/hostgw/hostgw-backend.ts";
import { parseIp } from "../../../backends/net/ip.ts";
import { needsRoot } from "../../support/root.ts";
import { allPairs, assertAllPing, createCluster, othersOf, peerOf, type Cluster, type ClusterNode } from "../reconcile/cluster-fixture.ts";

type Json = Record<string, unknown>;

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

function counts(report: ReconcileReport): { added: number; removed: number; repaired: number; errors: string[] } {
  return { added: report.added, removed: report.removed, repaired: report.repaired, errors: report.errors.map((e) => e.message) };
}

describe("host-gw backend in three node namespaces", { skip: needsRoot }, () => {
  let cluster: Cluster;
  let nodes: readonly ClusterNode[];
  const backends: Backend[] = [];

  const others = (node: ClusterNode): ClusterNode[] => othersOf(nodes, node);
  const reconcile = (node: ClusterNode, of: ClusterNode[] = others(node)) =>
    backends[node.n - 1]!.reconcile(of.map((other) => peerOf(other, "host-gw")), signal());

  /** The node's routes into the cluster network, as `ip` prints them. */
  async function podRoutes(node: ClusterNode): Promise<string[]> {
    const routes = await node.json<Json[]>("route", "show", "table", "main");
    return routes
      .filter((r) => String(r.dst).startsWith("10.244.") && r.dev !== "cni0")
      .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}${(r.flags as string[]).length > 0 ? ` ${(r.flags as string[]).join(",")}` : ""}`)
      .sort();
  }

  const flannelRoutes = (peers: ClusterNode[]): string[] => peers.map((p) => `10.244.${p.n}.0/24 via ${p.address} dev eth0`).sort();

  const allNodePairs = (): [ClusterNode, ClusterNode][] => allPairs(nodes);

  before(async () => {
    cluster = await createCluster(3);
    nodes = cluster.nodes;
    for (const node of nodes) backends.push(createHostGwBackend({ kernel: node.kernel, log: node.log }));
  });

  after(async () => {
    for (const backend of backends) await backend.close();
    await cluster?.remove();
  });

  test("refuses to run behind NAT (a PublicIP that is not the interface's)", async () => {
    const node = nodes[0]!;
    const local = { ...(await node.local({ Type: "host-gw" })), extAddr: parseIp("203.0.113.1")! };
    await assert.rejects(backends[0]!.prepare(local, signal()), (error) => isFlannelError(error, "interface-invalid") && /probably you're on a NAT/.test(error.message));
  });

  test("prepare advertises no backend data and the external link's MTU", async () => {
    for (const node of nodes) {
      assert.deepEqual(await backends[node.n - 1]!.prepare(await node.local({ Type: "host-gw" }), signal()), { mtu: 1500 });
      await backends[node.n - 1]!.configure({ subnet: node.subnet }, signal());
    }
    assert.equal(await nodes[0]!.ping(nodes[1]!, 1), false);
  });

  test("the first reconcile adds one route per peer via its PublicIP, exactly as Flannel does", async () => {
    for (const node of nodes) {
      assert.deepEqual(counts(await reconcile(node)), { added: 2, removed: 0, repaired: 0, errors: [] });
      assert.deepEqual(await podRoutes(node), flannelRoutes(others(node)));
    }
  });

  test("pods on every node reach pods on every other node", async () => {
    await assertAllPing(allNodePairs());
  });

  test("a second reconcile changes nothing", async () => {
    for (const node of nodes) assert.deepEqual(counts(await reconcile(node)), { added: 0, removed: 0, repaired: 0, errors: [] });
  });

  test("a route deleted by hand comes back", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.ip("route", "del", "10.244.2.0/24");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 0, repaired: 1, errors: [] });
    assert.deepEqual(await podRoutes(a), flannelRoutes([b, c]));
    await assertAllPing([[a, b]]);
  });

  test("a route with the wrong gateway is replaced", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.ip("route", "replace", "10.244.2.0/24", "via", c.address, "dev", "eth0");
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 0, repaired: 1, errors: [] });
    assert.deepEqual(await podRoutes(a), flannelRoutes([b, c]));
  });

  test("stale routes of a previous run are deleted; routes that are not flannel's are left alone", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    await a.ip("route", "add", "10.244.99.0/24", "via", c.address, "dev", "eth0");
    await a.ip("route", "add", "192.0.2.0/24", "via", "198.18.0.254", "dev", "eth0");
    const before = (await a.json<Json[]>("route", "show", "table", "main")).map((r) => `${r.dst} ${r.dev}`);
    assert.deepEqual(counts(await reconcile(a)), { added: 0, removed: 1, repaired: 0, errors: [] });
    assert.deepEqual(await podRoutes(a), flannelRoutes([b, c]));
    const after = (await a.json<Json[]>("route", "show", "table", "main")).map((r) => `${r.dst} ${r.dev}`);
    assert.deepEqual(after, before.filter((r) => r !== "10.244.99.0/24 eth0"));
    for (const kept of ["default eth0", "10.244.1.0/24 cni0", "192.0.2.0/24 eth0", "198.18.0.0/24 eth0"]) assert.ok(after.includes(kept), kept);
  });

  test("a removed peer's route is deleted", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    assert.deepEqual(counts(await reconcile(a, [b])), { added: 0, removed: 1, repaired: 0, errors: [] });
    assert.deepEqual(await podRoutes(a), flannelRoutes([b]));
    assert.equal(await a.ping(c, 1), false);
    assert.deepEqual(counts(await reconcile(a)), { added: 1, removed: 0, repaired: 0, errors: [] });
    await assertAllPing([[a, c]]);
  });

  test("close is idempotent and leaves the routes in place", async () => {
    for (const backend of backends) {
      await backend.close();
      await backend.close();
    }
    await assertAllPing([[nodes[0]!, nodes[2]!]]);
  });
});
