// Flannel's CheckNetworkConfig (F:pkg/subnet/config.go): derive SubnetLen, SubnetMin and
// SubnetMax for each enabled family and refuse ranges Flannel refuses, with Flannel's wording
// plus the field, its value and what would be allowed. Only the etcd subnet manager runs it;
// Flannel's kube manager never does, which is why parsing (net-conf.ts) stays separate.
// Both families go through the same code; only the numbers and a few words differ.
import {
  blockSize,
  cidrIp,
  formatCidr,
  formatIp,
  lastAddress,
  makeCidr,
  cidrContainsIp,
  isAligned,
  type Cidr,
  type IpAddress,
  type IpFamily,
} from "../../backends/net/ip.ts";
import {
  familyNetConf,
  ipFamilies,
  type CheckedFamilyNetConf,
  type CheckedNetConf,
  type FamilyNetConf,
  type NetConf,
} from "./net-conf.ts";
import { exampleNetwork, maxSubnetLen, netConfFieldNames, netConfInvalid } from "./net-conf-fields.ts";

// SubnetLen Flannel gives a node when none is set (as long as four such subnets fit), and the
// word its "too small" error starts with.
const derivation = {
  4: { defaultSubnetLen: 24, tooSmallSubject: "network" },
  6: { defaultSubnetLen: 64, tooSmallSubject: "IPv6Network" },
} as const satisfies Record<IpFamily, { defaultSubnetLen: number; tooSmallSubject: string }>;

type FieldNames = (typeof netConfFieldNames)[IpFamily];

function requireNetwork(settings: FamilyNetConf, names: FieldNames): Cidr {
  const { network } = settings;
  // Flannel's Empty(): absent and the all-zero /0 look the same to it.
  if (network !== undefined && (network.address !== 0n || network.prefix !== 0)) return network;
  throw netConfInvalid({
    field: names.network,
    value: network === undefined ? undefined : formatCidr(network),
    reason: `please define a correct ${names.network} parameter in the flannel config`,
    allowed: `an IPv${settings.family} CIDR other than /0, such as "${exampleNetwork[settings.family]}"`,
  });
}

/** The SubnetLen values Flannel would accept for this network, in words. */
function allowedSubnetLens(network: Cidr, names: FieldNames): string {
  const longest = maxSubnetLen(network.family);
  const shortest = network.prefix + 2;
  const where = `${names.network} ${formatCidr(network)}`;
  if (shortest > longest) return `none, ${where} is too small: its prefix must be /${longest - 2} or shorter`;
  return `${shortest}..${longest} for ${where}`;
}

function subnetLenFor(settings: FamilyNetConf, network: Cidr, names: FieldNames): number {
  const longest = maxSubnetLen(network.family);
  const given = settings.subnetLen ?? 0;
  if (given > 0) {
    const fail = (reason: string) =>
      netConfInvalid({ field: names.subnetLen, value: given, reason, allowed: allowedSubnetLens(network, names) });
    // Room for a tunnel and a bridge address on each node.
    if (given > longest) throw fail(`SubnetLen must be less than /${longest + 1}`);
    // The first subnet is never handed out, so two would leave one node.
    if (given < network.prefix + 2) throw fail("network must be able to accommodate at least four subnets");
    return given;
  }
  const { defaultSubnetLen, tooSmallSubject } = derivation[network.family];
  if (network.prefix > longest - 2) {
    const reason = `${tooSmallSubject} is too small. Minimum useful network prefix is /${longest - 2}`;
    const allowed = `a prefix of /${longest - 2} or shorter`;
    throw netConfInvalid({ field: names.network, value: formatCidr(network), reason, allowed });
  }
  // DOC≠CODE: the docs say "smaller than a /22"; the code gives /24 up to and including /22.
  return network.prefix <= defaultSubnetLen - 2 ? defaultSubnetLen : network.prefix + 2;
}

function boundOrDefault(
  given: IpAddress | undefined,
  field: string,
  network: Cidr,
  names: FieldNames,
  fallback: bigint,
): IpAddress {
  // Flannel treats the zero address as "not set"; an IPv4 value in an IPv6 field is not zero to it.
  if (given === undefined || (given.family === network.family && given.value === 0n)) {
    return { family: network.family, value: fallback };
  }
  if (!cidrContainsIp(network, given)) {
    const reason = `${field} is not in the range of the ${names.network}`;
    const allowed = `an address inside ${names.network} ${formatCidr(network)}`;
    throw netConfInvalid({ field, value: formatIp(given), reason, allowed });
  }
  return given;
}

function requireAligned(ip: IpAddress, field: string, subnetLen: number): void {
  if (isAligned(ip, subnetLen)) return;
  const reason = `${field} is not on a SubnetLen boundary: ${formatIp(ip)}`;
  const example = formatIp(cidrIp(makeCidr(ip, subnetLen)));
  const allowed = `an address on a /${subnetLen} boundary, such as ${example}`;
  throw netConfInvalid({ field, value: formatIp(ip), reason, allowed });
}

function checkFamily(settings: FamilyNetConf): CheckedFamilyNetConf {
  if (!settings.enabled) return { ...settings, enabled: false };
  const names = netConfFieldNames[settings.family];
  const network = requireNetwork(settings, names);
  const subnetLen = subnetLenFor(settings, network, names);
  const size = blockSize(network.family, subnetLen);
  // The first subnet is skipped so that no node's bridge gets the network address.
  const subnetMin = boundOrDefault(settings.subnetMin, names.subnetMin, network, names, network.address + size);
  const lastSubnet = lastAddress(network).value + 1n - size;
  const subnetMax = boundOrDefault(settings.subnetMax, names.subnetMax, network, names, lastSubnet);
  // Like Flannel, no check that SubnetMin <= SubnetMax: such a range simply has no free subnet.
  requireAligned(subnetMin, names.subnetMin, subnetLen);
  requireAligned(subnetMax, names.subnetMax, subnetLen);
  return { family: settings.family, enabled: true, network, subnetLen, subnetMin, subnetMax };
}

/**
 * The families the node runs, refusing a configuration with none ("none defined stack",
 * F:pkg/ipmatch/match.go GetIPFamily). Flannel checks this in both modes, so the kube path calls
 * it directly; checkNetConf calls it too.
 */
export function enabledFamilies(conf: NetConf): IpFamily[] {
  const families = ipFamilies.filter((family) => familyNetConf(conf, family).enabled);
  if (families.length > 0) return families;
  const [v4, v6] = [netConfFieldNames[4].enable, netConfFieldNames[6].enable];
  const reason = `none defined stack: ${v6} is false too`;
  throw netConfInvalid({ field: v4, value: false, reason, allowed: `${v4} or ${v6} true` });
}

/**
 * Flannel's CheckNetworkConfig, IPv4 first then IPv6, followed by the address-family check:
 * returns the configuration with SubnetLen/SubnetMin/SubnetMax derived for every enabled family.
 * Throws FlannelError "netconf-invalid" naming the field, its value and what is allowed.
 */
export function checkNetConf(conf: NetConf): CheckedNetConf {
  const checked: CheckedNetConf = { ...conf, ipv4: checkFamily(conf.ipv4), ipv6: checkFamily(conf.ipv6) };
  enabledFamilies(checked);
  return checked;
}
