// test/support/flannel-udp-peer.c on its own: two namespaces running it reach each other's
// "pod" addresses over port 8285, each data path decrementing the TTL as Flannel's proxy does
// (the replies' TTL shows it), and a destination without a peer is dropped and counted. It is
// the Flannel side of the wire-compatibility test and the benchmark's one-packet-per-syscall
// floor, so it must itself be right.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createUnderlay, type Underlay } from "../../support/netns.ts";
import { needsRoot } from "../../support/root.ts";
import { spawnProcess, waitFor, type ManagedProcess } from "../../support/process.ts";
import { compileFlannelUdpPeer } from "./udp-fixture.ts";

describe("flannel-udp-peer (Flannel's udp data path in C)", { skip: needsRoot, timeout: 60_000 }, () => {
  let underlay: Underlay;
  let compiled: Awaited<ReturnType<typeof compileFlannelUdpPeer>>;
  const peers: ManagedProcess[] = [];

  before(async () => {
    compiled = await compileFlannelUdpPeer();
    underlay = await createUnderlay(2);
    for (const [i, node] of underlay.nodes.entries()) {
      const n = i + 1;
      const other = underlay.nodes[1 - i]!;
      const peer = spawnProcess([compiled.binary, "flannel0", node.address, "8285", "1472", `10.244.${2 - i}.0/24=${other.address}`], { netns: node.ns.name });
      peers.push(peer);
      await waitFor(() => peer.output().includes("READY"), { what: `flannel-udp-peer on node${n}`, timeoutMs: 10_000, process: peer });
      await node.ns.ip("addr", "add", `10.244.${n}.0/32`, "dev", "flannel0");
      await node.ns.ip("link", "set", "flannel0", "mtu", "1472", "up");
      await node.ns.ip("route", "add", "10.244.0.0/16", "dev", "flannel0", "scope", "global");
      // A pod network with carrier (bridge + one veth port), as the cluster fixture makes it.
      await node.ns.ip("link", "add", "cni0", "type", "bridge");
      await node.ns.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth0p");
      await node.ns.ip("link", "set", "veth0", "master", "cni0", "up");
      await node.ns.ip("link", "set", "veth0p", "up");
      await node.ns.ip("addr", "add", `10.244.${n}.1/24`, "dev", "cni0");
      await node.ns.ip("link", "set", "cni0", "up");
    }
  });

  after(async () => {
    for (const peer of peers) await peer.stop("SIGKILL");
    await underlay?.remove();
    compiled?.remove();
  });

  test("two nodes reach each other's pod addresses, TTL decremented on each data path", async () => {
    const [a] = underlay.nodes;
    const result = await a!.ns.exec(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-I", "10.244.1.1", "10.244.2.1"], { allowFailure: true });
    assert.equal(result.code, 0, result.stdout);
    // 64 from the replier, −1 on its TUN → UDP side, −1 on our UDP → TUN side (Flannel's proxy does both).
    assert.match(result.stdout, /ttl=62/);
  });

  test("a destination without a peer is dropped, and the counters say so at exit", async () => {
    const [a] = underlay.nodes;
    await a!.ns.exec(["ping", "-n", "-c", "1", "-W", "1", "-I", "10.244.1.1", "10.244.9.1"], { allowFailure: true });
    await peers[0]!.stop("SIGTERM");
    const counters = /tun_rx=(\d+) udp_tx=(\d+) udp_rx=(\d+) tun_tx=(\d+) dropped=(\d+)/.exec(peers[0]!.output());
    assert.ok(counters !== null, peers[0]!.output());
    const [, tunRx, udpTx, udpRx, tunTx, dropped] = counters.map(Number);
    assert.ok(udpTx! >= 3 && udpRx! >= 3 && tunTx! >= 3, counters[0]);
    assert.ok(dropped! >= 1 && tunRx! >= udpTx! + 1, counters[0]);
  });
});
