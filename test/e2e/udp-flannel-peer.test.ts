// Wire compatibility with Flannel's udp backend: next to two flannel-ts udp nodes of a lab, a
// fourth namespace runs test/support/flannel-udp-peer.c — Flannel's data path (TUN without packet
// info, one bare IPv4 packet per datagram on port 8285, one read and one sendto per packet) —
// and advertises itself with the lease JSON a Flannel udp node writes to etcd (PublicIP only, no
// BackendType). The flannel-ts nodes must take it as a peer and exchange traffic with it both
// ways: ping, and TCP streams checked byte for byte.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Lab } from "../../deploy/lab/lab.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { spawnProcess, waitFor, type ManagedProcess } from "../support/process.ts";
import { compileFlannelUdpPeer, needsAddon } from "../backends/udp/udp-fixture.ts";
import { tcpTransfer } from "../backends/udp/udp-traffic.ts";
import { labEtcd, leaseOf, readLeases, startTestLab, subnetsPrefix, tearDown } from "./lab-fixture.ts";

const peerAddress = "198.18.0.50";
const peerSubnet = "10.244.200.0/24";
const peerPod = "10.244.200.1";

describe("a Flannel udp node (flannel-udp-peer.c) among flannel-ts udp nodes", { skip: needsRoot || needsAddon, timeout: 240_000 }, () => {
  let lab: Lab | undefined;
  let ns: Namespace | undefined;
  let peer: ManagedProcess | undefined;
  let compiled: Awaited<ReturnType<typeof compileFlannelUdpPeer>> | undefined;

  before(async () => {
    compiled = await compileFlannelUdpPeer();
    lab = await startTestLab({ nodes: 2, backend: "udp" });
    const fabric = lab.fabricNs;
    ns = await createNamespace("flp");
    await run(["ip", "-n", fabric, "link", "add", "flp0", "type", "veth", "peer", "name", "eth0", "netns", ns.name]);
    await run(["ip", "-n", fabric, "link", "set", "flp0", "master", "br0", "up"]);
    await ns.ip("addr", "add", `${peerAddress}/24`, "dev", "eth0");
    await ns.ip("link", "set", "eth0", "up");
    // The Flannel node's lease, exactly as Flannel's udp backend writes it (with a TTL, as every lease).
    const granted = await labEtcd(lab).etcdctl("lease", "grant", "3600");
    const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
    assert.ok(id !== undefined, granted);
    await labEtcd(lab).etcdctl("put", `--lease=${id}`, `${subnetsPrefix}10.244.200.0-24`, `{"PublicIP":"${peerAddress}","PublicIPv6":null}`);
    // Its data path: a peer entry per flannel-ts node, from their leases.
    const leases = await readLeases(lab);
    const peers = lab.nodes.map((node) => `${leaseOf(leases, node).subnet}=${node.publicIP}`);
    peer = spawnProcess([compiled.binary, "flannel0", peerAddress, "8285", "1472", ...peers], { netns: ns.name });
    await waitFor(() => peer!.output().includes("READY"), { what: "flannel-udp-peer", timeoutMs: 10_000, process: peer });
    // What Flannel's Go side does around the proxy (configureIface), and a "pod" address on a bridge.
    await ns.ip("addr", "add", "10.244.200.0/32", "dev", "flannel0");
    await ns.ip("link", "set", "flannel0", "mtu", "1472", "up");
    await ns.ip("route", "add", "10.244.0.0/16", "dev", "flannel0", "scope", "global");
    await ns.ip("link", "add", "cni0", "type", "bridge");
    await ns.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth0p");
    await ns.ip("link", "set", "veth0", "master", "cni0", "up");
    await ns.ip("link", "set", "veth0p", "up");
    await ns.ip("addr", "add", `${peerPod}/24`, "dev", "cni0");
    await ns.ip("link", "set", "cni0", "up");
  });

  after(async () => {
    await peer?.stop("SIGKILL");
    await ns?.remove();
    await tearDown(lab);
    compiled?.remove();
  });

  const theLab = (): Lab => {
    if (lab === undefined) throw new Error("the lab did not start");
    return lab;
  };

  test("pods on flannel-ts nodes reach the Flannel node, and it reaches them (ping both ways)", async () => {
    for (const pod of theLab().pods) {
      await waitFor(async () => (await run(["ip", "netns", "exec", pod.ns, "ping", "-n", "-q", "-c", "1", "-W", "1", peerPod], { allowFailure: true })).code === 0, {
        what: `${pod.name} → ${peerPod} (the Flannel node's pod address)`,
        timeoutMs: 15_000,
        intervalMs: 300,
      });
      const back = await ns!.exec(["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "-I", peerPod, pod.ip], { allowFailure: true });
      assert.equal(back.code, 0, `${peerPod} → ${pod.name}:\n${back.stdout}`);
    }
  });

  test("TCP streams cross intact both ways between a flannel-ts pod and the Flannel node", async () => {
    const pod = theLab().nodes[0]!.pods[0]!;
    const toFlannel = await tcpTransfer(pod.ns, ns!.name, peerPod, 7101, 4 * 1024 * 1024);
    assert.equal(toFlannel.received, toFlannel.sent, "flannel-ts → Flannel");
    const fromFlannel = await tcpTransfer(ns!.name, pod.ns, pod.ip, 7102, 4 * 1024 * 1024);
    assert.equal(fromFlannel.received, fromFlannel.sent, "Flannel → flannel-ts");
  });

  test("the Flannel node's own counters show the datagrams went both ways", async () => {
    await peer!.stop("SIGTERM");
    const counters = /tun_rx=(\d+) udp_tx=(\d+) udp_rx=(\d+) tun_tx=(\d+) dropped=(\d+)/.exec(peer!.output());
    assert.ok(counters !== null, peer!.output());
    const [, tunRx, udpTx, udpRx, tunTx] = counters.map(Number);
    assert.ok(udpTx! > 100 && udpRx! > 100, counters[0]);
    assert.ok(tunRx! >= udpTx! && udpRx! >= tunTx!, counters[0]);
  });
});
