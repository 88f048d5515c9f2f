// What the convergence benchmarks read back from a node's kernel: the peers they invent (one /24
// each out of 10.0.0.0/8, a public IP out of 198.19.0.0/16, a VTEP MAC per generation), the
// number of vxlan routes/neighbours/FDB entries, and whether one peer is fully programmed. Shared
// by kube.bench.ts (and its etcd-mode memory run); the kernel is read through the long-lived
// `ip`/`bridge -batch` processes of batch-shell.ts, so a poll costs a netlink request, not a fork.
import { readFileSync } from "node:fs";
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

/**
 * The main routing table's prefix count in the namespace of `pid` (/proc/<pid>/net/fib_triestat):
 * one small read, whatever the table's size. Dumping the three tables instead costs ~15 ms of CPU
 * each at 5000 entries: polled every 10 ms, the dumps took about half of this 2-vCPU machine from
 * the agent being measured, just when it writes its last entries.
 */
export function mainTablePrefixes(pid: number): number {
  const text = readFileSync(`/proc/${pid}/net/fib_triestat`, "utf8");
  const main = text.slice(text.indexOf("Main:"));
  const prefixes = /Prefixes:\s+(\d+)/.exec(main)?.[1];
  if (prefixes === undefined) throw new Error(`no Main table prefix count in /proc/${pid}/net/fib_triestat`);
  return Number(prefixes);
}

/**
 * Starts `write`, then waits until routes, neighbours and FDB entries on the device all number
 * `target`. Every ~10 ms it reads the main table's prefix count (mainTablePrefixes); once that
 * shows the device's routes at `target` (routes go last for each peer, after its neighbour and FDB
 * entry), the three tables are dumped and counted, and only a dump showing all three at `target`
 * ends the wait — converged is when that dump returned, so the figure can only be late, never
 * early. Until then every further poll dumps too.
 */
export async function timeUntilCounts(ip: BatchShell, bridge: BatchShell, target: number, write: () => Promise<unknown>, timeoutMs: number): Promise<Convergence> {
  const before = await counts(ip, bridge);
  const basePrefixes = mainTablePrefixes(ip.pid);
  const routesAt = (prefixes: number): number => prefixes - basePrefixes + before.routes;
  const start = performance.now();
  let writeAckMs = Number.NaN;
  const writing = write().then(() => {
    writeAckMs = performance.now() - start;
  });
  writing.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
  const reached: { routes?: number; neighbours?: number; fdb?: number } = {};
  let polls = 0;
  let dumping = false;
  let last: Counts = before;
  for (;;) {
    polls++;
    // Every 50th poll dumps anyway, should some other route of the namespace come or go meanwhile.
    if (!dumping && (routesAt(mainTablePrefixes(ip.pid)) === target || polls % 50 === 0)) dumping = true;
    const dumped = dumping;
    if (dumped) last = await counts(ip, bridge);
    const now = performance.now() - start;
    if (dumped) for (const kind of ["routes", "neighbours", "fdb"] as const) if (last[kind] === target) reached[kind] ??= now;
    // A periodic dump that found the routes short goes back to the cheap count.
    if (dumped && last.routes !== target) dumping = false;
    if (reached.routes !== undefined && reached.neighbours !== undefined && reached.fdb !== undefined) break;
    if (now > timeoutMs) break;
    await sleep(10);
  }
  await writing;
  if (!dumping) last = await counts(ip, bridge);
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
