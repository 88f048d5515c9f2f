// A peer as one address family sees it: its subnet, public address and backend data of that
// family (IPv4: Subnet, PublicIP, BackendData; IPv6: IPv6Subnet, PublicIPv6, BackendV6Data).
// Written once so that vxlan and host-gw program both families with the same code.
//
// Peers that cannot be programmed are skipped with an error in the report instead of failing
// the whole reconcile: one bad lease must not cut the node off from every other.
import type { Peer } from "../backend.ts";
import { FlannelError } from "../errors.ts";
import { cidrContainsIp, cidrIp, formatCidr, formatIp, lastAddress, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";

export interface FamilyPeer {
  readonly family: IpFamily;
  readonly subnet: Cidr;
  readonly publicIP: IpAddress;
  readonly backendData: unknown;
  /** The peer's subnet as text: names the peer in logs, errors and step bookkeeping. */
  readonly label: string;
}

export interface FamilyPeers {
  readonly peers: readonly FamilyPeer[];
  readonly errors: readonly FlannelError[];
}

/**
 * The very same peers, in order: the agent hands the same Peer objects while leases stand, so a
 * backend can tell "nothing changed since" without comparing their contents.
 */
export function samePeers(a: readonly Peer[], b: readonly Peer[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function peerError(label: string, reason: string, details: Readonly<Record<string, unknown>> = {}): FlannelError {
  return new FlannelError("lease-invalid", `peer ${label} skipped: ${reason}`, { details: { peer: label, reason, ...details } });
}

function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrContainsIp(a, cidrIp(b)) || cidrContainsIp(b, cidrIp(a)));
}

/**
 * Disjoint address ranges sorted by start, so that a new subnet is checked against its two
 * neighbours only: thousands of peers cost a binary search each, not a scan each.
 */
class TakenRanges {
  readonly #ranges: { start: bigint; end: bigint; label: string }[] = [];

  /** Takes `subnet` and returns undefined, or returns the label of a taken range it overlaps. */
  claim(subnet: Cidr, label: string): string | undefined {
    const start = subnet.address;
    const end = lastAddress(subnet).value;
    const ranges = this.#ranges;
    let low = 0;
    let high = ranges.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (ranges[middle]!.start <= start) low = middle + 1;
      else high = middle;
    }
    const before = ranges[low - 1];
    if (before !== undefined && before.end >= start) return before.label;
    const after = ranges[low];
    if (after !== undefined && after.start <= end) return after.label;
    ranges.splice(low, 0, { start, end, label });
    return undefined;
  }
}

/**
 * The peers to program for `family`: those with a subnet of the family, except this node's own
 * subnet (a lease set may still hold it) and a second lease for a subnet already taken.
 */
export function peersOfFamily(peers: readonly Peer[], family: IpFamily, ownSubnet: Cidr | undefined): FamilyPeers {
  const result: FamilyPeer[] = [];
  const errors: FlannelError[] = [];
  const taken = new TakenRanges();
  for (const peer of peers) {
    const subnet = family === 4 ? peer.subnet : peer.subnetV6;
    if (subnet === undefined) continue;
    const label = formatCidr(subnet);
    if (subnet.family !== family) {
      errors.push(peerError(label, `its IPv${family} subnet is not an IPv${family} CIDR`));
      continue;
    }
    if (ownSubnet !== undefined && overlaps(subnet, ownSubnet)) {
      if (subnet.prefix !== ownSubnet.prefix || subnet.address !== ownSubnet.address) {
        errors.push(peerError(label, `it overlaps this node's subnet ${formatCidr(ownSubnet)}`));
      }
      continue;
    }
    const clash = taken.claim(subnet, label);
    if (clash !== undefined) {
      errors.push(peerError(label, `it overlaps the subnet ${clash} of another peer`));
      continue;
    }
    const publicIP = family === 4 ? peer.publicIP : peer.publicIPv6;
    // Flannel writes PublicIP "0.0.0.0" for a node without an IPv4 address to advertise.
    if (publicIP === undefined || publicIP.family !== family || publicIP.value === 0n) {
      const shown = publicIP === undefined ? "none" : formatIp(publicIP);
      errors.push(peerError(label, `it has no IPv${family} public address (${shown})`));
      continue;
    }
    result.push({ family, subnet, publicIP, backendData: family === 4 ? peer.backendData : peer.backendV6Data, label });
  }
  return { peers: result, errors };
}
