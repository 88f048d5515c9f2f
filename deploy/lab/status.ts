// What the lab reports about itself, read from the kernel and the agents rather than believed:
// per node the subnet (subnet.env), how many peers are programmed (routes the backend made:
// via flannel.1 for vxlan, via eth0 to a peer's public IP for host-gw; udp keeps its peer table
// inside flanneld, so there the peers whose flannel0 address answers a ping through the overlay)
// and whether flanneld says it is ready; and the pod-to-pod ping matrix (every pod pings every
// other pod, all at once).
import { cidrContainsIp, cidrIp, formatIp, parseCidr, parseIp } from "../../backends/net/ip.ts";
import type { LabAgent } from "./agent.ts";
import { nodeUplink } from "./layout.ts";
import { execIn, ipJsonIn } from "./namespace.ts";
import { bashScript } from "./tools/command.ts";
import type { LabBackend } from "./options.ts";
import type { LabPod } from "./pods.ts";

export type AgentState = "ready" | "not ready" | "stopped";

export interface NodeStatus {
  readonly node: string;
  readonly publicIP: string;
  readonly subnet: string | undefined;
  readonly backend: LabBackend;
  readonly peersProgrammed: number;
  /** Every other node. */
  readonly peersExpected: number;
  readonly agent: AgentState;
}

export interface StatusSource {
  readonly name: string;
  readonly ns: string;
  readonly publicIP: string;
  readonly flanneld: LabAgent;
}

/** The udp backend's device: its peer table lives in flanneld, not in the kernel. */
export const udpDevice = "flannel0";

/** The VXLAN device flanneld makes for VNI 1 (the lab's network config sets no VNI). */
export const vxlanDevice = "flannel.1";

interface RouteEntry {
  readonly dst?: string;
  readonly gateway?: string;
  readonly dev?: string;
}

/**
 * udp: how many of the other nodes' flannel0 addresses (their subnet's network address) answer
 * one ping from this node — a round trip through both nodes' data planes, so both tables hold
 * each other. `peerSubnets` are the other nodes' subnets ("10.244.2.1/24" or "10.244.2.0/24").
 */
async function udpPeersAnswering(ns: string, peerSubnets: readonly string[]): Promise<number> {
  const targets = peerSubnets.flatMap((subnet) => {
    const cidr = parseCidr(subnet);
    return cidr === undefined ? [] : [formatIp(cidrIp(cidr))];
  });
  if (targets.length === 0) return 0;
  const result = await execIn(ns, bashScript(pingRowScript, "ping-row", ...targets), { allowFailure: true, timeoutMs: 10_000 });
  return result.stdout.split("\n").filter((line) => line.endsWith(" 1")).length;
}

/** Peer routes the backend programmed in `ns`: kernel entries counted, inside `network` only. */
export async function programmedPeers(ns: string, backend: LabBackend, network: string, peerSubnets: readonly string[] = []): Promise<number> {
  const cidr = parseCidr(network);
  const inNetwork = (route: RouteEntry): boolean => {
    const dst = parseCidr(route.dst ?? "");
    const ip = dst === undefined ? undefined : parseIp(route.dst!.split("/")[0]!);
    return cidr !== undefined && ip !== undefined && cidrContainsIp(cidr, ip);
  };
  try {
    if (backend === "udp") return await udpPeersAnswering(ns, peerSubnets);
    if (backend === "vxlan") {
      const routes = await ipJsonIn<RouteEntry[]>(ns, "route", "show", "dev", vxlanDevice);
      return routes.filter(inNetwork).length;
    }
    const routes = await ipJsonIn<RouteEntry[]>(ns, "route", "show", "dev", nodeUplink);
    return routes.filter((route) => route.gateway !== undefined && inNetwork(route)).length;
  } catch {
    // No flannel.1 yet (the agent has not prepared the backend): nothing programmed.
    return 0;
  }
}

export async function nodeStatus(node: StatusSource, backend: LabBackend, network: string, nodeCount: number, peerSubnets: readonly string[] = []): Promise<NodeStatus> {
  const [peersProgrammed, ready] = await Promise.all([
    programmedPeers(node.ns, backend, network, peerSubnets),
    node.flanneld.running ? node.flanneld.ready() : Promise.resolve(false),
  ]);
  return {
    node: node.name,
    publicIP: node.publicIP,
    subnet: node.flanneld.subnet(),
    backend,
    peersProgrammed,
    peersExpected: nodeCount - 1,
    agent: !node.flanneld.running ? "stopped" : ready ? "ready" : "not ready",
  };
}

export interface PingMatrix {
  readonly pods: readonly LabPod[];
  /** reachable[i][j]: pods[i] got an answer from pods[j] (the diagonal is true). */
  readonly reachable: readonly (readonly boolean[])[];
}

// One shell per source pod starts every ping of its row at once and reports "<ip> 1|0" per target:
// a handful of processes from Node instead of one `ip netns exec` per pair.
const pingRowScript = 'for ip in "$@"; do (if ping -c 1 -W 1 -q -n "$ip" >/dev/null 2>&1; then echo "$ip 1"; else echo "$ip 0"; fi) & done; wait';

/** Which of `targets` answer one ICMP echo (1 s timeout) sent from inside `from`'s namespace. */
export async function pingRow(from: LabPod, targets: readonly string[]): Promise<Set<string>> {
  if (targets.length === 0) return new Set();
  const result = await execIn(from.ns, bashScript(pingRowScript, "ping-row", ...targets), { allowFailure: true, timeoutMs: 10_000 });
  return new Set(result.stdout.split("\n").filter((line) => line.endsWith(" 1")).map((line) => line.slice(0, -2)));
}

/** Every pod pings every other pod, all in parallel (1 packet, 1 s timeout each). */
export async function pingMatrix(pods: readonly LabPod[]): Promise<PingMatrix> {
  const reachable = await Promise.all(
    pods.map(async (from, i) => {
      const answered = await pingRow(from, pods.filter((_, j) => j !== i).map((to) => to.ip));
      return pods.map((to, j) => i === j || answered.has(to.ip));
    }),
  );
  return { pods, reachable };
}

export function unreachablePairs(matrix: PingMatrix): Array<{ from: LabPod; to: LabPod }> {
  return matrix.pods.flatMap((from, i) =>
    matrix.pods.flatMap((to, j) => (matrix.reachable[i]?.[j] === false ? [{ from, to }] : [])),
  );
}

export function fullyReachable(matrix: PingMatrix): boolean {
  return unreachablePairs(matrix).length === 0;
}
