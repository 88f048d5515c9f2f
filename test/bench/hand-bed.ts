// A by-hand bed for throughput baselines: two nodes on an underlay, one pod each, wired exactly
// as the bridge plugin wires them, with Flannel's kernel objects and netfilter rules programmed by
// hand — no agent involved.
//   underlay: fabric namespace with br0 198.18.0.254/24, node eth0 198.18.0.N (as deploy/lab/underlay.ts);
//   pods:     cni0 10.244.N.1/24, veth with hairpin, pod eth0 10.244.N.2/24, default via cni0, the
//             given pod MTU (bridge plugin with isGateway, isDefaultGateway, hairpinMode + host-local);
//   tunnel:   "vxlan"   flannel.1 exactly as flanneld makes it (F:pkg/backend/vxlan/device.go),
//                       per peer the permanent neighbour, FDB entry and onlink route
//                       (/work/shared/testbed/vxlan-by-hand.sh);
//             "host-gw" a route per peer via its node address (hostgw-by-hand.sh);
//             "none"    nothing: a userspace tunnel (userspace-peers.ts, floor-peer.ts) adds its device;
//   rules:    Flannel's masquerade and forward rules for N = 10.244.0.0/16 and the node's subnet
//             (flannel-rules.ts), as on a Flannel node run with --ip-masq: with a nat table present
//             every packet goes through conntrack, a cost Flannel's nodes pay too.
import { randomBytes } from "node:crypto";
import { run } from "../../deploy/lab/tools/command.ts";
import { interrupted, onCleanup } from "./cleanup.ts";
import { programFlannelRules } from "./flannel-rules.ts";
import type { Endpoints } from "./iperf.ts";

export type BedTunnel = "vxlan" | "host-gw" | "none";
export const bedNetwork = "10.244.0.0/16";

export interface BedNode {
  /** 1 or 2. */
  readonly n: number;
  readonly ns: string;
  readonly pod: string;
  /** Underlay address (eth0). */
  readonly ip: string;
  /** The node's pod subnet, 10.244.N.0/24. */
  readonly subnet: string;
  readonly podIp: string;
}

export interface Bed extends Endpoints {
  readonly prefix: string;
  readonly nodes: readonly [BedNode, BedNode];
}

const ip = (ns: string, ...args: string[]): Promise<unknown> => run(["ip", "-n", ns, ...args]);
const inNs = (ns: string, ...argv: string[]): Promise<{ stdout: string }> => run(["ip", "netns", "exec", ns, ...argv]);
const batch = (ns: string, lines: readonly string[]): Promise<unknown> => run(["ip", "-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });

/** Same MAC rule as Flannel's pkg/mac: random, multicast bit clear, locally administered bit set. */
function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Builds the bed; every namespace is registered for removal before it is created. */
export async function buildBed(prefix: string, tunnel: BedTunnel, podMtu: number): Promise<Bed> {
  const fabric = `${prefix}-fabric`;
  const nodes = ([1, 2] as const).map((n) => ({
    n,
    ns: `${prefix}-node${n}`,
    pod: `${prefix}-pod${n}`,
    ip: `198.18.0.${n}`,
    subnet: `10.244.${n}.0/24`,
    podIp: `10.244.${n}.2`,
    mac: randomMac(),
  }));
  for (const ns of [fabric, ...nodes.flatMap((node) => [node.ns, node.pod])]) {
    interrupted.throwIfAborted();
    onCleanup(async () => void (await run(["ip", "netns", "del", ns], { allowFailure: true })));
    await run(["ip", "netns", "add", ns]);
    await ip(ns, "link", "set", "lo", "up");
  }
  // Underlay, as deploy/lab/underlay.ts: veths made inside the fabric, peers moved straight into the nodes.
  await batch(fabric, [
    "link add br0 type bridge",
    "addr add 198.18.0.254/24 dev br0",
    "link set br0 up",
    ...nodes.flatMap((node) => [`link add port${node.n} type veth peer name eth0 netns ${node.ns}`, `link set port${node.n} master br0 up`]),
  ]);
  for (const node of nodes) {
    await batch(node.ns, [`addr add ${node.ip}/24 dev eth0`, "link set eth0 up", "route add default via 198.18.0.254"]);
    await inNs(node.ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
    await batch(node.ns, [
      `link add cni0 mtu ${podMtu} type bridge`,
      `addr add 10.244.${node.n}.1/24 dev cni0`,
      "link set cni0 up",
      `link add veth${node.n} mtu ${podMtu} type veth peer name eth0 netns ${node.pod}`,
      `link set veth${node.n} master cni0`,
      `link set veth${node.n} type bridge_slave hairpin on`,
      `link set veth${node.n} up`,
    ]);
    await batch(node.pod, [`addr add ${node.podIp}/24 dev eth0`, "link set eth0 up", `route add default via 10.244.${node.n}.1`]);
    await programFlannelRules(node.ns, bedNetwork, node.subnet);
  }
  if (tunnel === "vxlan") {
    for (const node of nodes) {
      await ip(node.ns, "link", "add", "flannel.1", "address", node.mac, "mtu", "1450", "type", "vxlan", "id", "1", "dev", "eth0", "local", node.ip, "nolearning", "dstport", "8472");
      await inNs(node.ns, "sysctl", "-q", "-w", "net.ipv6.conf.flannel/1.accept_ra=0");
      await batch(node.ns, [`addr add 10.244.${node.n}.0/32 dev flannel.1`, "link set flannel.1 up"]);
    }
    for (const node of nodes) {
      for (const peer of nodes.filter((other) => other !== node)) {
        await ip(node.ns, "neigh", "replace", `10.244.${peer.n}.0`, "lladdr", peer.mac, "dev", "flannel.1", "nud", "permanent");
        await run(["bridge", "-n", node.ns, "fdb", "replace", peer.mac, "dev", "flannel.1", "dst", peer.ip, "self", "permanent"]);
        await ip(node.ns, "route", "replace", peer.subnet, "via", `10.244.${peer.n}.0`, "dev", "flannel.1", "onlink");
      }
    }
  } else if (tunnel === "host-gw") {
    for (const node of nodes) {
      for (const peer of nodes.filter((other) => other !== node)) await ip(node.ns, "route", "replace", peer.subnet, "via", peer.ip, "dev", "eth0");
    }
  }
  const [node1, node2] = [nodes[0]!, nodes[1]!];
  return { prefix, nodes: [node1, node2], srcPod: node1.pod, dstPod: node2.pod, dstIp: node2.podIp };
}

/** Pings pod1 → pod2 until it answers (a tunnel may need a moment), or throws. */
export async function waitPodsReach(where: Endpoints, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await run(["ip", "netns", "exec", where.srcPod, "ping", "-c", "1", "-W", "1", where.dstIp], { allowFailure: true });
    if (result.code === 0) return;
    if (Date.now() >= deadline) throw new Error(`${where.srcPod} cannot reach ${where.dstIp}: ${result.stdout.trim().split("\n").pop() ?? ""}`);
  }
}
