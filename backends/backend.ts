// The data plane's contract. A backend turns the set of peers (every other node's lease) into
// kernel state — devices, routes, neighbours, FDB entries — level-triggered: each reconcile
// gets the whole peer set, computes the desired entries (pure), diffs them against what the
// kernel has and applies only the difference. backends/ never imports agent/: these are the
// data plane's own views of a node and its peers.
import type { FlannelError } from "./errors.ts";
import type { MacAddress } from "./kernel/mac.ts";
import type { Cidr, IpAddress } from "./net/ip.ts";

export type BackendType = "vxlan" | "host-gw" | "udp";

/** Another node, as the data plane needs to know it. */
export interface Peer {
  readonly subnet?: Cidr;
  readonly subnetV6?: Cidr;
  readonly publicIP: IpAddress;
  readonly publicIPv6?: IpAddress;
  /** As the peer's lease states it; peers of another backend type are ignored with a warning. */
  readonly backendType: string;
  readonly backendData?: unknown;
  readonly backendV6Data?: unknown;
}

/** The external interface chosen by --iface & co. */
export interface ExternalLink {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
}

/** This node, before it has a lease. */
export interface LocalNode {
  readonly link: ExternalLink;
  /** Interface addresses (the underlay), per family when enabled. */
  readonly ifaceAddr?: IpAddress;
  readonly ifaceV6Addr?: IpAddress;
  /** Advertised addresses (--public-ip or the interface address). */
  readonly extAddr?: IpAddress;
  readonly extV6Addr?: IpAddress;
  /** net-conf.json's Network / IPv6Network: the cluster's pod networks. */
  readonly network?: Cidr;
  readonly networkV6?: Cidr;
  /** net-conf.json's `Backend` object as parsed JSON (each backend decodes its own options). */
  readonly backendConfig: unknown;
  /**
   * The VTEP MACs this node advertised before (kube mode: its backend-data annotations). vxlan
   * creates a missing device with them, so peers' FDB and neighbour entries stay valid across a
   * restart; an existing compatible device keeps its own MAC (Flannel's ensureLink).
   */
  readonly vtepMAC?: MacAddress;
  readonly vtepMACv6?: MacAddress;
  /** --vxlan-tx-checksum-offload (vxlan only; default "auto"), see vxlan/checksum-offload.ts. */
  readonly txChecksumOffload?: TxChecksumOffloadSetting;
}

/** --vxlan-tx-checksum-offload: "auto" decides from the kernel and driver, "on" keeps the offload, "off" turns it off. */
export type TxChecksumOffloadSetting = "auto" | "on" | "off";

/** The TX checksum-offload decision a vxlan backend took at start, for logs and metrics. */
export interface TxChecksumOffloadReport {
  readonly setting: TxChecksumOffloadSetting;
  /** True: tx-checksum-ip-generic is turned off on the VTEP devices (the workaround). */
  readonly workaround: boolean;
  /** What decided: the flag, the kernel version, the underlay's driver, or nothing known ("none"). */
  readonly basis: "flag" | "kernel" | "driver" | "none";
  readonly reason: string;
  /** Per VTEP device, whether the offload is on now (undefined: could not be read). */
  readonly devices: readonly { readonly device: string; readonly offloadActive: boolean | undefined }[];
}

/** What a prepared backend advertises in the lease, and the pod MTU (FLANNEL_MTU). */
export interface PreparedBackend {
  readonly backendData?: unknown;
  readonly backendV6Data?: unknown;
  readonly mtu: number;
}

/** This node's subnets once the lease is acquired. */
export interface OwnSubnets {
  readonly subnet?: Cidr;
  readonly subnetV6?: Cidr;
}

export interface ReconcileReport {
  /** Entries created for new peers. */
  readonly added: number;
  /** Entries deleted (removed peers, stale entries from a previous run). */
  readonly removed: number;
  /** Entries that should have been there (or differed) and were put back. */
  readonly repaired: number;
  readonly errors: readonly FlannelError[];
}

/** One peer's lease event, as the data plane sees it: what to write or delete now. */
export type PeerChange =
  | { readonly kind: "added"; readonly peer: Peer }
  | { readonly kind: "removed"; readonly peer: Peer };

export interface ApplyReport extends ReconcileReport {
  /**
   * True when the incremental path could not decide alone (a write failed, a peer clashes with
   * another, DirectRouting needs the routing table): the caller must run a full reconcile soon.
   */
  readonly needsReconcile: boolean;
}

/**
 * How much a reconcile may trust from its previous runs. Both read every kind of entry flannel
 * owns; "resync" (the timer's) skips parsing and diffing a dump whose text is the one it last
 * found clean against the same peers, "full" (start-up, after a failure) re-checks everything.
 */
export type ReconcileDepth = "full" | "resync";

export interface Backend {
  readonly type: BackendType;
  /** Creates (or adopts) devices before the lease exists: the lease needs e.g. the VTEP MAC. */
  prepare(local: LocalNode, signal: AbortSignal): Promise<PreparedBackend>;
  /** After the lease: addresses on the devices (vxlan: <subnet>/32). Idempotent. */
  configure(own: OwnSubnets, signal: AbortSignal): Promise<void>;
  /**
   * Makes the kernel match `peers`, reading only flannel's own objects (its devices' neighbours
   * and FDB entries, routes through its devices). Idempotent; safe to call on a timer (depth
   * "resync", see ReconcileDepth; default "full").
   */
  reconcile(peers: readonly Peer[], signal: AbortSignal, depth?: ReconcileDepth): Promise<ReconcileReport>;
  /**
   * Edge-triggered: writes (or deletes) only the entries of the changed peers, in order, without
   * reading the kernel. A changed lease arrives as "added" with the new attributes (the entries
   * it replaces are found by subnet). Serialised with reconcile().
   */
  apply(changes: readonly PeerChange[], signal: AbortSignal): Promise<ApplyReport>;
  /** Stops loops and releases resources; leaves the data plane in place (pods keep working). Idempotent. */
  close(): Promise<void>;
  /** vxlan: the TX checksum-offload decision taken by prepare() (undefined before), for metrics. */
  readonly txChecksumOffload?: () => TxChecksumOffloadReport | undefined;
}

/** What backends log through; the agent's Log fits it (backends never import agent/). */
export interface BackendLog {
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
}
