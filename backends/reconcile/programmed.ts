// What a backend last programmed for each peer, so that a lease event writes only that peer's
// entries without reading the kernel (edge-triggered), while reconcile stays the level-triggered
// safety net that resets this memory from the desired state of the whole peer set.
//
// Per peer (keyed by its subnet's text, the label of reconcile/peers.ts) a record holds up to
// three slots — its route, neighbour and FDB entry — each with the line that writes it, the line
// that deletes exactly it, and the key a `replace` overwrites. A change from one record to the
// next writes the slots whose line changed and deletes the ones that went or moved to another key.
import type { BatchLine } from "../kernel/batch-line.ts";
import { fdbDeleteLine, fdbReplaceLine } from "../kernel/fdb.ts";
import { neighbourDeleteLine, neighbourReplaceLine } from "../kernel/neighbour.ts";
import { routeDeleteLine, routeReplaceLine } from "../kernel/route.ts";
import { formatIp, lastAddress, type Cidr } from "../net/ip.ts";
import { routeKey, type DesiredRoute } from "./routes.ts";
import type { Step } from "./steps.ts";

interface Slot<T extends "ip" | "bridge"> {
  readonly key: string;
  readonly write: BatchLine<T>;
  readonly remove: BatchLine<T>;
}

export interface PeerRecord {
  readonly subnet: Cidr;
  readonly route?: Slot<"ip">;
  readonly neighbour?: Slot<"ip">;
  readonly fdb?: Slot<"bridge">;
}

/** The steps of one incremental run, in the order reconcile applies them. */
export interface ChangeSteps {
  readonly ipFirst: Step<"ip">[];
  readonly bridge: Step<"bridge">[];
  readonly ipLast: Step<"ip">[];
}

/**
 * A slot whose delete line is built only if it is ever needed: most entries are never deleted, and
 * a full reconcile of 5000 peers would otherwise build 15,000 lines nobody sends.
 */
function slot<T extends "ip" | "bridge">(key: string, write: BatchLine<T>, makeRemove: () => BatchLine<T>): Slot<T> {
  let remove: BatchLine<T> | undefined;
  return {
    key,
    write,
    get remove() {
      return (remove ??= makeRemove());
    },
  };
}

export function routeSlot(route: DesiredRoute): Slot<"ip"> {
  return slot(`route:${routeKey(route.dst, route.metric)}`, routeReplaceLine(route), () => routeDeleteLine(route));
}

export function neighbourSlot(entry: Parameters<typeof neighbourReplaceLine>[0]): Slot<"ip"> {
  return slot(`neigh:${formatIp(entry.ip)}`, neighbourReplaceLine(entry), () => neighbourDeleteLine(entry));
}

export function fdbSlot(entry: Parameters<typeof fdbReplaceLine>[0]): Slot<"bridge"> {
  return slot(`fdb:${entry.mac}`, fdbReplaceLine(entry), () => fdbDeleteLine(entry));
}

/** Appends the steps that turn `old` into `next` (either may be absent) for the peer `label`. */
export function planPeerChange(label: string, old: PeerRecord | undefined, next: PeerRecord | undefined, steps: ChangeSteps): void {
  const removed = <T extends "ip" | "bridge">(was: Slot<T> | undefined, now: Slot<T> | undefined): Step<T> | undefined =>
    was !== undefined && (now === undefined || now.key !== was.key) ? { line: was.remove, effect: "removed" } : undefined;
  const written = <T extends "ip" | "bridge">(was: Slot<T> | undefined, now: Slot<T> | undefined): Step<T> | undefined =>
    now !== undefined && now.write !== was?.write ? { line: now.write, effect: "added", key: now.key, peer: label } : undefined;
  const routeGone = removed(old?.route, next?.route);
  const neighbourGone = removed(old?.neighbour, next?.neighbour);
  const neighbourNew = written(old?.neighbour, next?.neighbour);
  const fdbGone = removed(old?.fdb, next?.fdb);
  const fdbNew = written(old?.fdb, next?.fdb);
  const routeNew = written(old?.route, next?.route);
  if (routeGone !== undefined) steps.ipFirst.push(routeGone);
  if (neighbourGone !== undefined) steps.ipFirst.push(neighbourGone);
  if (neighbourNew !== undefined) steps.ipFirst.push(neighbourNew);
  if (fdbGone !== undefined) steps.bridge.push(fdbGone);
  if (fdbNew !== undefined) steps.bridge.push(fdbNew);
  if (routeNew !== undefined) steps.ipLast.push(routeNew);
}

