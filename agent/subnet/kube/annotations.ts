// The node annotations Flannel's kube subnet manager reads and writes (F:pkg/subnet/kube/
// annotations.go, kube.go AcquireLease / GetStoredPublicIP / GetStoredMacAddresses): their names
// from --kube-annotation-prefix, the values this node publishes, and the patch that sends only
// what changed. Pure: no I/O.
import "./kube-errors.ts";
import { FlannelError } from "../../../backends/errors.ts";
import { formatIp, parseIpOfFamily, type IpAddress, type IpFamily } from "../../../backends/net/ip.ts";
import { parseMac, type MacAddress } from "../../../backends/kernel/mac.ts";
import type { LeaseAttrs, NodeHints } from "./manager-contract.ts";

/** Every annotation name, with the prefix normalised as Flannel does. */
export interface KubeAnnotations {
  /** The normalised prefix ("flannel.alpha.coreos.com/", "example.com/x-"). */
  readonly prefix: string;
  readonly kubeSubnetManager: string;
  readonly backendType: string;
  readonly backendData: Readonly<Record<IpFamily, string>>; //      backend-data / backend-v6-data
  readonly publicIP: Readonly<Record<IpFamily, string>>; //         public-ip / public-ipv6
  readonly publicIPOverwrite: Readonly<Record<IpFamily, string>>; // user-set: what to publish instead
  readonly nodePublicIP: Readonly<Record<IpFamily, string>>; //      user-set: replaces --public-ip(v6)
}

// Flannel matches this unanchored at the start (regexp.MatchString), so only the end is checked
// strictly; reproduced as is, so the same prefixes are accepted and refused.
const prefixPattern = /(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/;

/**
 * Flannel's newAnnotations: at most one "/"; none → "/" appended; a prefix ending in neither
 * "/" nor "-" gets "-". Throws kube-config-invalid with Flannel's messages.
 */
export function kubeAnnotations(flagValue: string): KubeAnnotations {
  const slashes = flagValue.split("/").length - 1;
  const invalid = (message: string) =>
    new FlannelError("kube-config-invalid", `--kube-annotation-prefix ${JSON.stringify(flagValue)}: ${message}`, {
      details: { flag: "kube-annotation-prefix", value: flagValue },
    });
  if (slashes > 1) throw invalid("subnet/kube: prefix can contain at most single slash");
  let prefix = slashes === 0 ? `${flagValue}/` : flagValue;
  if (!prefix.endsWith("/") && !prefix.endsWith("-")) prefix += "-";
  if (!prefixPattern.test(prefix)) throw invalid("subnet/kube: prefix must be in a format: fqdn/[0-9a-z-_]*");
  return {
    prefix,
    kubeSubnetManager: `${prefix}kube-subnet-manager`,
    backendType: `${prefix}backend-type`,
    backendData: { 4: `${prefix}backend-data`, 6: `${prefix}backend-v6-data` },
    publicIP: { 4: `${prefix}public-ip`, 6: `${prefix}public-ipv6` },
    publicIPOverwrite: { 4: `${prefix}public-ip-overwrite`, 6: `${prefix}public-ipv6-overwrite` },
    nodePublicIP: { 4: `${prefix}node-public-ip`, 6: `${prefix}node-public-ipv6` },
  };
}

export type Annotations = Readonly<Record<string, string>>;

/** Only the annotations under our prefix: all flannel ever reads, and small enough to keep per node. */
export function ownAnnotations(names: KubeAnnotations, annotations: Annotations | undefined): Annotations {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations ?? {})) if (key.startsWith(names.prefix)) kept[key] = value;
  return kept;
}

const goOnlyEscapes: Readonly<Record<string, string>> = { "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029" };

/** Compact JSON as Go's json.Marshal writes a RawMessage: `null` for no data (host-gw). */
export function backendDataText(data: unknown): string {
  if (data === undefined) return "null";
  return (JSON.stringify(data) ?? "null").replace(/[<>&\u2028\u2029]/g, (c) => goOnlyEscapes[c] ?? c);
}

/**
 * What this node publishes (Flannel's AcquireLease): backend-type; for IPv4 backend-data and
 * public-ip (the public-ip-overwrite value when one is set) — for vxlan and wireguard only when
 * there is IPv4 data, always for other backends; the IPv6 pair for vxlan with IPv6 data and for
 * wireguard, host-gw and extension with a public IPv6; kube-subnet-manager "true".
 */
