// The configurations `npm run bench -- udp` compares, each a pod pair on two nodes, set up side by
// side before measuring so that every rep can run them all back to back:
//   ours    the lab (deploy/lab) with Backend.Type udp: real etcd, one real flanneld per node
//           (--ip-masq), pods through the flannel CNI plugin; the data plane is flanneld itself;
//   ours-q2 the same lab with Backend.Queues 2 (a multi-queue flannel0, a socket and a pair of
//           threads per queue), written to etcd after the start and the agents restarted;
//   vxlan   kernel vxlan programmed by hand (hand-bed.ts, as the throughput bench's baseline);
//   openvpn, fastd, tinc   userspace tunnels from Debian, encryption off (userspace-peers.ts);
//   floor   Flannel's one-packet-per-syscall loop (floor-peer.ts).
// Every by-hand node carries Flannel's masquerade and forward rules, like the lab's nodes.
import { LabStartError, startLab, type Lab } from "../../deploy/lab/lab.ts";
import { networkConfigKey } from "../../deploy/lab/layout.ts";
import { run } from "../../deploy/lab/tools/command.ts";
import { onCleanup } from "./cleanup.ts";
import { buildFloor, startFloor } from "./floor-peer.ts";
import { buildBed, waitPodsReach, type Bed } from "./hand-bed.ts";
import type { Endpoints } from "./iperf.ts";
import { startPeer, type PeerKind } from "./userspace-peers.ts";

export type ConfigKey = "ours" | "ours-q2" | "vxlan" | PeerKind | "floor";

export interface Config {
  readonly key: ConfigKey;
  readonly label: string;
  readonly endpoints: Endpoints;
  readonly podMtu: number;
  /** The device the source node routes the destination pod through (checked before measuring). */
  readonly device: string;
  readonly srcNode: string;
  /** The data-plane processes (both nodes), read anew for every run; none for a kernel path. */
  dataPlanePids(): number[];
  /** Stops the data plane and returns what it said on the way out (counters), if anything. */
  finish?(): Promise<string>;
}

/** Flannel's udp MTU on a 1500-byte underlay: 1500 − 20 (IP) − 8 (UDP). */
export const udpMtu = 1472;
/** flannel.1's MTU, and the one testbed.md ran the userspace tunnels with. */
export const vxlanMtu = 1450;

async function podMtu(pod: string): Promise<number> {
  const { stdout } = await run(["ip", "netns", "exec", pod, "cat", "/sys/class/net/eth0/mtu"]);
  return Number(stdout.trim());
}

/** Fails unless the source node routes the destination pod through `device`, then pings across. */
export async function checkCarries(config: Config): Promise<void> {
  const { stdout } = await run(["ip", "-n", config.srcNode, "-json", "route", "get", config.endpoints.dstIp]);
  const [route] = JSON.parse(stdout) as Array<{ dev?: string }>;
  if (route?.dev !== config.device) throw new Error(`${config.label}: ${config.srcNode} routes ${config.endpoints.dstIp} via ${route?.dev ?? "nothing"}, not ${config.device}`);
  await waitPodsReach(config.endpoints);
}

export async function setupOurs(name: string, signal: AbortSignal, queues = 1): Promise<{ config: Config; lab: Lab }> {
  // Registered before the start: a Ctrl-C during start-up then waits for startLab, which removes
  // what it made when its signal aborts, instead of exiting under it.
  const starting = startLab({ name, nodes: 2, backend: "udp", podsPerNode: 1, ipMasq: true }, signal);
  onCleanup(async () => void (await (await starting.catch(() => undefined))?.teardown()));
  let lab: Lab;
  try {
    lab = await starting;
  } catch (error) {
    const logs = error instanceof LabStartError ? `\n${error.logs.map((log) => `--- ${log.file}\n${log.lines}`).join("\n")}` : "";
    throw new Error(`the udp lab did not start: ${error instanceof Error ? error.message : String(error)}${logs}`);
  }
  await lab.waitConverged({ timeoutMs: 30_000, signal });
  if (queues !== 1) {
    // The lab writes Flannel's plain config; the agents read Backend.Queues when they start.
    const etcd = lab.etcd!;
    const conf = JSON.parse((await etcd.etcdctl("get", "--print-value-only", networkConfigKey)).trim()) as { Backend: Record<string, unknown> };
    await etcd.etcdctl("put", networkConfigKey, JSON.stringify({ ...conf, Backend: { ...conf.Backend, Queues: queues } }));
    for (const node of lab.nodes) await node.flanneld.restart("SIGTERM");
    await lab.waitConverged({ timeoutMs: 30_000, signal });
  }
  const [src, dst] = [lab.nodes[0]!.pods[0]!, lab.nodes[1]!.pods[0]!];
  const endpoints = { srcPod: src.ns, dstPod: dst.ns, dstIp: dst.ip };
  const config: Config = {
    key: queues === 1 ? "ours" : "ours-q2",
    label: queues === 1 ? "ours (flanneld udp)" : `ours, ${queues} queues`,
    endpoints,
    podMtu: await podMtu(src.ns),
    device: "flannel0",
    srcNode: lab.nodes[0]!.ns,
    dataPlanePids: () => lab.nodes.flatMap((node) => (node.flanneld.pid === undefined ? [] : [node.flanneld.pid])),
  };
  return { config, lab };
}

export async function setupVxlan(prefix: string): Promise<Config> {
  const bed = await buildBed(prefix, "vxlan", vxlanMtu);
  return { key: "vxlan", label: "kernel vxlan (by hand)", endpoints: bed, podMtu: vxlanMtu, device: "flannel.1", srcNode: bed.nodes[0].ns, dataPlanePids: () => [] };
}

export async function setupPeer(kind: PeerKind, prefix: string, dir: string): Promise<Config> {
  const bed: Bed = await buildBed(prefix, "none", vxlanMtu);
  const peer = await startPeer(kind, bed, vxlanMtu, dir);
  const pids = peer.daemons.map((daemon) => daemon.pid);
  return { key: kind, label: `${kind} (no crypto)`, endpoints: bed, podMtu: vxlanMtu, device: peer.device, srcNode: bed.nodes[0].ns, dataPlanePids: () => pids };
}

export async function setupFloor(prefix: string, dir: string): Promise<Config> {
  const binary = await buildFloor(dir);
  const bed = await buildBed(prefix, "none", udpMtu);
  const daemons = await startFloor(binary, bed, udpMtu, dir);
  return {
    key: "floor",
    label: "floor (1 pkt/syscall)",
    endpoints: bed,
    podMtu: udpMtu,
    device: "flannel0",
    srcNode: bed.nodes[0].ns,
    dataPlanePids: () => daemons.map((daemon) => daemon.pid),
    async finish() {
      await Promise.all(daemons.map((daemon) => daemon.stop()));
      return daemons.map((daemon, i) => `node${i + 1} ${daemon.logTail(1)}`).join("; ");
    },
  };
}
