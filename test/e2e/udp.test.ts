// End to end, udp backend, on a 3-node lab (real etcd, flanneld with the native data plane, CNI
// plugins, all inside namespaces): every pod reaches every other; leases, subnet.env and flannel0
// are Flannel's; TCP and UDP carry data intact; a forged datagram — from a node that is no peer,
// or from a peer carrying another peer's source — reaches no pod and is counted; a payload that
// is no IPv4 packet is dropped without a crash; an agent restart costs a measured gap; a removed
// peer gets no more traffic.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { beforeEach, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../deploy/lab/tools/command.ts";
import type { LabNode } from "../../deploy/lab/lab.ts";
import { needsRoot } from "../support/root.ts";
import { spawnProcess, waitFor } from "../support/process.ts";
import { needsAddon } from "../backends/udp/udp-fixture.ts";
import { ipv4UdpPacket, needsRawSocket, sendForgedDatagram } from "../backends/udp/forge.ts";
import { tcpTransfer, udpTransfer } from "../backends/udp/udp-traffic.ts";
import { assertConverged, flannelSubnetEnv, labEtcd, leaseOf, oneResyncDeadlineMs, parsePingStats, readLeases, subnetsPrefix, useTestLab } from "./lab-fixture.ts";

const udpPort = 8285;

/** Drop counts flanneld logged for its data plane (the totals of its last "dropped packets" line). */
function loggedDrops(node: LabNode): Record<string, number> {
  const lines = readFileSync(node.flanneld.logFile, "utf8").split("\n").filter((line) => line.includes("udp data plane dropped packets"));
  const last = lines.at(-1);
  if (last === undefined) return {};
  const totals = /"totals":(\{[^}]*\})/.exec(last)?.[1];
  return totals === undefined ? {} : (JSON.parse(totals) as Record<string, number>);
}

async function waitDrop(node: LabNode, reason: string, above: number): Promise<number> {
  return waitFor(() => ((loggedDrops(node)[reason] ?? 0) > above ? loggedDrops(node)[reason] : undefined), {
    what: `flanneld on ${node.name} to log a ${reason} drop`,
    timeoutMs: oneResyncDeadlineMs,
    intervalMs: 200,
  });
}

// A UDP listener in a pod: prints LISTENING, then GOT <payload> for each datagram.
const listenerScript = (port: number): string =>
  `const s=require("node:dgram").createSocket("udp4");s.on("message",(m)=>console.log("GOT "+m.toString()));` +
  `s.bind(${port},()=>console.log("LISTENING"));setTimeout(()=>process.exit(0),30000);`;