export function wantedAnnotations(names: KubeAnnotations, current: Annotations, attrs: LeaseAttrs): Record<string, string> {
  const wanted: Record<string, string> = { [names.backendType]: attrs.backendType };
  const type = attrs.backendType;
  const v4Data = backendDataText(attrs.backendData);
  const v6Data = backendDataText(attrs.backendV6Data);
  const hasV6 = attrs.publicIPv6 !== undefined;
  const publish = (family: IpFamily, data: string, ip: IpAddress | undefined): void => {
    wanted[names.backendData[family]] = data;
    const overwrite = current[names.publicIPOverwrite[family]] ?? "";
    if (overwrite !== "") wanted[names.publicIP[family]] = overwrite;
    // Flannel would write "<nil>" for vxlan IPv6 data without a public IPv6; we leave the key alone.
    else if (ip !== undefined) wanted[names.publicIP[family]] = formatIp(ip);
  };
  const dataDriven = type === "vxlan" || type === "wireguard";
  if (!dataDriven || v4Data !== "null") publish(4, v4Data, attrs.publicIP);
  if ((type === "vxlan" && v6Data !== "null") || (type === "wireguard" && v6Data !== "null" && hasV6) || ((type === "host-gw" || type === "extension") && hasV6)) {
    publish(6, v6Data, attrs.publicIPv6);
  }
  wanted[names.kubeSubnetManager] = "true";
  return wanted;
}

/**
 * The strategic merge patch Flannel sends to nodes/NAME/status (CreateTwoWayMergePatch of the
 * node before and after): only the keys whose value changes, sorted as Go marshals a map.
 * Undefined when nothing changes, so no request is made.
 */
export function annotationPatch(current: Annotations, wanted: Readonly<Record<string, string>>): { metadata: { annotations: Record<string, string> } } | undefined {
  const changed = Object.keys(wanted)
    .filter((key) => current[key] !== wanted[key])
    .sort();
  if (changed.length === 0) return undefined;
  const annotations: Record<string, string> = {};
  for (const key of changed) annotations[key] = wanted[key]!;
  return { metadata: { annotations } };
}

const macPattern = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

/**
 * The VTEP MAC kept in a backend-data annotation (Flannel's GetStoredMacAddresses), so a restarted
 * node keeps its MAC and peers' FDB/ARP entries stay valid. Flannel trims `"}` and splits on
 * `:"`, which only works when VtepMAC is the last member; we read the JSON member instead and
 * accept only a well-formed MAC.
 */
export function storedVtepMac(backendData: string | undefined): MacAddress | undefined {
  if (backendData === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(backendData);
  } catch {
    return undefined;
  }
  if (typeof data !== "object" || data === null) return undefined;
  const mac = (data as Record<string, unknown>).VtepMAC;
  return typeof mac === "string" && macPattern.test(mac) ? parseMac(mac) : undefined;
}

/**
 * What the node's annotations say about it before the agent picks an interface:
 * node-public-ip(v6) replace --public-ip(v6) (Flannel's GetStoredPublicIP), and the VTEP MACs.
 * An unparsable node-public-ip is refused (Flannel exits on it later, as an invalid --public-ip).
 */
export function nodeHintsFrom(names: KubeAnnotations, annotations: Annotations): NodeHints {
  const hints: { publicIP?: IpAddress; publicIPv6?: IpAddress; vtepMAC?: MacAddress; vtepMACv6?: MacAddress } = {};
  for (const family of [4, 6] as const) {
    const key = names.nodePublicIP[family];
    const text = annotations[key];
    if (text === undefined || text === "") continue;
    const ip = parseIpOfFamily(text, family);
    if (ip === undefined) {
      throw new FlannelError("kube-node-invalid", `node annotation ${key}=${JSON.stringify(text)} is not an IPv${family} address`, {
        details: { annotation: key, value: text },
      });
    }
    if (family === 4) hints.publicIP = ip;
    else hints.publicIPv6 = ip;
  }
  const mac = storedVtepMac(annotations[names.backendData[4]]);
  const macV6 = storedVtepMac(annotations[names.backendData[6]]);
  if (mac !== undefined) hints.vtepMAC = mac;
  if (macV6 !== undefined) hints.vtepMACv6 = macV6;
  return hints;
}
