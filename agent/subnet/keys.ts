// The etcd key layout of a Flannel network (F:pkg/subnet/etcd/registry.go, F:pkg/subnet/subnet.go):
// `<prefix>/config` holds net-conf.json and `<prefix>/subnets/<name>` one lease per node, where
// <name> is `10.5.52.0-24` or, dual-stack, `10.12.13.0-24&fd00:12:13::-56`. This module owns
// building those keys and parsing a lease key back into its subnets. Pure: no I/O.
import { FlannelError } from "../../backends/errors.ts";
import { addressBits, formatIp, cidrIp, isAligned, parseIp, type Cidr, type IpFamily } from "../../backends/net/ip.ts";

/** The subnets a lease key names; etcd keys always start with the IPv4 one. */
export interface SubnetKeyParts {
  readonly subnet: Cidr;
  readonly subnetV6?: Cidr;
}

/**
 * Go's path.Join: the non-empty elements joined by "/", then cleaned (repeated slashes folded,
 * "." dropped, ".." resolved, no trailing slash). Flannel builds every key with it, so a prefix
 * written as "/coreos.com/network/" or "/coreos.com//network" names the same keys.
 */
function joinPath(...elements: readonly string[]): string {
  const joined = elements.filter((element) => element !== "").join("/");
  if (joined === "") return "";
  const rooted = joined.startsWith("/");
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length > 0 && parts.at(-1) !== "..") parts.pop();
      else if (!rooted) parts.push(part); // a relative path keeps leading "..", a rooted one drops them
      continue;
    }
    parts.push(part);
  }
  const cleaned = (rooted ? "/" : "") + parts.join("/");
  return cleaned === "" ? "." : cleaned;
}

/** `<prefix>/config`: the network configuration (F: registry.go getNetworkConfig). */
export function configKey(prefix: string): string {
  return joinPath(prefix, "config");
}

/**
 * `<prefix>/subnets/`: where every lease lives. Deviation: Flannel lists and watches
 * `<prefix>/subnets` without the trailing slash, which also takes in keys such as
 * `<prefix>/subnetsOld/10.5.1.0-24`; the slash limits us to the subnets directory itself.
 */
export function subnetsPrefix(prefix: string): string {
  return `${joinPath(prefix, "subnets")}/`;
}

function requireFamily(cidr: Cidr, family: IpFamily, field: string): Cidr {
  if (cidr.family === family) return cidr;
  throw new FlannelError("lease-invalid", `lease ${field} must be an IPv${family} subnet, got an IPv${cidr.family} one`, {
    details: { field, family: cidr.family },
  });
}

/** `A.B.C.D-len`: Flannel's IP4Net.StringSep(".", "-"); IPv6 is in Go's compressed form. */
function keyPart(cidr: Cidr): string {
  return `${formatIp(cidrIp(cidr))}-${cidr.prefix}`;
}

/**
 * The last segment of a lease key (Flannel's MakeSubnetKey). A lease without an IPv4 subnet has
 * no etcd key: Flannel's etcd mode is IPv4-first and its parser requires the IPv4 part.
 */
export function encodeSubnetKeyName(lease: { readonly subnet?: Cidr; readonly subnetV6?: Cidr }): string {
  if (lease.subnet === undefined) {
    throw new FlannelError("lease-invalid", "a lease needs an IPv4 subnet to have an etcd key (etcd keys always start with IPv4)", {
      details: { subnetV6: lease.subnetV6 === undefined ? undefined : keyPart(lease.subnetV6) },
    });
  }
  const v4 = keyPart(requireFamily(lease.subnet, 4, "subnet"));
  return lease.subnetV6 === undefined ? v4 : `${v4}&${keyPart(requireFamily(lease.subnetV6, 6, "subnetV6"))}`;
}

/** `<prefix>/subnets/<name>`, e.g. `/coreos.com/network/subnets/10.5.52.0-24`. */
export function subnetKey(prefix: string, lease: { readonly subnet?: Cidr; readonly subnetV6?: Cidr }): string {
  return joinPath(prefix, "subnets", encodeSubnetKeyName(lease));
}

// Flannel's subnetRegex, searched (not anchored at the start) over the whole key. Its unescaped
// dots match any character but a newline, as Go's `.` does; `[^\n]` keeps that exact (a JS `.`
// would also refuse \r, U+2028 and U+2029). Leftmost-first matching is the same in both engines.
const subnetKeyPattern = /(\d+\.\d+[^\n]\d+[^\n]\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/u;

/**
 * Flannel reads the prefix with strconv.ParseUint(s, 10, 5) for IPv4 and (s, 10, 7) for IPv6:
 * leading zeros are fine, but the bit size caps it at 31 and 127, so `-32` and `-128` keys do
 * not parse (CheckNetworkConfig never allows such a SubnetLen, so Flannel never writes one).
 */
function keyPrefix(digits: string, family: IpFamily): number | undefined {
  const prefix = Number(digits);
  return prefix < addressBits[family] ? prefix : undefined;
}

function keyCidr(addressText: string, prefixText: string, family: IpFamily): Cidr | undefined {
  const ip = parseIp(addressText);
  const prefix = keyPrefix(prefixText, family);
  // Deviation: Flannel keeps host bits (`10.12.13.1-24` becomes 10.12.13.1/24, a route the kernel
  // refuses and a key that never round-trips through a masked subnet). We refuse such a key as
  // "not a subnet", the way Flannel treats every other key it cannot parse. Likewise an
  // IPv4-mapped IPv6 part (`::ffff:a00:0`), which Go would take as IPv6, is refused.
  if (ip === undefined || ip.family !== family || prefix === undefined || !isAligned(ip, prefix)) return undefined;
  return { family, address: ip.value, prefix };
}

/**
 * The subnets a lease key names, parsed as Flannel's ParseSubnetKey does (it accepts the whole
 * key, prefix included, and looks at its end); undefined when the key is not a lease key.
 */
export function decodeSubnetKey(key: string): SubnetKeyParts | undefined {
  const match = subnetKeyPattern.exec(key);
  if (match === null) return undefined;
  const [, v4Address = "", v4Prefix = "", v6Address, v6Prefix = ""] = match;
  const subnet = keyCidr(v4Address, v4Prefix, 4);
  if (subnet === undefined) return undefined;
  if (v6Address === undefined) return { subnet };
  const subnetV6 = keyCidr(v6Address, v6Prefix, 6);
  if (subnetV6 === undefined) return undefined;
  // Flannel's IP6Net.Empty(): `::-0` is "no IPv6 subnet" to it (EnableIPv6 false, MakeSubnetKey
  // leaves it out), so the lease is IPv4-only.
  if (subnetV6.address === 0n && subnetV6.prefix === 0) return { subnet };
  return { subnet, subnetV6 };
}
