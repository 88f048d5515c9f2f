// What the convergence benchmarks read back from a node's kernel: the peers they invent (one /24
// each out of 10.0.0.0/8, a public IP out of 198.19.0.0/16, a VTEP MAC per generation), the
// number of vxlan routes/neighbours/FDB entries, and whether one peer is fully programmed. Shared
// by kube.bench.ts (and its etcd-mode memory run); the kernel is read through the long-lived
// `ip`/`bridge -batch` processes of batch-shell.ts, so a poll costs a netlink request, not a fork.
import { setTimeout as sleep } from "node:timers/promises";
import { countJsonObjects, type BatchShell } from "./batch-shell.ts";

export const vxlanDevice = "flannel.1";

export interface Peer {
  readonly subnetNumber: number;
  readonly subnet: string; // 10.a.b.0/24
  readonly gateway: string; // 10.a.b.0 (the peer's VTEP address, Flannel's neighbour/gateway)
  readonly probe: string; // 10.a.b.1 (for `route get`)
  readonly publicIP: string; // 198.19.a.b
}

export function macOf(peer: Peer, generation: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, "0");
  return `02:fb:00:${hex(generation)}:${hex(peer.subnetNumber >> 8)}:${hex(peer.subnetNumber & 0xff)}`;
}

/** Peers 10.a.b.0/24 for a.b = 0.1, 0.2, …, skipping the node's own subnet. */
export function makePeers(count: number, ownSubnet: string): Peer[] {
  const peers: Peer[] = [];
  for (let n = 1; peers.length < count; n++) {
    const prefix = `10.${n >> 8}.${n & 0xff}`;
    if (ownSubnet.startsWith(`${prefix}.`)) continue;
    peers.push({ subnetNumber: n, subnet: `${prefix}.0/24`, gateway: `${prefix}.0`, probe: `${prefix}.1`, publicIP: `198.19.${n >> 8}.${n & 0xff}` });
  }
  return peers;
}

export interface Counts {
  routes: number;
  neighbours: number;
  fdb: number;
}

export async function counts(ip: BatchShell, bridge: BatchShell): Promise<Counts> {
  const [[routes, neighbours], [fdb]] = await Promise.all([
    ip.ask([`route show dev ${vxlanDevice}`, `neigh show dev ${vxlanDevice}`]),
    bridge.ask([`fdb show dev ${vxlanDevice}`]),
  ]);
  return { routes: countJsonObjects(routes, "dst"), neighbours: countJsonObjects(neighbours, "dst"), fdb: countJsonObjects(fdb, "mac") };
}

export interface Convergence {
  /** From the start of the write to the last of the three kinds reaching the target, ms (NaN: not within the timeout). */
  readonly convergedMs: number;
  readonly routesMs: number;
  readonly neighboursMs: number;
  readonly fdbMs: number;
  /** When the writer said it was done (etcd puts acknowledged, API objects created), ms. */
  readonly writeAckMs: number;
  readonly polls: number;
  readonly final: Counts;
}

/** Starts `write`, then polls the counts (every ~10 ms) until all three equal `target`. */
export async function timeUntilCounts(ip: BatchShell, bridge: BatchShell, target: number, write: () => Promise<unknown>, timeoutMs: number): Promise<Convergence> {
  const start = performance.now();
  let writeAckMs = Number.NaN;
  const writing = write().then(() => {
    writeAckMs = performance.now() - start;
  });
  writing.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
  const reached: { routes?: number; neighbours?: number; fdb?: number } = {};
  let polls = 0;
  let last: Counts = { routes: -1, neighbours: -1, fdb: -1 };
  for (;;) {
    last = await counts(ip, bridge);
    polls++;
    const now = performance.now() - start;
    for (const kind of ["routes", "neighbours", "fdb"] as const) if (last[kind] === target) reached[kind] ??= now;
    if (reached.routes !== undefined && reached.neighbours !== undefined && reached.fdb !== undefined) break;
    if (now > timeoutMs) break;
    await sleep(10);
  }
  await writing;
  const convergedMs = Math.max(reached.routes ?? Number.NaN, reached.neighbours ?? Number.NaN, reached.fdb ?? Number.NaN);
  return { convergedMs, routesMs: reached.routes ?? Number.NaN, neighboursMs: reached.neighbours ?? Number.NaN, fdbMs: reached.fdb ?? Number.NaN, writeAckMs, polls, final: last };
}

/** True once `peer` has its neighbour (with `mac`), its FDB entry (mac → publicIP) and its route. */
export async function programmed(ip: BatchShell, bridge: BatchShell, peer: Peer, mac: string): Promise<boolean> {
  const [ipLines, fdbLines] = await Promise.all([
    ip.ask([`neigh get ${peer.gateway} dev ${vxlanDevice}`, `route get ${peer.probe}`]),
    bridge.ask([`fdb get ${mac} dev ${vxlanDevice} self`]),
  ]);
  // iproute2 6.1 prints `neigh get` as text even under -json: "10.a.b.0 dev flannel.1 lladdr MAC PERMANENT"
  const neighbour = ipLines.some((line) => line.startsWith(`${peer.gateway} `) && line.includes(`lladdr ${mac}`));
  const route = ipLines.some((line) => line.includes(`"gateway":"${peer.gateway}"`) && line.includes(`"dev":"${vxlanDevice}"`));
  const fdb = fdbLines.some((line) => line.includes(`"dst":"${peer.publicIP}"`));
  return neighbour && route && fdb;
}

/** Polls `programmed` every 2 ms from `start` for up to 5 s; the time it took, or NaN. */
export async function timeUntilProgrammed(ip: BatchShell, bridge: BatchShell, peer: Peer, mac: string, start: number): Promise<number> {
  while (performance.now() - start < 5000) {
    if (await programmed(ip, bridge, peer, mac)) return performance.now() - start;
    await sleep(2);
  }
  return Number.NaN;
}
