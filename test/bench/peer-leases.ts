// The etcd side of the benchmarks' invented peers (kernel-probe.ts): the key of a peer's lease and
// its value for one VtepMAC generation, as flanneld itself would write them.
import { encodeLeaseAttrs } from "../../agent/subnet/lease-json.ts";
import { parseIp } from "../../backends/net/ip.ts";
import { macOf, type Peer } from "./kernel-probe.ts";

const subnetsPrefix = "/coreos.com/network/subnets";
const publicBase = parseIp("198.19.0.0")!.value;

export const leaseKey = (peer: Peer): string => `${subnetsPrefix}/${peer.subnet.replace("/", "-")}`;

export function leaseValue(peer: Peer, generation: number): string {
  return encodeLeaseAttrs({
    publicIP: { family: 4, value: publicBase + BigInt(peer.subnetNumber) },
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: macOf(peer, generation) },
  });
}
