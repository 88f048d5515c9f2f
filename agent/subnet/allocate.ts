// Choosing a node's subnet in etcd mode, as Flannel's allocateSubnet and isSubnetConfigCompat do
// (F:pkg/subnet/etcd/local_manager.go): which subnets fit the configured range, and a random pick
// among the first 100 free ones. Written once for both families on bigint addresses; the caller
// runs it per enabled family (Flannel picks the IPv6 subnet independently of the IPv4 one).
// Pure: randomness is injected.
import { FlannelError } from "../../backends/errors.ts";
import { blockSize, formatCidr, formatIp, hostMask, type Cidr } from "../../backends/net/ip.ts";
import type { FamilySubnets } from "../config/net-conf.ts";

/** Flannel collects at most this many free candidates before picking one at random. */
export const freeCandidateLimit = 100;

/**
 * Flannel's isSubnetConfigCompat / isIPv6SubnetConfigCompat for one family: the subnet's address
 * lies within [SubnetMin, SubnetMax] and its prefix is SubnetLen. (Whether a disabled family must
 * be absent is the caller's rule: it is about the lease, not the subnet.)
 */
export function isSubnetCompatible(subnet: Cidr, range: FamilySubnets): boolean {
  return (
    subnet.family === range.family &&
    subnet.address >= range.subnetMin.value &&
    subnet.address <= range.subnetMax.value &&
    subnet.prefix === range.subnetLen
  );
}

/** An inclusive address range; taken subnets are merged into disjoint, sorted spans. */
interface Span {
  readonly first: bigint;
  readonly last: bigint;
}

function takenSpans(range: FamilySubnets, taken: readonly Cidr[]): Span[] {
  const spans = taken
    .filter((cidr) => cidr.family === range.family)
    .map((cidr) => ({ first: cidr.address, last: cidr.address | hostMask(cidr.family, cidr.prefix) }))
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const merged: Span[] = [];
  for (const span of spans) {
    const previous = merged.at(-1);
    if (previous !== undefined && span.first <= previous.last + 1n) {
      if (span.last > previous.last) merged[merged.length - 1] = { first: previous.first, last: span.last };
    } else {
      merged.push(span);
    }
  }
  return merged;
}

/**
 * Flannel's allocation: walk SubnetMin..SubnetMax in steps of the subnet size, skip every
 * candidate that overlaps a taken subnet (in either direction: a taken /16 covers many /24s, a
 * taken /26 blocks the /24 around it), keep the first 100 free ones and pick one of them with
 * `random()` (uniform in [0, 1), like Flannel's rand.Int31n). Undefined when none is free.
 *
 * Flannel tests every candidate against every lease; we sort the taken subnets once and jump
 * over each one, which yields the same candidates but stays fast when a /8 holds thousands of
 * leases or a /48 offers 65535 subnets. Taken subnets of the other family are ignored. Bigints
 * cannot wrap, so a range at the very top of the address space ends at SubnetMax (Flannel's
 * uint32 walk would wrap to 0.0.0.0 there).
 */
export function chooseFreeSubnet(range: FamilySubnets, taken: readonly Cidr[], random: () => number = Math.random): Cidr | undefined {
  const { family, subnetLen: prefix } = range;
  const size = blockSize(family, prefix);
  const min = range.subnetMin.value;
  const spans = takenSpans(range, taken);
  const free: bigint[] = [];
  let next = 0; // first span that may still reach the current candidate
  for (let candidate = min; candidate <= range.subnetMax.value && free.length < freeCandidateLimit; ) {
    while (next < spans.length && spans[next]!.last < candidate) next++;
    const span = spans[next];
    if (span !== undefined && span.first <= candidate + size - 1n) {
      // Every candidate up to span.last overlaps this span: continue with the first one after it.
      candidate = min + ((span.last - min) / size + 1n) * size;
      continue;
    }
    free.push(candidate);
    candidate += size;
  }
  if (free.length === 0) return undefined;
  const index = Math.min(free.length - 1, Math.max(0, Math.floor(random() * free.length)));
  return { family, address: free[index]!, prefix };
}

/** The error Flannel reports as "out of subnets", naming the exhausted range. */
export function outOfSubnetsError(range: FamilySubnets): FlannelError {
  const network = formatCidr(range.network);
  const subnetMin = formatIp(range.subnetMin);
  const subnetMax = formatIp(range.subnetMax);
  return new FlannelError(
    "out-of-subnets",
    `out of subnets: every /${range.subnetLen} between ${subnetMin} and ${subnetMax} in ${network} is leased`,
    { details: { family: range.family, network, subnetLen: range.subnetLen, subnetMin, subnetMax } },
  );
}
