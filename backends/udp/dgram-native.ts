// The udp backend's data plane: a typed wrapper over dgram-native, our N-API addon
// (native/dgram-native), which moves every packet between the TUN device and the UDP socket in
// its own native threads. JavaScript only steers it: open, the peer table, counters, close.
// This is the product's only importer of the addon: it is loaded with createRequire when a data
// plane is first opened, so a flanneld running another backend never loads it, and esbuild
// leaves it out of the bundle (a `require` it does not own), to be resolved from node_modules.
import { createRequire } from "node:module";
import type { NativeDataPlane, NativeFailure, NativeOpenOptions } from "dgram-native";
import { FlannelError } from "../errors.ts";
import { cidrContainsIp, parseCidr, parseIpOfFamily, type Cidr } from "../net/ip.ts";
import "./dgram-native-errors.ts";

export interface DataPlaneOptions {
  /** "flannel0"; created or re-attached with TUNSETIFF (IFF_TUN | IFF_NO_PI [+ IFF_VNET_HDR]). */
  readonly tunName: string;
  /** IPv4 the UDP socket binds to ("0.0.0.0" or the node's public IP). */
  readonly bindAddress: string;
  /** Backend.Port, Flannel's default 8285. */
  readonly port: number;
  /** flannel0's MTU (interface MTU − 28): the largest inner packet put on the wire. */
  readonly mtu: number;
  /** This node's lease, e.g. "10.244.1.0/24" (its network address is the ICMP source). */
  readonly ownSubnet: string;
  /** The cluster Network, e.g. "10.244.0.0/16": peers outside it are ignored. */
  readonly network: string;
  /** auto (default): IFF_VNET_HDR + TUNSETOFFLOAD, UDP_SEGMENT, UDP_GRO, each dropped where refused. */
  readonly offloads?: "auto" | "off";
  /** TUNSETPERSIST: the device (with its address and routes) outlives the process. */
  readonly persist?: boolean;
  /**
   * 1 (default): Flannel's single TUN queue. More: IFF_MULTI_QUEUE, and per queue a UDP socket on
   * the port (SO_REUSEPORT) and a pair of threads. A device made with the other mode cannot be
   * attached (TUNSETIFF EINVAL).
   */
  readonly queues?: number;
}

/** The most queues the addon opens (its kMaxQueues). */
export const maxDataPlaneQueues = 16;

/** One peer: packets for `subnet` go to `publicIP`:port; datagrams from `publicIP` may carry only `subnet` sources. */
export interface PeerEntry {
  readonly subnet: string;
  readonly publicIP: string;
}

export interface DataPlaneFeatures {
  readonly vnetHdr: boolean;
  readonly tunOffload: boolean;
  readonly udpGso: boolean;
  readonly udpGro: boolean;
  readonly threads: number;
}

/** Monotonic counts. Packets are inner IPv4 packets of at most the MTU (a TSO or GRO super-packet counts its segments). */
export interface DataPlaneCounters {
  readonly tunRxPackets: number;
  readonly tunRxBytes: number;
  readonly udpTxPackets: number;
  readonly udpTxBytes: number;
  readonly udpRxPackets: number;
  readonly udpRxBytes: number;
  readonly tunTxPackets: number;
  readonly tunTxBytes: number;
  /** What the kernel itself sends into the TUN that is not IPv4 (IPv6 router solicitations, MLD): ignored, not a drop. */
  readonly tunRxNotIpv4?: number;
  readonly drops: {
    readonly noPeer: number;
    readonly unknownSource: number;
    readonly spoofedSource: number;
    readonly ttlExpired: number;
    readonly malformed: number;
    readonly tunWriteError: number;
    readonly udpSendError: number;
  };
}

export interface DataPlane {
  readonly features: DataPlaneFeatures;
  /** Replaces the whole table at once (level-triggered). Entries outside the Network or on the own subnet are ignored. */
  setPeers(peers: readonly PeerEntry[]): void;
  counters(): DataPlaneCounters;
  /** Idempotent: stops and joins the threads and closes every fd. */
  close(): Promise<void>;
}

interface Addon {
  readonly counterNames: readonly string[];
  open(options: NativeOpenOptions): NativeDataPlane | NativeFailure;
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)("dgram-native") as Addon;
  } catch (error) {
    throw new FlannelError("udp-dataplane-unavailable", `the udp data plane (dgram-native) does not load: ${(error as Error).message}; run npm ci`, { cause: error });
  }
  return addon;
}