interface Range {
  readonly start: bigint;
  readonly end: bigint;
  readonly label: string;
}

/**
 * The programmed subnets as disjoint ranges sorted by start (apply never programs an overlap), so
 * that a new subnet is checked against its two neighbours by binary search, not against all.
 */
class SortedRanges {
  readonly #ranges: Range[] = [];

  /** Index of the first range starting after `start`. */
  #after(start: bigint): number {
    let low = 0;
    let high = this.#ranges.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.#ranges[middle]!.start <= start) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  overlapping(subnet: Cidr, label: string): string | undefined {
    const start = subnet.address;
    const end = lastAddress(subnet).value;
    const at = this.#after(start);
    for (const range of [this.#ranges[at - 1], this.#ranges[at]]) {
      if (range !== undefined && range.label !== label && range.start <= end && range.end >= start) return range.label;
    }
    return undefined;
  }

  add(subnet: Cidr, label: string): void {
    this.#ranges.splice(this.#after(subnet.address), 0, { start: subnet.address, end: lastAddress(subnet).value, label });
  }

  remove(subnet: Cidr, label: string): void {
    const at = this.#after(subnet.address) - 1;
    if (this.#ranges[at]?.label === label) this.#ranges.splice(at, 1);
  }

  clear(): void {
    this.#ranges.length = 0;
  }
}

/** One address family's memory of programmed peers. Bounded by the number of peers. */
export class ProgrammedPeers {
  readonly #records = new Map<string, PeerRecord>();
  /** FDB key → the peer holding it: a second peer with the same VTEP MAC is a clash. */
  readonly #fdbOwners = new Map<string, string>();
  readonly #ranges = new SortedRanges();

  get(label: string): PeerRecord | undefined {
    return this.#records.get(label);
  }

  set(label: string, record: PeerRecord | undefined): void {
    const old = this.#records.get(label);
    if (old?.fdb !== undefined && this.#fdbOwners.get(old.fdb.key) === label) this.#fdbOwners.delete(old.fdb.key);
    if (old !== undefined) this.#ranges.remove(old.subnet, label);
    if (record === undefined) {
      this.#records.delete(label);
      return;
    }
    this.#records.set(label, record);
    this.#ranges.add(record.subnet, label);
    if (record.fdb !== undefined) this.#fdbOwners.set(record.fdb.key, label);
  }

  clear(): void {
    this.#records.clear();
    this.#fdbOwners.clear();
    this.#ranges.clear();
  }

  get size(): number {
    return this.#records.size;
  }

  /** The peer (other than `label`) whose record holds the FDB key of `record`, if any. */
  fdbClash(label: string, record: PeerRecord): string | undefined {
    if (record.fdb === undefined) return undefined;
    const owner = this.#fdbOwners.get(record.fdb.key);
    return owner === undefined || owner === label ? undefined : owner;
  }

  /** A programmed peer (other than `label`) whose subnet overlaps `subnet`. */
  overlapping(label: string, subnet: Cidr): string | undefined {
    return this.#ranges.overlapping(subnet, label);
  }

  /** The records of a whole desired state, grouped by peer (what a full reconcile programs). */
  resetFrom(routes: readonly DesiredRoute[], extra: (label: string) => Omit<PeerRecord, "subnet" | "route">): void {
    this.clear();
    for (const route of routes) this.set(route.peer, { subnet: route.dst, route: routeSlot(route), ...extra(route.peer) });
  }
}
