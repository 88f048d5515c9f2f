// The subnet manager contract: where a node's lease comes from and how the agent learns about
// every other node's lease. Two implementations keep it: etcd (agent/subnet/etcd/) and the
// Kubernetes API (agent/subnet/kube/). Everything downstream — subnet.env, the backends, the
// lease set — sees only these types.
import type { Cidr, IpAddress } from "../../backends/net/ip.ts";
import type { CheckedNetConf, NetConf } from "../config/net-conf.ts";

/** What a node advertises about itself (Flannel's LeaseAttrs, F:pkg/lease/lease.go). */
export interface LeaseAttrs {
  /** The node's external IPv4 address; Flannel writes "0.0.0.0" when it has none. */
  readonly publicIP: IpAddress;
  readonly publicIPv6?: IpAddress;
  /** Lower-case backend name ("vxlan", "host-gw"); "" for backends that never set it (udp). */
  readonly backendType: string;
  /** Backend-specific JSON as Flannel writes it (vxlan: {"VNI":1,"VtepMAC":"…"}); absent for host-gw. */
  readonly backendData?: unknown;
  readonly backendV6Data?: unknown;
}

/** One node's lease on a subnet (and, dual-stack, an IPv6 subnet). */
export interface Lease {
  /** The node's IPv4 subnet; etcd mode always has one (its keys start with it). */
  readonly subnet?: Cidr;
  readonly subnetV6?: Cidr;
  readonly attrs: LeaseAttrs;
  /**
   * When the lease runs out unless renewed. Known for the node's own lease; not looked up for
   * peers seen through a watch (nothing downstream needs it). Undefined for a reservation.
   */
  readonly expiresAt?: Date;
  /**
   * A reservation: a lease key written without an etcd lease, which never expires and is never
   * given one (F:Documentation/reservations.md — documented by Flannel, delivered here).
   */
  readonly reservation?: boolean;
}

/**
 * What a watch reports, in the order it happened. A snapshot is the full set of leases the
 * store holds (after the first list, a reconnect that lost history, or a compaction); the
 * consumer replaces what it knew. A removal carries only the subnet(s) when the store cannot
 * say more (an etcd delete has no value): agent/subnet/lease-set.ts fills in the attributes.
 */
export type LeaseEvent =
  | { readonly kind: "snapshot"; readonly leases: readonly Lease[] }
  | { readonly kind: "added"; readonly lease: Lease }
  | { readonly kind: "removed"; readonly lease: Lease };

/** What happens to the node's own lease after it was acquired. */
export type OwnLeaseEvent =
  | { readonly kind: "renewed"; readonly lease: Lease } //  written again (by us or anyone): new expiry
  | { readonly kind: "revoked" }; //                       deleted or expired: the agent must shut down

export interface SubnetManager {
  /**
   * The network configuration: etcd mode checks it (SubnetLen, SubnetMin/Max derived), kube mode
   * does not (Flannel's kube manager never calls CheckNetworkConfig). Waits while it is absent.
   */
  networkConfig(signal: AbortSignal): Promise<CheckedNetConf | NetConf>;
  /** Reuses this node's lease (by PublicIP or the previous subnet) or allocates a new one. */
  acquire(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease>;
  /** Extends the lease (Flannel: a fresh 24 h etcd lease); a reservation stays without expiry. */
  renew(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Every lease of the network as event batches; ends only when `signal` aborts. */
  watchLeases(signal: AbortSignal): AsyncIterable<readonly LeaseEvent[]>;
  /** Changes to the node's own lease; ends only when `signal` aborts. */
  watchOwnLease(lease: Lease, signal: AbortSignal): AsyncIterable<OwnLeaseEvent>;
  /** Releases connections. Idempotent. Leaves the lease in place. */
  close(): Promise<void>;
}

/**
 * Whether two leases are the same lease: both have the same subnets, a family absent from one
 * absent from the other — in etcd terms, the same key. Flannel's sameSubnet (F:pkg/lease/lease.go)
 * is asymmetric: it compares only the families the first lease enables, so a v4-only 10.5.1.0/24
 * "equals" a dual-stack 10.5.1.0/24 & fd00::/64 but not the reverse, and a removal can then pair
 * with the wrong cached entry. The two agree whenever every lease has the same shape (kube mode;
 * etcd outside a v4→dual-stack migration). The lease set's own-lease filter is separate.
 */
export function sameSubnets(a: Pick<Lease, "subnet" | "subnetV6">, b: Pick<Lease, "subnet" | "subnetV6">): boolean {
  const same = (x: Cidr | undefined, y: Cidr | undefined): boolean =>
    x === undefined || y === undefined ? x === y : x.family === y.family && x.address === y.address && x.prefix === y.prefix;
  return same(a.subnet, b.subnet) && same(a.subnetV6, b.subnetV6);
}