function ipv4Number(text: string, what: string): number {
  const ip = parseIpOfFamily(text, 4);
  if (ip === undefined) throw new FlannelError("udp-peer-invalid", `${what} is not an IPv4 address: ${JSON.stringify(text)}`, { details: { [what]: text } });
  return Number(ip.value);
}

function ipv4Cidr(text: string, what: string): Cidr {
  const cidr = parseCidr(text);
  if (cidr === undefined || cidr.family !== 4) throw new FlannelError("udp-peer-invalid", `${what} is not an IPv4 subnet: ${JSON.stringify(text)}`, { details: { [what]: text } });
  return cidr;
}

function overlaps(a: Cidr, b: Cidr): boolean {
  const shorter = a.prefix <= b.prefix ? a : b;
  const longer = shorter === a ? b : a;
  return cidrContainsIp(shorter, { family: 4, value: longer.address });
}

function failure(result: NativeDataPlane | NativeFailure): result is NativeFailure {
  return (result as NativeFailure).failed === true;
}

export function openDataPlane(options: DataPlaneOptions): DataPlane {
  const ownSubnet = ipv4Cidr(options.ownSubnet, "ownSubnet");
  const network = ipv4Cidr(options.network, "network");
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new RangeError(`port out of range: ${options.port}`);
  if (!Number.isInteger(options.mtu) || options.mtu < 68 || options.mtu > 65535) throw new RangeError(`mtu out of range: ${options.mtu}`);
  const queues = options.queues ?? 1;
  if (!Number.isInteger(queues) || queues < 1 || queues > maxDataPlaneQueues) throw new RangeError(`queues out of range: ${queues}`);
  const native = loadAddon();
  const opened = native.open({
    tunName: options.tunName,
    bindAddress: ipv4Number(options.bindAddress, "bindAddress"),
    port: options.port,
    mtu: options.mtu,
    ownNetwork: Number(ownSubnet.address),
    ownPrefixLength: ownSubnet.prefix,
    offloads: (options.offloads ?? "auto") === "auto",
    persist: options.persist ?? false,
    queues,
  });
  if (failure(opened)) {
    const what =
      opened.syscall === "lock" && opened.errno === "EADDRINUSE"
        ? "another data plane in this network namespace holds the device (another flanneld?)"
        : `${opened.syscall}: ${opened.message}`;
    throw new FlannelError("udp-dataplane-failed", `udp data plane on ${options.tunName}, port ${options.port}: ${what} (${opened.errno})`, {
      details: { syscall: opened.syscall, errno: opened.errno, tunName: options.tunName, bindAddress: options.bindAddress, port: options.port },
    });
  }
  const names = native.counterNames;
  const values = new Float64Array(names.length);
  let closed = false;

  return {
    features: { ...opened.features },
    setPeers(peers) {
      if (closed) return;
      const table = new Uint32Array(peers.length * 3);
      let used = 0;
      for (const peer of peers) {
        const subnet = ipv4Cidr(peer.subnet, "subnet");
        const publicIP = ipv4Number(peer.publicIP, "publicIP");
        // The own subnet is reached through the kernel's route, never a peer; a lease outside
        // the Network is not ours to route (Flannel would route it; nothing valid writes one).
        if (overlaps(subnet, ownSubnet) || !overlaps(subnet, network) || subnet.prefix < network.prefix) continue;
        table[used++] = Number(subnet.address);
        table[used++] = subnet.prefix;
        table[used++] = publicIP;
      }
      opened.setPeers(table.subarray(0, used));
    },
    counters() {
      if (!closed) opened.readCounters(values);
      const get = (name: string): number => values[names.indexOf(name)] ?? 0;
      return {
        tunRxPackets: get("tunRxPackets"),
        tunRxBytes: get("tunRxBytes"),
        udpTxPackets: get("udpTxPackets"),
        udpTxBytes: get("udpTxBytes"),
        udpRxPackets: get("udpRxPackets"),
        udpRxBytes: get("udpRxBytes"),
        tunTxPackets: get("tunTxPackets"),
        tunTxBytes: get("tunTxBytes"),
        tunRxNotIpv4: get("tunRxNotIpv4"),
        drops: {
          noPeer: get("noPeer"),
          unknownSource: get("unknownSource"),
          spoofedSource: get("spoofedSource"),
          ttlExpired: get("ttlExpired"),
          malformed: get("malformed"),
          tunWriteError: get("tunWriteError"),
          udpSendError: get("udpSendError"),
        },
      };
    },
    async close() {
      if (closed) return;
      // Last counters first, so counters() after close still answers with the final figures.
      opened.readCounters(values);
      closed = true;
      opened.close();
    },
  };
}
