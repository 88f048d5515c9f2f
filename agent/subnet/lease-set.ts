// The set of remote leases a node knows, kept from the watch's events: Flannel's LeaseWatcher
// (F:pkg/lease/lease.go Reset/Update, §3.8 of the reference). It turns snapshots into the
// additions and removals they imply, drops the node's own lease, and gives removals the
// attributes of the lease they remove (an etcd delete carries only the key). peers() is the level
// state the backends reconcile against. Pure: no I/O, no clock.
import { formatCidr, type Cidr } from "../../backends/net/ip.ts";
import type { Lease, LeaseEvent } from "./manager.ts";

type Subnets = { readonly subnet?: Cidr; readonly subnetV6?: Cidr };

/** What apply() passes on: snapshots are resolved into these. */
export type LeaseChange = Extract<LeaseEvent, { kind: "added" | "removed" }>;

export interface LeaseSetOptions {
  /**
   * Called for a removal of a lease the set does not hold; the removal is still passed on as
   * received (Flannel logs "Removed subnet … were not found" and does the same).
   */
  readonly onUnknownRemoval?: (lease: Lease) => void;
}

export interface LeaseSet {
  /** Applies a batch of watch events in order; returns only additions and removals. */
  apply(events: readonly LeaseEvent[]): LeaseChange[];
  /**
   * The remote leases now known (the node's own excluded), in the order they were learnt: the
   * same array until the set changes, so that callers can tell "unchanged" by identity and an
   * idle agent's resyncs copy nothing.
   */
  peers(): readonly Lease[];
}

function sameCidr(a: Cidr | undefined, b: Cidr | undefined): boolean {
  return a !== undefined && b !== undefined && a.family === b.family && a.address === b.address && a.prefix === b.prefix;
}

/**
 * Whether a lease is the node's own. Flannel drops a lease when every subnet it carries equals
 * the node's (its sameSubnet with the incoming lease's EnableIPv4/EnableIPv6). We drop it when it
 * shares any subnet with the node: that covers Flannel's case, and a conflicting lease that
 * carries our IPv4 subnet next to some other IPv6 one must not make us route our own pods'
 * subnet to another node either.
 */
function isOwnLease(own: Subnets, lease: Subnets): boolean {
  return sameCidr(own.subnet, lease.subnet) || sameCidr(own.subnetV6, lease.subnetV6);
}

/**
 * Two leases are the same lease when both have the same subnets, a family absent from one absent
 * from the other — in etcd terms, the same key. Flannel's sameSubnet (F:pkg/lease/lease.go) is
 * asymmetric: it compares only the families the first lease enables, so a v4-only 10.5.1.0/24
 * "equals" a dual-stack 10.5.1.0/24 & fd00::/64 but not the reverse, and a removal can then pair
 * with the wrong cached entry. The two agree whenever every lease has the same shape (kube mode;
 * etcd outside a v4→dual-stack migration).
 */
function subnetsKey(lease: Subnets): string {
  return `${lease.subnet === undefined ? "-" : formatCidr(lease.subnet)}&${lease.subnetV6 === undefined ? "-" : formatCidr(lease.subnetV6)}`;
}

/**
 * A lease set for the node whose own lease holds `own`. Leases are identified by their exact
 * subnets (subnetsKey: the etcd key); see subnetsKey for how that differs from Flannel.
 */
export function createLeaseSet(own: Subnets, options: LeaseSetOptions = {}): LeaseSet {
  // Keyed by the exact subnets (subnetsKey); a Map keeps the order of learning,
  // and replacing a value keeps its place, as Flannel's in-place replacement does. Lookups stay
  // O(1), so a 5000-lease snapshot or burst costs O(n), not O(n²).
  let known = new Map<string, Lease>();
  /** peers() as last listed; undefined once the set changed. */
  let listed: Lease[] | undefined;

  /** Flannel's add: replace the entry with the same subnets, or append. */
  const add = (lease: Lease): LeaseChange => {
    listed = undefined;
    known.set(subnetsKey(lease), lease);
    return { kind: "added", lease };
  };

  /** Flannel's remove: the cached lease goes out, so its attributes reach the backend's cleanup. */
  const remove = (lease: Lease): LeaseChange => {
    const key = subnetsKey(lease);
    const cached = known.get(key);
    if (cached === undefined) {
      options.onUnknownRemoval?.(lease);
      return { kind: "removed", lease };
    }
    known.delete(key);
    listed = undefined;
    return { kind: "removed", lease: cached };
  };

  /**
   * Flannel's Reset: an addition for every lease not known yet and a removal (with the cached
   * lease) for every known lease the snapshot no longer has. A lease known already is not
   * re-announced even when its attributes changed (Flannel) — but unlike Flannel's events, our
   * backends reconcile against peers(), which takes the snapshot's attributes: level-triggered
   * reconciliation needs the store's truth, not what the last event said. Flannel also copies
   * the whole snapshot into its cache, own lease included, so its next snapshot announces the
   * node's own lease as removed; ours never holds it.
   */
  const reset = (leases: readonly Lease[]): LeaseChange[] => {
    const before = known;
    known = new Map();
    listed = undefined;
    for (const lease of leases) if (!isOwnLease(own, lease)) add(lease);
    const changes: LeaseChange[] = [];
    for (const [key, lease] of known) if (!before.has(key)) changes.push({ kind: "added", lease });
    for (const [key, lease] of before) if (!known.has(key)) changes.push({ kind: "removed", lease });
    return changes;
  };

  return {
    apply(events) {
      const changes: LeaseChange[] = [];
      for (const event of events) {
        if (event.kind === "snapshot") for (const change of reset(event.leases)) changes.push(change);
        else if (isOwnLease(own, event.lease)) continue;
        else changes.push(event.kind === "added" ? add(event.lease) : remove(event.lease));
      }
      return changes;
    },
    peers() {
      // Frozen: one array is handed to every caller until the set changes.
      return (listed ??= Object.freeze([...known.values()]) as Lease[]);
    },
  };
}
