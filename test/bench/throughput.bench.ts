// `npm run bench -- throughput`: pod → pod TCP throughput across two nodes, agent-programmed
// versus the same kernel objects programmed by hand, vxlan and host-gw, in one run.
//   agent:   deploy/lab (startLab): real etcd, real flanneld per node, pods through the flannel
//            CNI plugin (bridge + host-local).
//   by hand: a bed of our own namespaces with the same underlay (fabric br0 198.18.0.254/24,
//            node eth0 198.18.0.N), pods wired by hand exactly as the bridge plugin wires them
//            (cni0 10.244.N.1/24, veth with hairpin, pod eth0 10.244.N.2/24, default via cni0,
//            the agent pod's MTU), and Flannel's objects by hand (as in
//            /work/shared/testbed/vxlan-by-hand.sh and hostgw-by-hand.sh), plus the netfilter
//            rules a lab node holds (Flannel's FLANNEL-FWD, the bridge plugin's ipMasq chains),
//            copied with iptables-save/-restore onto the bed's subnets: with a nat table present
//            every packet goes through conntrack, a cost Flannel's nodes pay as well, so a bed
//            without rules would be a faster baseline than any real Flannel node.
// iperf3 -s -1 in the destination pod, client in the source pod, -t 5 -J, Gbit/s =
// end.sum_received.bits_per_second; 1 stream and -P 4, 5 reps; agent and by-hand runs alternate
// (and swap which goes first every rep) so that machine noise hits both alike; the ratio is of
// the medians. Nothing is asserted.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { startLab, type Lab } from "../../deploy/lab/lab.ts";
import { unreachablePairs } from "../../deploy/lab/status.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { cleanup, onCleanup } from "./cleanup.ts";
import { writeResults } from "./stats.ts";

const seconds = 5;
// Five reps and medians: single -P 4 runs here swing by ±30% (seen: 21 to 37 Gbit/s back to back).
const reps = 5;
const out = (text: string): void => void process.stdout.write(`${text}\n`);

