// One link read with its details (`ip -d -json link show dev X`), and the lines that create a
// vxlan device exactly as Flannel does, bring a link up and delete it.
//
// Flannel (pkg/backend/vxlan/device.go) creates flannel.<VNI> with: id VNI, underlay = the
// external interface, local = the external address, learning per option, ttl/tos 0, proxy, rsc,
// l2miss and l3miss off, the destination port only when Port > 0 (the kernel then uses 8472),
// gbp when set, its MAC, and MTU = external MTU − 50.
import { formatIp, type IpAddress } from "../net/ip.ts";
import { batchLine, deviceToken, type IpLine } from "./batch-line.ts";
import { KernelCommandError, type CommandRunner } from "./command-runner.ts";
import { isRecord, parseRecordArray, recordReader, type JsonRecord, type RecordReader } from "./json-output.ts";
import { parseMac, type MacAddress } from "./mac.ts";

export interface VxlanAttributes {
  readonly id: number;
  readonly local: IpAddress | undefined;
  readonly group: IpAddress | undefined;
  /** The underlay device: `ip` prints its name; the index is looked up (undefined if it is gone). */
  readonly underlay: { readonly name: string; readonly index: number | undefined } | undefined;
  /** The UDP destination port; 8472 (the kernel's default) when created without one. */
  readonly port: number;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly proxy: boolean;
  readonly rsc: boolean;
  readonly l2miss: boolean;
  readonly l3miss: boolean;
  readonly ttl: number | "inherit";
  readonly tos: number | "inherit";
}

export interface KernelLink {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  readonly mac: MacAddress | undefined;
  /** "UP", "DOWN", "UNKNOWN", … */
  readonly operState: string;
  /** "UP", "LOWER_UP", "BROADCAST", … ; `up` is whether "UP" (administratively up) is among them. */
  readonly flags: readonly string[];
  readonly up: boolean;
  /** linkinfo's kind: "vxlan", "veth", "bridge", …; undefined for plain devices. */
  readonly kind: string | undefined;
  readonly vxlan: VxlanAttributes | undefined;
}

function ttlOrTos(reader: RecordReader, data: JsonRecord, key: string): number | "inherit" {
  const value = data[key];
  if (value === undefined || value === "auto") return 0;
  if (value === "inherit") return "inherit";
  if (typeof value === "number") return value;
  // tos is printed in hex ("0x4").
  if (typeof value === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(value)) return Number(value);
  throw reader.fail(`vxlan "${key}" is ${JSON.stringify(value)}`);
}

function parseVxlan(reader: RecordReader, data: JsonRecord): Omit<VxlanAttributes, "underlay"> & { underlayName: string | undefined } {
  const flag = (key: string): boolean => data[key] === true;
  return {
    id: reader.integer(data, "id"),
    local: reader.optionalIp(data, "local") ?? reader.optionalIp(data, "local6"),
    group: reader.optionalIp(data, "group") ?? reader.optionalIp(data, "group6"),
    underlayName: reader.optionalString(data, "link"),
    port: reader.optionalInteger(data, "port") ?? 8472,
    learning: flag("learning"),
    gbp: flag("gbp"),
    proxy: flag("proxy"),
    rsc: flag("rsc"),
    l2miss: flag("l2miss"),
    l3miss: flag("l3miss"),
    ttl: ttlOrTos(reader, data, "ttl"),
    tos: ttlOrTos(reader, data, "tos"),
  };
}

// One dump of every link, details included, answers both the link and its underlay. The link is
// picked by the name the kernel reports: `dev NAME` would go through a long-lived `ip`'s name
// cache, stale once a device is recreated (read-runner.ts).
const linkDumpArgv = ["ip", "-d", "-json", "link", "show"] as const;

