// The udp backend against real kernels: three node namespaces on one underlay, each running the
// backend (and so its native data plane) in a process of its own inside the namespace. flannel0 is
// checked against what Flannel makes (a TUN without packet info, the subnet's /32, MTU eth0 − 28,
// up, one route for the whole Network with scope global), pod addresses ping across it, and then
// the device is disturbed by hand — route or address deleted, MTU changed, set down, deleted —
// and the next reconcile must put it right. Closing leaves flannel0 in place for the next start.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { needsRoot } from "../../support/root.ts";
import { createCluster, othersOf, type Cluster, type ClusterNode } from "../reconcile/cluster-fixture.ts";
import { DriverError, needsAddon, startDriver, type UdpDriver } from "./udp-fixture.ts";

interface Report {
  added: number;
  removed: number;
  repaired: number;
  errors: string[];
}

interface LinkJson {
  ifname: string;
  mtu: number;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { type?: string; pi?: boolean; persist?: boolean } };
}

const skip = needsRoot || needsAddon;

describe("udp backend in three node namespaces", { skip, timeout: 180_000 }, () => {
  let cluster: Cluster;
  let nodes: readonly ClusterNode[];
  const drivers: UdpDriver[] = [];

  const peersOf = (node: ClusterNode, of: readonly ClusterNode[] = othersOf(nodes, node)) =>
    of.map((other) => ({ subnet: `10.244.${other.n}.0/24`, publicIP: other.address }));
  const driver = (node: ClusterNode): UdpDriver => drivers[node.n - 1]!;
  const reconcile = async (node: ClusterNode, of?: readonly ClusterNode[]): Promise<Report> => (await driver(node).send({ op: "reconcile", peers: peersOf(node, of) })) as Report;

  async function bringUp(node: ClusterNode): Promise<void> {
    const d = startDriver(node.ns.name);
    drivers[node.n - 1] = d;
    const prepared = await d.send({ op: "prepare", device: "eth0", address: node.address, network: "10.244.0.0/16", backendConfig: { Type: "udp" } });
    assert.deepEqual(prepared, { mtu: 1472 }, "MTU = eth0's 1500 − 28, and no backend data");
    await d.send({ op: "configure", subnet: `10.244.${node.n}.0/24` });
  }

  async function flannel0(node: ClusterNode) {
    const [link] = await node.json<LinkJson[]>("-d", "link", "show", "flannel0");
    const addresses = (await node.json<Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>>("addr", "show", "dev", "flannel0"))
      .flatMap((entry) => entry.addr_info)
      .filter((address) => address.family === "inet")
      .map((address) => `${address.local}/${address.prefixlen}`);
    const routes = (await node.json<Array<{ dst: string; dev?: string; scope?: string; gateway?: string }>>("route", "show"))
      .filter((route) => route.dev === "flannel0")
      .map((route) => `${route.dst} scope ${route.scope ?? "global"}${route.gateway === undefined ? "" : ` via ${route.gateway}`}`);
    return {
      kind: link?.linkinfo?.info_kind,
      type: link?.linkinfo?.info_data?.type,
      pi: link?.linkinfo?.info_data?.pi,
      persist: link?.linkinfo?.info_data?.persist,
      mtu: link?.mtu,
      up: link?.flags.includes("UP"),
      addresses,
      routes,
    };
  }

  const flannelsDevice = (node: ClusterNode) => ({
    kind: "tun",
    type: "tun",
    pi: false,
    persist: true,
    mtu: 1472,
    up: true,
    addresses: [`10.244.${node.n}.0/32`],
    routes: ["10.244.0.0/16 scope global"],
  });

  async function assertAllPing(): Promise<void> {
    for (const from of nodes) for (const to of othersOf(nodes, from)) assert.ok(await from.ping(to), `node${from.n} → node${to.n}`);
  }

  before(async () => {
    cluster = await createCluster(3);
    nodes = cluster.nodes;
  });

  after(async () => {
    for (const d of drivers) await d?.stop();
    await cluster?.remove();
  });

  test("prepare refuses a bad Port, naming the field", async () => {
    const d = startDriver(nodes[0]!.ns.name);
    try {
      await assert.rejects(
        d.send({ op: "prepare", device: "eth0", address: nodes[0]!.address, network: "10.244.0.0/16", backendConfig: { Type: "udp", Port: "8285" } }),
        (error) => error instanceof DriverError && error.code === "netconf-invalid" && (error.details as { field?: string }).field === "Backend.Port",
      );
    } finally {
      await d.stop();
    }
  });

  test("configure makes flannel0 as Flannel does: TUN without packet info, /32, MTU − 28, up, the Network route", async () => {
    // On node1 a flannel0 that is no TUN holds the name: it is replaced.
    await nodes[0]!.ip("link", "add", "flannel0", "type", "bridge");
    for (const node of nodes) await bringUp(node);
    for (const node of nodes) {
      assert.deepEqual(await flannel0(node), flannelsDevice(node), `flannel0 on node${node.n}`);
      // IPv4 only: no link-local address, so the kernel sends no router solicitations into the TUN;
      // and the data plane's ICMP (from flannel0's own address) is not dropped as a martian.
      const sysctl = await node.ns.exec(["sysctl", "-n", "net.ipv6.conf.flannel0.disable_ipv6", "net.ipv4.conf.flannel0.accept_local"]);
      assert.deepEqual(sysctl.stdout.trim().split("\n"), ["1", "1"]);
    }
  });

  test("with every other node as a peer, pod addresses reach each other through the data plane", async () => {
    const [a, b] = nodes;
    assert.equal(await a!.ping(b!, 1), false, "no peers yet: no traffic");
    for (const node of nodes) {
      const report = await reconcile(node);
      assert.deepEqual(report, { added: 2, removed: 0, repaired: 0, errors: [] });
    }
    await assertAllPing();
    const counters = (await driver(a!).send({ op: "counters" })) as { packets: { tx: number; rx: number }; peers: number };
    assert.ok(counters.packets.tx > 0 && counters.packets.rx > 0, JSON.stringify(counters));
    assert.equal(counters.peers, 2);
  });

  test("a reconcile with nothing changed reports nothing", async () => {
    assert.deepEqual(await reconcile(nodes[0]!), { added: 0, removed: 0, repaired: 0, errors: [] });
  });

  const damages: { name: string; damage: (node: ClusterNode) => Promise<void> }[] = [
    { name: "the Network route deleted", damage: (node) => node.ip("route", "del", "10.244.0.0/16", "dev", "flannel0") },
    { name: "the address deleted", damage: (node) => node.ip("addr", "del", `10.244.${node.n}.0/32`, "dev", "flannel0") },
    { name: "the MTU changed", damage: (node) => node.ip("link", "set", "flannel0", "mtu", "1400") },
    { name: "the device set down (its route goes with it)", damage: (node) => node.ip("link", "set", "flannel0", "down") },
    { name: "the route replaced by one with scope link", damage: (node) => node.ip("route", "replace", "10.244.0.0/16", "dev", "flannel0", "scope", "link") },
  ];
  for (const { name, damage } of damages) {
    test(`${name} by hand: the next reconcile repairs it and traffic flows again`, async () => {
      const node = nodes[0]!;
      await damage(node);
      const report = await reconcile(node);
      assert.ok(report.repaired >= 1, JSON.stringify(report));
      assert.deepEqual(report.errors, []);
      assert.deepEqual(await flannel0(node), flannelsDevice(node));
      assert.ok(await node.ping(nodes[1]!), "node1 → node2 after the repair");
    });
  }

  test("the device deleted by hand: the data plane is reopened with its peers", async () => {
    const node = nodes[0]!;
    await node.ip("link", "del", "flannel0");
    const report = await reconcile(node);
    assert.ok(report.repaired >= 1, JSON.stringify(report));
    assert.deepEqual(report.errors, []);
    assert.deepEqual(await flannel0(node), flannelsDevice(node));
    assert.ok(await node.ping(nodes[1]!), "node1 → node2");
    assert.ok(await nodes[2]!.ping(node), "node3 → node1");
  });

  test("flannel0 replaced by hand with another kind of device: the TUN is made anew with its peers", async () => {
    const node = nodes[0]!;
    await node.ip("link", "del", "flannel0");
    await node.ip("link", "add", "flannel0", "type", "bridge");
    const report = await reconcile(node);
    assert.ok(report.repaired >= 1, JSON.stringify(report));
    assert.deepEqual(report.errors, []);
    assert.deepEqual(await flannel0(node), flannelsDevice(node));
    assert.ok(await node.ping(nodes[1]!), "node1 → node2");
  });

  test("a removed peer gets no more traffic; added back, it does again (incremental apply)", async () => {
    const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const removal = (await driver(a).send({ op: "apply", changes: [{ kind: "removed", subnet: "10.244.3.0/24", publicIP: c.address }] })) as Report;
    assert.deepEqual(removal, { added: 0, removed: 1, repaired: 0, errors: [] });
    assert.equal(await a.ping(c, 2), false, "node1 → node3 after the removal");
    // Not silently dropped: Flannel's ICMP net unreachable (from flannel0's address) reaches the
    // sender, so a TCP connect fails at once with ENETUNREACH instead of timing out.
    const connect =
      `const c=require("node:net").connect({port:7005,host:"${c.podAddress}",localAddress:"${a.podAddress}"});c.on("connect",()=>{console.log("CONNECTED");process.exit(0)});` +
      `c.on("error",(e)=>{console.log("ERROR "+e.code);process.exit(0)});setTimeout(()=>{console.log("TIMEOUT");process.exit(0)},3000);`;
    const attempt = await a.ns.exec([process.execPath, "-e", connect]);
    assert.equal(attempt.stdout.trim(), "ERROR ENETUNREACH");
    const counters = (await driver(a).send({ op: "counters" })) as { drops: { noPeer: number } };
    assert.ok(counters.drops.noPeer >= 1, JSON.stringify(counters));
    assert.ok(await a.ping(b), "node1 → node2 still");
    const addition = (await driver(a).send({ op: "apply", changes: [{ kind: "added", subnet: "10.244.3.0/24", publicIP: c.address }] })) as Report;
    assert.deepEqual(addition, { added: 1, removed: 0, repaired: 0, errors: [] });
    assert.ok(await a.ping(c), "node1 → node3 re-added");
  });

  test("close leaves flannel0 with its address and route; a new process re-attaches and traffic flows again", async () => {
    const node = nodes[1]!;
    await driver(node).stop();
    assert.deepEqual(await flannel0(node), flannelsDevice(node), "flannel0 after close");
    await bringUp(node);
    assert.deepEqual(await reconcile(node), { added: 2, removed: 0, repaired: 0, errors: [] });
    await assertAllPing();
  });

  test("a killed process leaves flannel0 too (persistent), and the next one re-attaches", async () => {
    const node = nodes[2]!;
    await driver(node).stop(true);
    assert.deepEqual(await flannel0(node), flannelsDevice(node), "flannel0 after SIGKILL");
    await bringUp(node);
    await reconcile(node);
    await assertAllPing();
  });
});