const ip = (ns: string, ...args: string[]): Promise<unknown> => run(["ip", "-n", ns, ...args]);
const inNs = (ns: string, ...argv: string[]): Promise<{ stdout: string }> => run(["ip", "netns", "exec", ns, ...argv]);
const batch = (ns: string, lines: readonly string[]): Promise<unknown> => run(["ip", "-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n` });

// ---- the by-hand bed -----------------------------------------------------------------------------
type Backend = "vxlan" | "host-gw";

interface Endpoints {
  readonly srcPod: string;
  readonly dstPod: string;
  readonly dstIp: string;
}

/** Same MAC rule as Flannel's pkg/mac: random, multicast bit clear, locally administered bit set. */
function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Builds the bed; every namespace is registered for removal before it is created. */
async function buildByHand(prefix: string, backend: Backend, podMtu: number): Promise<Endpoints> {
  const fabric = `${prefix}-fabric`;
  const nodes = [1, 2].map((n) => ({ n, ns: `${prefix}-node${n}`, pod: `${prefix}-pod${n}`, ip: `198.18.0.${n}`, mac: randomMac() }));
  for (const ns of [fabric, ...nodes.flatMap((node) => [node.ns, node.pod])]) {
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
    // The pod, as the bridge plugin (isGateway, isDefaultGateway, hairpinMode) + host-local leave it.
    await batch(node.ns, [
      `link add cni0 mtu ${podMtu} type bridge`,
      `addr add 10.244.${node.n}.1/24 dev cni0`,
      "link set cni0 up",
      `link add veth${node.n} mtu ${podMtu} type veth peer name eth0 netns ${node.pod}`,
      `link set veth${node.n} master cni0`,
      `link set veth${node.n} type bridge_slave hairpin on`,
      `link set veth${node.n} up`,
    ]);
    await batch(node.pod, [`addr add 10.244.${node.n}.2/24 dev eth0`, "link set eth0 up", `route add default via 10.244.${node.n}.1`]);
  }
  if (backend === "vxlan") {
    // flannel.1 exactly as flanneld makes it (F:pkg/backend/vxlan/device.go), then per peer the
    // permanent neighbour, the FDB entry and the onlink route.
    for (const node of nodes) {
      await ip(node.ns, "link", "add", "flannel.1", "address", node.mac, "mtu", "1450", "type", "vxlan", "id", "1", "dev", "eth0", "local", node.ip, "nolearning", "dstport", "8472");
      await inNs(node.ns, "sysctl", "-q", "-w", "net.ipv6.conf.flannel/1.accept_ra=0");
      await batch(node.ns, [`addr add 10.244.${node.n}.0/32 dev flannel.1`, "link set flannel.1 up"]);
    }
    for (const node of nodes) {
      for (const peer of nodes.filter((other) => other !== node)) {
        await ip(node.ns, "neigh", "replace", `10.244.${peer.n}.0`, "lladdr", peer.mac, "dev", "flannel.1", "nud", "permanent");
        await run(["bridge", "-n", node.ns, "fdb", "replace", peer.mac, "dev", "flannel.1", "dst", peer.ip, "self", "permanent"]);
        await ip(node.ns, "route", "replace", `10.244.${peer.n}.0/24`, "via", `10.244.${peer.n}.0`, "dev", "flannel.1", "onlink");
      }
    }
  } else {
    for (const node of nodes) {
      for (const peer of nodes.filter((other) => other !== node)) await ip(node.ns, "route", "replace", `10.244.${peer.n}.0/24`, "via", peer.ip, "dev", "eth0");
    }
  }
  return { srcPod: nodes[0]!.pod, dstPod: nodes[1]!.pod, dstIp: "10.244.2.2" };
}

/**
 * Copies each lab node's IPv4 netfilter rules to the bed node of the same index, with the lab
 * nodes' subnets rewritten to the bed's (10.244.<n>.0/24). Returns the rule count per node.
 */
async function copyNetfilter(lab: Lab, bedPrefix: string): Promise<number[]> {
  const mapping = lab.nodes.map((node, i) => {
    const subnet = node.flanneld.subnet();
    const match = subnet === undefined ? null : /^(\d+\.\d+\.\d+\.)\d+\/24$/.exec(subnet);
    if (match?.[1] === undefined) throw new Error(`lab node ${node.name}: subnet ${subnet ?? "unknown"} is not a /24`);
    return { from: match[1], to: `10.244.${i + 1}.` };
  });
  const counts: number[] = [];
  for (const [i, node] of lab.nodes.entries()) {
    let rules = (await node.exec(["iptables-save"])).stdout;
    // Through a placeholder, so that a later mapping cannot rewrite an earlier one's output.
    mapping.forEach(({ from }, j) => (rules = rules.replaceAll(from, `@${j}@`)));
    mapping.forEach(({ to }, j) => (rules = rules.replaceAll(`@${j}@`, to)));
    await run(["ip", "netns", "exec", `${bedPrefix}-node${i + 1}`, "iptables-restore"], { input: rules });
    counts.push(rules.split("\n").filter((line) => line.startsWith("-A ")).length);
  }
  return counts;
}

// ---- iperf3 ------------------------------------------------------------------------------------
async function iperfOnce(where: Endpoints, extra: readonly string[]): Promise<{ gbps: number; retransmits: number }> {
  const port = 5201 + Math.floor(Math.random() * 500);
  // `ip netns exec` execs iperf3, so this PID is the server's own.
  const server = spawn("ip", ["netns", "exec", where.dstPod, "iperf3", "-s", "-1", "-p", String(port)], { stdio: "ignore" });
  const serverGone = new Promise<void>((resolve) => server.on("exit", () => resolve()));
  try {
    for (let i = 0; i < 50; i++) {
      const { stdout } = await inNs(where.dstPod, "ss", "-Hltn", `sport = :${port}`);
      if (stdout.includes("LISTEN")) break;
      await sleep(50);
    }
    const { stdout } = await run(["ip", "netns", "exec", where.srcPod, "iperf3", "-c", where.dstIp, "-p", String(port), "-t", String(seconds), "-J", ...extra], {
      timeoutMs: (seconds + 20) * 1000,
    });
    const report = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    return { gbps: report.end.sum_received.bits_per_second / 1e9, retransmits: report.end.sum_sent.retransmits ?? 0 };
  } finally {
    if (server.exitCode === null && server.signalCode === null && server.pid !== undefined) process.kill(server.pid, "SIGTERM");
    await serverGone;
  }
}

/** The agent pod pair for the lab: the first pod of node1 → the first pod of node2. */
function labEndpoints(lab: Lab): Endpoints {
  const src = lab.nodes[0]!.pods[0]!;
  const dst = lab.nodes[1]!.pods[0]!;
  return { srcPod: src.ns, dstPod: dst.ns, dstIp: dst.ip };
}

async function podMtu(pod: string): Promise<number> {
  const { stdout } = await inNs(pod, "cat", "/sys/class/net/eth0/mtu");
  return Number(stdout.trim());
}

/** flannel.1's vxlan attributes (ip -d -json), for comparing the agent's device with ours. */
async function vxlanInfo(ns: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(["ip", "-n", ns, "-d", "-json", "link", "show", "flannel.1"]);
  const [link] = JSON.parse(stdout) as Array<{ mtu: number; linkinfo?: { info_data?: Record<string, unknown> } }>;
  return { mtu: link?.mtu, ...link?.linkinfo?.info_data };
}

// ---- the run -------------------------------------------------------------------------------------
const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round2 = (value: number): number => Math.round(value * 100) / 100;

try {
  const tag = randomBytes(2).toString("hex");
  const controller = new AbortController();
  const setups: Array<{ backend: Backend; agent: Endpoints; hand: Endpoints; mtu: number }> = [];
  const deviceCheck: Record<string, unknown> = {};
  for (const backend of ["vxlan", "host-gw"] as const) {
    out(`starting the ${backend} lab (2 nodes) and the by-hand ${backend} bed …`);
    const lab = await startLab({ name: `tp${tag}-${backend === "vxlan" ? "vx" : "hg"}`, nodes: 2, backend, podsPerNode: 1 }, controller.signal);
    onCleanup(async () => void (await lab.teardown()));
    const agent = labEndpoints(lab);
    const matrix = await lab.waitConverged({ timeoutMs: 30_000 });
    const mtu = await podMtu(agent.srcPod);
    const bedPrefix = `tp${tag}-h${backend === "vxlan" ? "vx" : "hg"}`;
    const hand = await buildByHand(bedPrefix, backend, mtu);
    const ruleCounts = await copyNetfilter(lab, bedPrefix);
    await inNs(hand.srcPod, "ping", "-c", "1", "-W", "2", hand.dstIp); // the bed works before it is measured
    out(`  by-hand bed: ${ruleCounts.join(" and ")} netfilter rules copied from the lab nodes`);
    out(`  lab ${lab.name}: pods ${agent.srcPod} → ${agent.dstIp}, pod MTU ${mtu}; unreachable pod pairs ${unreachablePairs(matrix).length}`);
    if (backend === "vxlan") {
      const [agentDevice, handDevice] = await Promise.all([vxlanInfo(lab.nodes[0]!.ns), vxlanInfo(hand.srcPod.replace(/-pod1$/, "-node1"))]);
      const differing = [...new Set([...Object.keys(agentDevice), ...Object.keys(handDevice)])].filter(
        (key) => JSON.stringify(agentDevice[key]) !== JSON.stringify(handDevice[key]) && key !== "local",
      );
      deviceCheck.agent = agentDevice;
      deviceCheck.byHand = handDevice;
      deviceCheck.differingAttributes = differing;
      out(`  flannel.1 attributes differing agent vs by hand (besides local): ${differing.length === 0 ? "none" : differing.map((key) => `${key}: ${JSON.stringify(agentDevice[key])} vs ${JSON.stringify(handDevice[key])}`).join(", ")}`);
    }
    setups.push({ backend, agent, hand, mtu });
  }

  type Sample = { gbps: number; retransmits: number };
  const samples = new Map<string, Sample[]>();
  const record = (key: string, sample: Sample): void => void samples.set(key, [...(samples.get(key) ?? []), sample]);
  for (const streams of [1, 4]) {
    const extra = streams === 1 ? [] : ["-P", "4"];
    for (let rep = 0; rep < reps; rep++) {
      for (const setup of setups) {
        // Alternate which side goes first, so a drift over the run does not favour one side.
        const order = rep % 2 === 0 ? (["agent", "hand"] as const) : (["hand", "agent"] as const);
        for (const side of order) {
          const sample = await iperfOnce(side === "agent" ? setup.agent : setup.hand, extra);
          record(`${setup.backend}|${streams}|${side}`, sample);
          out(`  ${setup.backend} P${streams} rep ${rep + 1} ${side === "agent" ? "agent  " : "by hand"}: ${sample.gbps.toFixed(2)} Gbit/s (retr ${sample.retransmits})`);
        }
      }
    }
  }

  const cases: Record<string, unknown>[] = [];
  out(`\nthroughput, Gbit/s (median of ${reps} × ${seconds} s; each rep), ratio of medians agent/by-hand (target ≥ 0.97):`);
  for (const setup of setups) {
    for (const streams of [1, 4]) {
      const agent = samples.get(`${setup.backend}|${streams}|agent`) ?? [];
      const hand = samples.get(`${setup.backend}|${streams}|hand`) ?? [];
      const agentMean = mean(agent.map((s) => s.gbps));
      const handMean = mean(hand.map((s) => s.gbps));
      const agentMedian = median(agent.map((s) => s.gbps));
      const handMedian = median(hand.map((s) => s.gbps));
      const ratio = agentMedian / handMedian;
      const reps = (list: Sample[]): string => list.map((s) => s.gbps.toFixed(2)).join(" ");
      out(`  ${setup.backend.padEnd(7)} ${streams === 1 ? "1 stream" : "-P 4    "}  agent ${agentMedian.toFixed(2)} (${reps(agent)})  by hand ${handMedian.toFixed(2)} (${reps(hand)})  ratio ${ratio.toFixed(3)} ${ratio >= 0.97 ? "ok" : "MISSED"}`);
      cases.push({
        backend: setup.backend,
        streams,
        podMtu: setup.mtu,
        agent: { medianGbps: round2(agentMedian), meanGbps: round2(agentMean), repsGbps: agent.map((s) => round2(s.gbps)), retransmits: agent.map((s) => s.retransmits) },
        byHand: { medianGbps: round2(handMedian), meanGbps: round2(handMean), repsGbps: hand.map((s) => round2(s.gbps)), retransmits: hand.map((s) => s.retransmits) },
        ratio: Math.round(ratio * 1000) / 1000,
        ratioOfMeans: Math.round((agentMean / handMean) * 1000) / 1000,
        targetRatio: 0.97,
      });
    }
  }
  const path = writeResults("throughput", { method: `iperf3 -t ${seconds} -J, ${reps} reps, server -s -1 in dst pod, Gbit/s = end.sum_received; ratio of medians; agent and by-hand interleaved; by-hand nodes carry the lab nodes' iptables rules (subnets mapped)`, cases, vxlanDevice: deviceCheck });
  out(`results: ${path}`);
} catch (error) {
  process.stderr.write(`throughput bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
