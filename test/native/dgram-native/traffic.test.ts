// Two data planes carry traffic between two namespaces over a veth underlay (198.18.0.x), each
// behind its own flannel0 as the udp backend sets it up, with the offloads off and on, and on with
// two queues (a multi-queue flannel0, a socket and a pair of threads per queue): ICMP both
// ways, a UDP burst that must arrive whole, a TCP stream whose digest must match (segmentation
// and coalescing must not change a byte), the UDP GSO fallback, Flannel's ICMP net unreachable,
// and the receive checks: malformed payloads, non-peer senders (forged with raw-socket),
// inner sources outside the sender's subnet, Flannel's TTL rule.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DataPlaneCounters } from "../../../backends/udp/dgram-native.ts";
import { createUnderlay, type Underlay } from "../../support/netns.ts";
import { waitFor } from "../../support/process.ts";
import { needsRoot } from "../../support/root.ts";
import { ipv4Packet, udpPacket } from "./packets.ts";
import { startPlaneProcess, type PlaneProcess } from "./plane-process.ts";

const port = 8285;
const sinkPort = 9000;

interface Node {
  readonly child: PlaneProcess;
  readonly underlay: string;
  readonly tunAddress: string;
  counters(): Promise<DataPlaneCounters>;
}

for (const { offloads, queues } of [
  { offloads: "off", queues: 1 },
  { offloads: "auto", queues: 1 },
  { offloads: "auto", queues: 2 },
] as const) {
  describe(`dgram-native traffic, offloads ${offloads}${queues === 1 ? "" : `, ${queues} queues`}`, { skip: needsRoot }, () => {
    let underlay: Underlay;
    const nodes: Node[] = [];

    before(async () => {
      underlay = await createUnderlay(2);
      for (const [index, node] of underlay.nodes.entries()) {
        const i = index + 1;
        const child = startPlaneProcess(node.ns.name);
        nodes.push({ child, underlay: node.address, tunAddress: `10.244.${i}.0`, counters: () => child.request<DataPlaneCounters>("counters") });
        await child.request("open", {
          options: { tunName: "flannel0", bindAddress: node.address, port, mtu: 1472, ownSubnet: `10.244.${i}.0/24`, network: "10.244.0.0/16", offloads, queues },
        });
        // What the udp backend does with the device (Flannel's address, MTU and route).
        await node.ns.ip("addr", "add", `10.244.${i}.0/32`, "dev", "flannel0");
        await node.ns.ip("link", "set", "flannel0", "mtu", "1472", "up");
        await node.ns.ip("route", "add", "10.244.0.0/16", "dev", "flannel0");
      }
      await nodes[0]!.child.request("setPeers", { peers: [{ subnet: "10.244.2.0/24", publicIP: nodes[1]!.underlay }] });
      await nodes[1]!.child.request("setPeers", { peers: [{ subnet: "10.244.1.0/24", publicIP: nodes[0]!.underlay }] });
      await nodes[1]!.child.request("udpSink", { address: nodes[1]!.tunAddress, port: sinkPort });
    });
    after(async () => {
      for (const node of nodes) await node.child.stop();
      await underlay?.remove();
    });

    async function sinkDatagrams(): Promise<number> {
      return (await nodes[1]!.child.request<{ datagrams: number }>("sinkStats", { port: sinkPort })).datagrams;
    }

    test("pings cross in both directions, counted on each side", async () => {
      const [a, b] = [underlay.nodes[0]!, underlay.nodes[1]!];
      await a.ns.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", nodes[1]!.tunAddress]);
      await b.ns.exec(["ping", "-c", "3", "-i", "0.2", "-W", "2", nodes[0]!.tunAddress]);
      const [sent, received] = [await nodes[0]!.counters(), await nodes[1]!.counters()];
      assert.ok(sent.tunRxPackets >= 6 && sent.udpTxPackets >= 6 && sent.udpRxPackets >= 6 && sent.tunTxPackets >= 6, JSON.stringify(sent));
      assert.ok(received.udpRxPackets >= 6 && received.tunTxPackets >= 6, JSON.stringify(received));
      assert.deepEqual(Object.values(received.drops).filter((n) => n > 0), []);
    });

    test("a burst of 2000 datagrams arrives whole", async () => {
      const before = await sinkDatagrams();
      await nodes[0]!.child.request("udpBurst", { to: nodes[1]!.tunAddress, port: sinkPort, count: 2000, size: 1200 });
      await waitFor(async () => (await sinkDatagrams()) - before === 2000, { what: "2000 datagrams at the sink", timeoutMs: 5000 }).catch(async (error: unknown) => {
        throw new Error(`${(error as Error).message}: got ${(await sinkDatagrams()) - before}; sender ${JSON.stringify(await nodes[0]!.counters())}`);
      });
    });

    test("a TCP stream arrives byte for byte", async () => {
      await nodes[1]!.child.request("tcpServer", { address: nodes[1]!.tunAddress, port: 9001 });
      const sent = await nodes[0]!.child.request<{ bytes: number; sha256: string; ms: number }>("tcpSend", { to: nodes[1]!.tunAddress, port: 9001, bytes: 64 << 20, seed: 11 });
      const received = await nodes[1]!.child.request<{ bytes: number; sha256: string }>("tcpResult", { port: 9001 });
      assert.deepEqual(received, { bytes: sent.bytes, sha256: sent.sha256 });
      const counters = await nodes[0]!.counters();
      assert.equal(counters.drops.udpSendError, 0);
      process.stdout.write(`# offloads ${offloads}, ${queues} queue(s): 64 MiB over TCP in ${sent.ms.toFixed(0)} ms (${((sent.bytes * 8) / sent.ms / 1e6).toFixed(2)} Gbit/s)\n`);
    });

    if (offloads === "auto") {
      test("when the underlay cannot checksum, UDP GSO falls back and traffic still flows", async () => {
        const a = underlay.nodes[0]!;
        await a.ns.exec(["ethtool", "-K", "eth0", "tx", "off"]);
        try {
          await nodes[1]!.child.request("tcpServer", { address: nodes[1]!.tunAddress, port: 9002 });
          const sent = await nodes[0]!.child.request<{ bytes: number; sha256: string }>("tcpSend", { to: nodes[1]!.tunAddress, port: 9002, bytes: 8 << 20, seed: 12 });
          const received = await nodes[1]!.child.request<{ bytes: number; sha256: string }>("tcpResult", { port: 9002 });
          assert.deepEqual(received, { bytes: sent.bytes, sha256: sent.sha256 });
        } finally {
          await a.ns.exec(["ethtool", "-K", "eth0", "tx", "on"]);
        }
      });
    }

    test("a packet for a subnet without a peer is answered with ICMP net unreachable from the TUN address", async () => {
      // Here the offender is the node itself, whose own address (flannel0's) is also the reply's
      // source, a "martian" the kernel drops unless told to accept local sources on the device.
      await underlay.nodes[0]!.ns.exec(["sysctl", "-qw", "net.ipv4.conf.flannel0.accept_local=1"]);
      await nodes[0]!.child.request("icmpListen");
      const before = (await nodes[0]!.counters()).drops.noPeer;
      await nodes[0]!.child.request("udpBurst", { to: "10.244.9.1", port: 9, count: 1, size: 10 });
      const seen = await waitFor(async () => {
        const all = await nodes[0]!.child.request<{ type: number; code: number; from: string }[]>("icmpSeen");
        return all.find((message) => message.type === 3) ?? false;
      }, { what: "an ICMP destination unreachable", timeoutMs: 3000 });
      assert.deepEqual(seen, { type: 3, code: 0, from: nodes[0]!.tunAddress });
      assert.equal((await nodes[0]!.counters()).drops.noPeer, before + 1);
    });

    test("a valid datagram from the peer reaches the sink (the checks below are not vacuous)", async () => {
      const before = await sinkDatagrams();
      const inner = udpPacket(nodes[0]!.tunAddress, 4000, nodes[1]!.tunAddress, sinkPort, Buffer.from("hello"), 2);
      await nodes[0]!.child.request("udpBurst", { from: nodes[0]!.underlay, to: nodes[1]!.underlay, port, count: 1, payloadHex: inner.toString("hex") });
      await waitFor(async () => (await sinkDatagrams()) === before + 1, { what: "the datagram at the sink", timeoutMs: 3000 });
    });

    test("payloads that are not one valid IPv4 packet are dropped and counted, and traffic goes on", async () => {
      const before = (await nodes[1]!.counters()).drops.malformed;
      const valid = udpPacket(nodes[0]!.tunAddress, 4000, nodes[1]!.tunAddress, sinkPort, Buffer.from("x"));
      const badChecksum = Buffer.from(valid);
      badChecksum.writeUInt8(badChecksum.readUInt8(10) ^ 0xff, 10);
      const payloads = [Buffer.from("not an IPv4 packet"), Buffer.alloc(3000), Buffer.concat([valid, Buffer.from("trailer")]), valid.subarray(0, 24), badChecksum, Buffer.from([0x45])];
      for (const payload of payloads)
        await nodes[0]!.child.request("udpBurst", { from: nodes[0]!.underlay, to: nodes[1]!.underlay, port, count: 1, payloadHex: payload.toString("hex") });
      await waitFor(async () => (await nodes[1]!.counters()).drops.malformed === before + payloads.length, { what: "malformed drops counted", timeoutMs: 3000 });
      await underlay.nodes[0]!.ns.exec(["ping", "-c", "1", "-W", "2", nodes[1]!.tunAddress]);
    });

    test("a datagram from a source that is no peer (forged with raw-socket) is dropped and counted", async () => {
      const before = { sink: await sinkDatagrams(), drops: (await nodes[1]!.counters()).drops.unknownSource };
      const inner = udpPacket(nodes[0]!.tunAddress, 4000, nodes[1]!.tunAddress, sinkPort, Buffer.from("forged"));
      const outer = udpPacket("198.18.0.77", port, nodes[1]!.underlay, port, inner);
      await nodes[0]!.child.request("forge", { packetHex: outer.toString("hex"), to: nodes[1]!.underlay });
      await waitFor(async () => (await nodes[1]!.counters()).drops.unknownSource === before.drops + 1, { what: "the unknown source counted", timeoutMs: 3000 });
      assert.equal(await sinkDatagrams(), before.sink);
    });

    test("an inner source outside the sending peer's subnet is dropped and counted", async () => {
      const before = { sink: await sinkDatagrams(), drops: (await nodes[1]!.counters()).drops.spoofedSource };
      const inner = udpPacket("10.244.3.5", 4000, nodes[1]!.tunAddress, sinkPort, Buffer.from("spoofed"));
      await nodes[0]!.child.request("udpBurst", { from: nodes[0]!.underlay, to: nodes[1]!.underlay, port, count: 1, payloadHex: inner.toString("hex") });
      await waitFor(async () => (await nodes[1]!.counters()).drops.spoofedSource === before.drops + 1, { what: "the spoofed source counted", timeoutMs: 3000 });
      assert.equal(await sinkDatagrams(), before.sink);
    });

    test("the peer table is replaced whole: a removed peer gets nothing, a restored one traffic again", async () => {
      const peers = [{ subnet: "10.244.2.0/24", publicIP: nodes[1]!.underlay }];
      await nodes[0]!.child.request("setPeers", { peers: [{ subnet: "10.244.7.0/24", publicIP: "198.18.0.7" }] });
      const before = (await nodes[0]!.counters()).drops.noPeer;
      const lost = await underlay.nodes[0]!.ns.exec(["ping", "-c", "1", "-W", "1", nodes[1]!.tunAddress], { allowFailure: true });
      assert.notEqual(lost.code, 0);
      assert.equal((await nodes[0]!.counters()).drops.noPeer, before + 1);
      await nodes[0]!.child.request("setPeers", { peers });
      await underlay.nodes[0]!.ns.exec(["ping", "-c", "1", "-W", "2", nodes[1]!.tunAddress]);
    });

    test("TTL is decremented as Flannel does: a packet arriving with TTL 1 is dropped and counted", async () => {
      const before = { sink: await sinkDatagrams(), drops: (await nodes[1]!.counters()).drops.ttlExpired };
      const inner = ipv4Packet({ source: nodes[0]!.tunAddress, destination: nodes[1]!.tunAddress, ttl: 1, payload: udpPacket("0.0.0.0", 4000, "0.0.0.0", sinkPort, Buffer.from("late")).subarray(20) });
      await nodes[0]!.child.request("udpBurst", { from: nodes[0]!.underlay, to: nodes[1]!.underlay, port, count: 1, payloadHex: inner.toString("hex") });
      await waitFor(async () => (await nodes[1]!.counters()).drops.ttlExpired === before.drops + 1, { what: "the expired TTL counted", timeoutMs: 3000 });
      assert.equal(await sinkDatagrams(), before.sink);
    });
  });
}