/** The link named `name` with its details, or undefined when there is none. */
export async function readLink(runner: CommandRunner, name: string, signal?: AbortSignal): Promise<KernelLink | undefined> {
  signal?.throwIfAborted();
  const result = await runner(linkDumpArgv, { signal });
  if (result.code !== 0) throw new KernelCommandError(linkDumpArgv, result.code, result.stderr);
  const links = parseRecordArray(linkDumpArgv, result.stdout);
  const wanted = deviceToken(name);
  const record = links.find((link) => link.ifname === wanted);
  if (record === undefined) return undefined;
  const reader = recordReader(linkDumpArgv);
  const linkinfo = isRecord(record.linkinfo) ? record.linkinfo : undefined;
  const kind = linkinfo === undefined ? undefined : reader.optionalString(linkinfo, "info_kind");
  let vxlan: VxlanAttributes | undefined;
  if (kind === "vxlan" && linkinfo !== undefined && isRecord(linkinfo.info_data)) {
    const { underlayName, ...attributes } = parseVxlan(reader, linkinfo.info_data);
    vxlan = { ...attributes, underlay: underlayName === undefined ? undefined : underlayOf(reader, links, underlayName) };
  }
  const macText = reader.optionalString(record, "address");
  const flags = reader.stringList(record, "flags");
  return {
    name: reader.string(record, "ifname"),
    index: reader.integer(record, "ifindex"),
    mtu: reader.integer(record, "mtu"),
    mac: macText === undefined ? undefined : parseMac(macText),
    operState: reader.optionalString(record, "operstate") ?? "UNKNOWN",
    flags,
    up: flags.includes("UP"),
    kind,
    vxlan,
  };
}

// Flannel compares the underlay by index; `ip` prints a name, or "if<N>" for an index it cannot name.
function underlayOf(reader: RecordReader, links: readonly JsonRecord[], name: string): VxlanAttributes["underlay"] {
  const record = links.find((link) => link.ifname === name);
  if (record !== undefined) return { name, index: reader.integer(record, "ifindex") };
  const unnamed = /^if(\d+)$/.exec(name);
  return { name, index: unnamed === null ? undefined : Number(unnamed[1]) };
}

export interface VxlanDeviceSpec {
  readonly name: string;
  readonly vni: number;
  /** The underlay (external interface) name. */
  readonly underlay: string;
  readonly local: IpAddress;
  readonly learning: boolean;
  /** 0 or undefined: the kernel's default (8472), as Flannel leaves the attribute out. */
  readonly port?: number | undefined;
  readonly gbp?: boolean | undefined;
  readonly mac?: MacAddress | undefined;
  readonly mtu?: number | undefined;
}

/**
 * `link add <name> [address <mac>] [mtu <M>] type vxlan id <VNI> dev <ext> local <ip>
 * nolearning|learning dstport <N> [gbp]`. For Port 0 it sends `dstport 0`, which the kernel
 * treats exactly like an absent port (8472) and which keeps `ip` from printing a warning.
 * A device that already exists is reported as "already-exists" (e.g. a lost race).
 */
export function vxlanCreateLine(spec: VxlanDeviceSpec): IpLine {
  const tokens: (string | number)[] = ["link", "add", deviceToken(spec.name)];
  if (spec.mac !== undefined) tokens.push("address", spec.mac);
  if (spec.mtu !== undefined) tokens.push("mtu", spec.mtu);
  tokens.push("type", "vxlan", "id", spec.vni, "dev", deviceToken(spec.underlay), "local", formatIp(spec.local));
  tokens.push(spec.learning ? "learning" : "nolearning", "dstport", spec.port ?? 0);
  if (spec.gbp === true) tokens.push("gbp");
  return batchLine("ip", tokens);
}

/** `link set dev <name> up` */
export function linkUpLine(name: string): IpLine {
  return batchLine("ip", ["link", "set", "dev", deviceToken(name), "up"]);
}

/** `link del dev <name>` — absent → reported as already gone. */
export function linkDeleteLine(name: string): IpLine {
  return batchLine("ip", ["link", "del", "dev", deviceToken(name)]);
}
