// The udp backend's options, decoded from net-conf.json's `Backend` object as Flannel does
// (F:pkg/backend/udp/udp_amd64.go RegisterNetwork: a struct with one field, `Port`, default
// 8285; json.Unmarshal, so keys match case-insensitively and unknown keys are ignored).
//
// One key of our own: `Queues` (default 1, as Flannel's single TUN queue), the data plane's queue
// count — flannel0 as a multi-queue TUN with a UDP socket and a pair of packet threads per queue,
// for nodes with cores to spare for many flows (one flow always keeps to one queue). Flannel's
// nodes ignore the key, and the wire is the same either way.
import { FlannelError } from "../errors.ts";
import { decodeGoFields } from "../vxlan/go-fields.ts";
import { maxDataPlaneQueues } from "./dgram-native.ts";

export interface UdpOptions {
  /** The UDP port every node listens on and sends to (Flannel sends to its own configured port). */
  readonly port: number;
  /** Data plane queues (flannel-ts only): 1 to maxUdpQueues. */
  readonly queues: number;
}

export const maxUdpQueues = maxDataPlaneQueues;

export const defaultUdpPort = 8285;

export const defaultUdpOptions: UdpOptions = { port: defaultUdpPort, queues: 1 };

function invalid(field: string, value: unknown, reason: string): FlannelError {
  return new FlannelError("netconf-invalid", `error decoding UDP backend config: ${reason}`, {
    details: { field: field === "" ? "Backend" : `Backend.${field}`, value, reason },
  });
}

/** Decodes the raw `Backend` JSON (its `Type` and unknown keys are ignored). */
export function decodeUdpOptions(raw: unknown): UdpOptions {
  const decoded = decodeGoFields(raw, { Port: "int", Queues: "int" } as const);
  if (!decoded.ok) throw invalid(decoded.field, decoded.value, decoded.reason);
  const port = decoded.values.Port;
  // Flannel would take a 0 as given and bind a random port that no peer sends to; refusing it
  // (and anything outside the port range) names the field instead.
  if (port !== undefined && (port < 1 || port > 0xffff)) {
    throw invalid("Port", port, `Port must be between 1 and 65535, got ${port}`);
  }
  const queues = decoded.values.Queues;
  if (queues !== undefined && (queues < 1 || queues > maxUdpQueues)) {
    throw invalid("Queues", queues, `Queues must be between 1 and ${maxUdpQueues}, got ${queues}`);
  }
  return { port: port ?? defaultUdpPort, queues: queues ?? 1 };
}
