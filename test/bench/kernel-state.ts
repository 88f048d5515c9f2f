// The benchmarks' exact check of a node's vxlan state: every route, neighbour and FDB entry on
// flannel.1 read back (one `-json` dump each, through batch-shell.ts) and compared with what the
// present peers and their current VtepMACs call for — nothing missing, nothing stale, no extras.
import type { BatchShell } from "./batch-shell.ts";
import { macOf, vxlanDevice, type Peer } from "./kernel-probe.ts";

export interface KernelMismatch {
  readonly missing: string[];
  readonly unexpected: string[];
}

function parseDump(line: string | undefined): Array<Record<string, unknown>> {
  if (line === undefined || line.trim() === "") return [];
  return JSON.parse(line) as Array<Record<string, unknown>>;
}

/** Entries as comparable strings: `route DST via GW`, `neigh GW MAC`, `fdb MAC DST`. */
export async function kernelEntries(ip: BatchShell, bridge: BatchShell): Promise<Set<string>> {
  const [[routes, neighbours], [fdb]] = await Promise.all([
    ip.ask([`route show dev ${vxlanDevice}`, `neigh show dev ${vxlanDevice}`]),
    bridge.ask([`fdb show dev ${vxlanDevice}`]),
  ]);
  const entries = new Set<string>();
  for (const route of parseDump(routes)) entries.add(`route ${String(route.dst)} via ${String(route.gateway)}`);
  for (const neighbour of parseDump(neighbours)) entries.add(`neigh ${String(neighbour.dst)} ${String(neighbour.lladdr)}`);
  for (const entry of parseDump(fdb)) entries.add(`fdb ${String(entry.mac)} ${String(entry.dst)}`);
  return entries;
}

export function expectedEntries(present: ReadonlyMap<Peer, number>): Set<string> {
  const entries = new Set<string>();
  for (const [peer, generation] of present) {
    const mac = macOf(peer, generation);
    entries.add(`route ${peer.subnet} via ${peer.gateway}`);
    entries.add(`neigh ${peer.gateway} ${mac}`);
    entries.add(`fdb ${mac} ${peer.publicIP}`);
  }
  return entries;
}

export function compareEntries(actual: ReadonlySet<string>, expected: ReadonlySet<string>): KernelMismatch {
  return { missing: [...expected].filter((entry) => !actual.has(entry)), unexpected: [...actual].filter((entry) => !expected.has(entry)) };
}
