// The optional questions the agent's operations side may ask a backend, found by shape (a backend
// that has the method answers it): backends/ never imports agent/ or a metrics library, it only
// returns plain numbers. A backend without a hook is answered from what the agent knows itself.
//   counters()         traffic through a userspace data plane (udp): packets and bytes per
//                      direction, drops per reason — exported as flannel_backend_*_total;
//   programmedPeers()  how many peers' entries are in the kernel — flannel_peers_programmed;
//   deviceNames()      the devices that must exist for the node to be ready.
import type { Backend } from "../../backends/backend.ts";
import type { NetConf } from "../config/net-conf.ts";
import { decodeVxlanOptions } from "../../backends/vxlan/options.ts";
import { vtepDeviceName } from "../../backends/vxlan/vtep-device.ts";

/** Monotonic counts since the data plane started; keys are label values ("tx"/"rx", a drop reason). */
export interface TrafficCounters {
  /** Packets by direction: "tx" = pod → network (encapsulated), "rx" = network → pod. */
  readonly packets?: Readonly<Record<string, number>>;
  readonly bytes?: Readonly<Record<string, number>>;
  /** Packets or datagrams dropped, by reason. */
  readonly drops?: Readonly<Record<string, number>>;
}

export interface CountingBackend {
  /** Undefined while the data plane is not running (before configure, after close). */
  counters(): TrafficCounters | undefined;
}

export interface PeerCountingBackend {
  programmedPeers(): number;
}

export interface DeviceOwningBackend {
  deviceNames(): readonly string[];
}

export function trafficCountersOf(backend: Backend): (() => TrafficCounters | undefined) | undefined {
  const candidate = backend as Partial<CountingBackend>;
  return typeof candidate.counters === "function" ? () => candidate.counters!() : undefined;
}

export function programmedPeersOf(backend: Backend): (() => number) | undefined {
  const candidate = backend as Partial<PeerCountingBackend>;
  return typeof candidate.programmedPeers === "function" ? () => candidate.programmedPeers!() : undefined;
}

/**
 * The devices that must exist: the backend's answer when it has the hook; otherwise, for vxlan,
 * flannel.<VNI> (and flannel-v6.<VNI> with IPv6) as Flannel names them; none for host-gw.
 */
export function expectedDevices(backend: Backend, conf: NetConf): () => readonly string[] {
  const candidate = backend as Partial<DeviceOwningBackend>;
  if (typeof candidate.deviceNames === "function") return () => candidate.deviceNames!();
  if (backend.type !== "vxlan") return () => [];
  const { vni } = decodeVxlanOptions(conf.backend?.value ?? {});
  const names = [
    ...(conf.ipv4.enabled ? [vtepDeviceName(4, vni)] : []),
    ...(conf.ipv6.enabled ? [vtepDeviceName(6, vni)] : []),
  ];
  return () => names;
}