describe("udp lab of 3 nodes", { skip: needsRoot || needsAddon, timeout: 300_000 }, () => {
  const theLab = useTestLab({ nodes: 3, backend: "udp" });

  beforeEach(async () => {
    for (const node of theLab().nodes) {
      if (node.flanneld.running) continue;
      node.flanneld.start();
      await node.flanneld.waitReady({ timeoutMs: 20_000 });
    }
  });

  const assertReach = (what: string, timeoutMs = 20_000): Promise<void> => assertConverged(theLab(), `pods unreachable ${what}`, timeoutMs);

  test("every pod reaches every other pod", async () => {
    await assertReach("after start-up");
    const status = await theLab().status();
    assert.deepEqual(status.map((node) => node.peersProgrammed), [2, 2, 2], "every node's flannel0 address answers through the overlay");
  });

  test("leases are Flannel's udp leases (PublicIP only), subnet.env has MTU 1472, flannel0 is Flannel's device", async () => {
    const leases = await readLeases(theLab());
    assert.equal(leases.size, 3);
    for (const node of theLab().nodes) {
      const lease = leaseOf(leases, node);
      assert.equal(lease.raw, `{"PublicIP":"${node.publicIP}","PublicIPv6":null}`);
      assert.equal(readFileSync(node.flanneld.subnetFile, "utf8"), flannelSubnetEnv("10.244.0.0/16", lease, 1472, false));
      const [link] = await node.ipJson<Array<{ mtu: number; flags: string[]; linkinfo?: { info_kind?: string; info_data?: { pi?: boolean } } }>>("-d", "link", "show", "flannel0");
      assert.equal(link?.linkinfo?.info_kind, "tun");
      assert.equal(link?.linkinfo?.info_data?.pi, false);
      assert.equal(link?.mtu, 1472);
      assert.ok(link?.flags.includes("UP"));
      const addresses = await node.ipJson<Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number }> }>>("addr", "show", "dev", "flannel0");
      assert.deepEqual(addresses.flatMap((a) => a.addr_info).filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`), [`${lease.address}/32`]);
      const routes = (await node.ipJson<Array<{ dst: string; dev?: string; scope?: string }>>("route", "show")).filter((route) => route.dev === "flannel0");
      assert.deepEqual(routes.map((route) => `${route.dst} ${route.scope ?? "global"}`), ["10.244.0.0/16 global"]);
    }
  });

  test("TCP carries 8 MB intact between pods on different nodes, both ways", async () => {
    const [a, b] = [theLab().nodes[0]!.pods[0]!, theLab().nodes[1]!.pods[0]!];
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const { sent, received } = await tcpTransfer(from.ns, to.ns, to.ip, 7001, 8 * 1024 * 1024);
      assert.match(sent, /^8388608 [0-9a-f]{64}$/);
      assert.equal(received, sent, `${from.name} → ${to.name}`);
    }
  });

  test("UDP datagrams of 1 to 1444 bytes arrive intact between pods on different nodes", async () => {
    const [a, c] = [theLab().nodes[0]!.pods[1]!, theLab().nodes[2]!.pods[0]!];
    // 1444 = MTU 1472 − 20 (IP) − 8 (UDP): the largest unfragmented datagram.
    const { sent, intact } = await udpTransfer(a.ns, c.ns, c.ip, 7002, 200, 1444);
    assert.ok(intact >= sent * 0.95, `${intact}/${sent} datagrams intact`);
  });

  test("iperf3 TCP and UDP run between pods across nodes", async () => {
    const [a, b] = [theLab().nodes[0]!.pods[0]!, theLab().nodes[1]!.pods[1]!];
    for (const udp of [false, true]) {
      const server = spawnProcess(["iperf3", "-s", "-1", "-p", "5301"], { netns: b.ns });
      try {
        await sleep(300);
        const result = await run(["ip", "netns", "exec", a.ns, "iperf3", "-c", b.ip, "-p", "5301", "-t", "2", "-J", ...(udp ? ["-u", "-b", "50M"] : [])], { timeoutMs: 30_000 });
        const report = JSON.parse(result.stdout) as { end: { sum_received?: { bytes: number }; sum?: { bytes: number; lost_percent: number } } };
        if (udp) {
          assert.ok((report.end.sum?.bytes ?? 0) > 0, result.stdout.slice(-500));
          assert.ok((report.end.sum?.lost_percent ?? 100) < 10, `UDP loss at 50 Mbit/s ${report.end.sum?.lost_percent}%`);
        } else assert.ok((report.end.sum_received?.bytes ?? 0) > 1_000_000, result.stdout.slice(-500));
      } finally {
        await server.stop("SIGKILL");
      }
    }
  });

  describe("forged datagrams", { skip: needsRawSocket }, () => {
    test("from an address that is no peer: no pod gets it, the node counts it; from the real peer the same packet arrives", async () => {
      const lab = theLab();
      const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
      const pod = node1.pods[0]!;
      const peerSubnet = leaseOf(await readLeases(lab), node2);
      const innerSource = `${peerSubnet.address.split(".").slice(0, 3).join(".")}.77`;
      const listener = spawnProcess([process.execPath, "-e", listenerScript(7003)], { netns: pod.ns });
      try {
        await waitFor(() => listener.output().includes("LISTENING"), { what: "listener", timeoutMs: 10_000, process: listener });
        const before = loggedDrops(node1).unknownSource ?? 0;
        const forged = (text: string) => ipv4UdpPacket(innerSource, pod.ip, 40000, 7003, Buffer.from(text));
        // 198.18.0.77 is on the underlay but holds no lease.
        await sendForgedDatagram(lab.fabricNs, "198.18.0.77", node1.publicIP, udpPort, forged("from-a-stranger"));
        await waitDrop(node1, "unknownSource", before);
        // The control: the same inner packet from node2's own address is delivered.
        await sendForgedDatagram(lab.fabricNs, node2.publicIP, node1.publicIP, udpPort, forged("from-the-peer"));
        await waitFor(() => listener.output().includes("GOT from-the-peer"), { what: "the peer's datagram in the pod", timeoutMs: 5000 });
        assert.doesNotMatch(listener.output(), /from-a-stranger/);
      } finally {
        await listener.stop("SIGKILL");
      }
    });

    test("from a peer carrying a source outside its subnet: dropped and counted as spoofed", async () => {
      const lab = theLab();
      const [node1, node2, node3] = [lab.nodes[0]!, lab.nodes[1]!, lab.nodes[2]!];
      const pod = node1.pods[0]!;
      const node3Subnet = leaseOf(await readLeases(lab), node3);
      const innerSource = `${node3Subnet.address.split(".").slice(0, 3).join(".")}.5`;
      const listener = spawnProcess([process.execPath, "-e", listenerScript(7004)], { netns: pod.ns });
      try {
        await waitFor(() => listener.output().includes("LISTENING"), { what: "listener", timeoutMs: 10_000, process: listener });
        const before = loggedDrops(node1).spoofedSource ?? 0;
        await sendForgedDatagram(lab.fabricNs, node2.publicIP, node1.publicIP, udpPort, ipv4UdpPacket(innerSource, pod.ip, 40000, 7004, Buffer.from("spoofed")));
        await waitDrop(node1, "spoofedSource", before);
        assert.doesNotMatch(listener.output(), /spoofed/);
      } finally {
        await listener.stop("SIGKILL");
      }
    });
  });

  test("a payload that is no IPv4 packet, from a peer, is dropped and counted; the agent keeps running and forwarding", async () => {
    const lab = theLab();
    const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
    const before = loggedDrops(node1).malformed ?? 0;
    const pid = node1.flanneld.pid;
    const garbage = [
      "not an ip packet at all",
      "\u0045", // a version nibble of 4 and nothing else
      Buffer.alloc(60, 0x45).toString("latin1"), // version 4, IHL 5, total length that lies
    ];
    const script =
      `const s=require("node:dgram").createSocket("udp4");const g=${JSON.stringify(garbage)}.map((x)=>Buffer.from(x,"latin1"));let i=0;` +
      `s.bind(0,"${node2.publicIP}",()=>{const next=()=>{if(i===g.length){s.close();return}s.send(g[i++],${udpPort},"${node1.publicIP}",next)};next()});`;
    await run(["ip", "netns", "exec", node2.ns, process.execPath, "-e", script], { timeoutMs: 10_000 });
    await waitDrop(node1, "malformed", before);
    assert.equal(node1.flanneld.running, true);
    assert.equal(node1.flanneld.pid, pid, "flanneld on node1 was restarted");
    await assertReach("after the garbage", 10_000);
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    test(`an agent restart after ${signal}: the gap in pod traffic is measured, and traffic comes back`, async (t) => {
      const lab = theLab();
      const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
      const [from, to] = [node1.pods[0]!, node2.pods[0]!];
      // 10 ms apart for 12 s; the restart happens at 2 s.
      const ping = run(["ip", "netns", "exec", from.ns, "ping", "-n", "-q", "-i", "0.01", "-c", "1200", "-W", "1", to.ip], { allowFailure: true, timeoutMs: 60_000 });
      await sleep(2000);
      const stoppedAt = Date.now();
      await node2.flanneld.stop(signal);
      node2.flanneld.start();
      await node2.flanneld.waitReady({ timeoutMs: 20_000 });
      const readyMs = Date.now() - stoppedAt;
      const stats = parsePingStats((await ping).stdout);
      const lost = stats.transmitted - stats.received;
      t.diagnostic(`restart gap after ${signal}: ${lost} of ${stats.transmitted} pings lost at 10 ms intervals ≈ ${lost * 10} ms without traffic; agent ready again ${readyMs} ms after the stop began`);
      assert.ok(stats.received > 0 && lost < stats.transmitted / 2, JSON.stringify(stats));
      await assertReach(`after the ${signal} restart`, 10_000);
    });
  }

  test("a removed peer gets no more traffic: its lease deleted, the node answers its pods net-unreachable and counts the drops", async () => {
    const lab = theLab();
    const [node1, node2, node3] = [lab.nodes[0]!, lab.nodes[1]!, lab.nodes[2]!];
    const lease3 = leaseOf(await readLeases(lab), node3);
    const before = loggedDrops(node1).noPeer ?? 0;
    await labEtcd(lab).etcdctl("del", `${subnetsPrefix}${lease3.key}`);
    // node3's agent sees its own lease revoked and exits (as Flannel does), so a lost reply alone
    // would prove nothing: node1's own data plane must refuse the packet — a TCP connection attempt
    // gets ICMP net unreachable from node1's flannel0 (Flannel's proxy answers so; not for ICMP
    // offenders such as a ping), so connect() fails with ENETUNREACH at once — and a noPeer drop.
    const connectScript =
      `const c=require("node:net").connect(7005,"${node3.pods[0]!.ip}");c.on("connect",()=>{console.log("CONNECTED");process.exit(0)});` +
      `c.on("error",(e)=>{console.log("ERROR "+e.code);process.exit(0)});setTimeout(()=>{console.log("TIMEOUT");process.exit(0)},2000);`;
    const refused = await waitFor(
      async () => {
        const result = await run(["ip", "netns", "exec", node1.pods[0]!.ns, process.execPath, "-e", connectScript], { allowFailure: true, timeoutMs: 10_000 });
        return result.stdout.includes("ERROR ENETUNREACH") ? result.stdout : undefined;
      },
      { what: "node1 to answer net unreachable for node3's subnet", timeoutMs: 10_000, intervalMs: 200 },
    );
    assert.match(refused, /ENETUNREACH/);
    await waitDrop(node1, "noPeer", before);
    const toNode2 = await run(["ip", "netns", "exec", node1.pods[0]!.ns, "ping", "-n", "-q", "-c", "1", "-W", "2", node2.pods[0]!.ip], { allowFailure: true });
    assert.equal(toNode2.code, 0, "node1 → node2 still works");
  });
});

describe("udp lab of 2 nodes in kube mode", { skip: needsRoot || needsAddon, timeout: 180_000 }, () => {
  const theLab = useTestLab({ nodes: 2, backend: "udp", kube: true });

  test("pods reach each other, and each Node carries Flannel's udp annotations: backend-type empty, backend-data null", async () => {
    await assertConverged(theLab(), "pods unreachable");
    const { stdout } = await theLab().kube!.kubectl(["get", "nodes", "-o", "json"]);
    const nodes = (JSON.parse(stdout) as { items: Array<{ metadata: { name: string; annotations?: Record<string, string> } }> }).items;
    assert.equal(nodes.length, 2);
    for (const node of nodes) {
      const a = node.metadata.annotations ?? {};
      const publicIP = theLab().nodes.find((labNode) => labNode.name === node.metadata.name)?.publicIP;
      assert.deepEqual(
        [a["flannel.alpha.coreos.com/backend-type"], a["flannel.alpha.coreos.com/backend-data"], a["flannel.alpha.coreos.com/public-ip"], a["flannel.alpha.coreos.com/kube-subnet-manager"]],
        ["", "null", publicIP, "true"],
        node.metadata.name,
      );
    }
  });
});
