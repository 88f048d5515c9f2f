// The addon's raw interface: numbers in, numbers out, so the C++ parses nothing. The typed API
// the product uses is backends/udp/dgram-native.ts.

export interface NativeOpenOptions {
  readonly tunName: string;
  /** IPv4 addresses and networks as unsigned 32-bit numbers in host order (10.0.0.1 = 0x0a000001). */
  readonly bindAddress: number;
  readonly port: number;
  readonly mtu: number;
  readonly ownNetwork: number;
  readonly ownPrefixLength: number;
  /** Try IFF_VNET_HDR + TUNSETOFFLOAD, UDP_SEGMENT and UDP_GRO (each falls back on its own). */
  readonly offloads: boolean;
  readonly persist: boolean;
  /** 1 (default) to 16: flannel0 as a multi-queue TUN, with a UDP socket (SO_REUSEPORT) and two threads per queue. */
  readonly queues?: number;
}

export interface NativeFailure {
  readonly failed: true;
  readonly syscall: string;
  /** errno name, e.g. "EPERM". */
  readonly errno: string;
  readonly message: string;
}

export interface NativeFeatures {
  readonly vnetHdr: boolean;
  readonly tunOffload: boolean;
  readonly udpGso: boolean;
  readonly udpGro: boolean;
  readonly threads: number;
}

export interface NativeDataPlane {
  readonly features: NativeFeatures;
  /** Triples (network, prefix length, public IP); replaces the whole table. */
  setPeers(table: Uint32Array): void;
  /** Fills `into` (at least counterNames.length entries) in counterNames order. */
  readCounters(into: Float64Array): void;
  /** Stops and joins the threads, closes every fd. Idempotent. */
  close(): void;
}

export const counterNames: readonly string[];
export function open(options: NativeOpenOptions): NativeDataPlane | NativeFailure;
