// The udp backend's answers to the questions the agent's operations side asks backends by shape
// (agent/ops/backend-hooks.ts): traffic counters, peers programmed, devices owned. Plain numbers
// only: backends never import agent/ or a metrics library.
import type { DataPlaneCounters } from "./dgram-native.ts";

export interface UdpTrafficCounters {
  /** "tx": pod → network (datagrams sent), "rx": network → pod (packets written to flannel0). */
  readonly packets: { readonly tx: number; readonly rx: number };
  readonly bytes: { readonly tx: number; readonly rx: number };
  /** By reason: noPeer, unknownSource, spoofedSource, ttlExpired, malformed, tunWriteError, udpSendError. */
  readonly drops: Readonly<Record<string, number>>;
}

export interface UdpHooks {
  /** Undefined before configure() and after close(). */
  counters(): UdpTrafficCounters | undefined;
  /** Peers in the data plane's table (it has no kernel entries to count). */
  programmedPeers(): number;
  deviceNames(): readonly string[];
}

export function trafficCounters(counters: DataPlaneCounters): UdpTrafficCounters {
  return {
    packets: { tx: counters.udpTxPackets, rx: counters.tunTxPackets },
    bytes: { tx: counters.udpTxBytes, rx: counters.tunTxBytes },
    drops: { ...counters.drops },
  };
}
