// The subnet manager contract: where a node's lease comes from and how the agent learns about
// every other node's lease. Two implementations keep it: etcd (agent/subnet/etcd/) and the
// Kubernetes API (agent/subnet/kube/). Everything downstream — subnet.env, the backends, the
// lease set — sees only these types.
import type { MacAddress } from "../../backends/kernel/mac.ts";
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

/**
 * What the datastore remembers of this node from an earlier run or from its operator, read
 * before the interface is chosen and the backend prepared. Kube mode: the node's annotations
 * (`node-public-ip[v6]` replaces --public-ip[v6]; the VTEP MACs of `backend-data` /
 * `backend-v6-data`, so that peers' FDB entries stay valid across a restart —
 * F:pkg/subnet/kube/kube.go GetStoredPublicIP, GetStoredMacAddresses). etcd mode: nothing.
 */
export interface NodeHints {
  readonly publicIP?: IpAddress;
  readonly publicIPv6?: IpAddress;
  readonly vtepMAC?: MacAddress;
  readonly vtepMACv6?: MacAddress;
}

/**
 * Only what every manager needs. Keeping the own lease alive (etcd renews it and watches it)
 * is each manager's inner business; the daemon only learns, through `lost`, that it is gone.
 * The daemon gets a manager from agent/subnet/open-manager.ts (etcd | kube).
 */
export interface SubnetManager {
  /**
   * The network configuration: etcd mode checks it (SubnetLen, SubnetMin/Max derived), kube mode
   * does not (Flannel's kube manager never calls CheckNetworkConfig). Waits while it is absent.
   */
  networkConfig(signal: AbortSignal): Promise<CheckedNetConf | NetConf>;
  /** See NodeHints; never fails the start for a missing hint. */
  nodeHints(signal: AbortSignal): Promise<NodeHints>;
  /**
   * Reuses this node's lease (etcd: by PublicIP or the previous subnet; kube: the node's
   * podCIDRs) or allocates a new one, publishes `attrs`, and from then on keeps the lease
   * alive until close() (etcd: renewal before the margin).
   */
  acquire(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease>;
  /** Every lease of the network as event batches (the first a snapshot); ends only when `signal` aborts. */
  watchLeases(signal: AbortSignal): AsyncIterable<readonly LeaseEvent[]>;
  /**
   * The node serves pods (subnet.env written, data plane up). Kube: NetworkUnavailable=False,
   * reason FlannelIsUp, when --set-node-network-unavailable (Flannel's CompleteLease); etcd: nothing.
   * Failures are logged, never thrown (as Flannel).
   */
  markNetworkReady(signal: AbortSignal): Promise<void>;
  /** Settles if the own lease is lost after acquire (etcd: deleted or expired); kube: never. */
  readonly lost: Promise<"revoked">;
  /** Stops keeping the lease and releases connections. Idempotent. Leaves the lease in place. */
  close(): Promise<void>;
}
