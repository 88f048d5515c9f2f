// subnet.env: the file flanneld writes once per start and the CNI plugin reads for every pod.
//
// Writing matches Flannel byte for byte (F:pkg/subnet/subnet.go WriteSubnetFile): plain
// KEY=VALUE lines in a fixed order, FLANNEL_SUBNET = first host address of the lease's subnet,
// mode 0644 whatever the umask, parent directory 0755, and atomic (temporary file in the same
// directory, fsync, rename) so a CNI plugin never reads half a file.
//
// Reading follows the flannel CNI plugin (C:flannel.go loadFlannelSubnetEnv): split each line at
// its first '=', recognise the six FLANNEL_* keys, ignore everything else, NETWORK values may be
// comma lists, SUBNET values are masked, MTU is an unsigned integer, IPMASQ is true only for the
// exact text "true".
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FlannelError } from "../../backends/errors.ts";
import { cidrIp, formatCidr, formatIp, makeCidr, offsetIp, parseCidr, parseIp, type Cidr, type IpAddress } from "../../backends/net/ip.ts";

export const defaultSubnetFile = "/run/flannel/subnet.env";

/** What flanneld writes: the network(s) of net-conf.json and this node's lease subnet(s). */
export interface SubnetEnvContent {
  readonly network?: Cidr; //     present iff EnableIPv4
  readonly subnet?: Cidr; //      the lease's IPv4 subnet (network address, e.g. 10.5.72.0/24)
  readonly ipv6Network?: Cidr; // present iff EnableIPv6
  readonly ipv6Subnet?: Cidr;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

/** A node subnet as subnet.env states it: the gateway address written and the masked network. */
export interface SubnetEnvSubnet {
  readonly gateway: IpAddress; // e.g. 10.5.72.1
  readonly cidr: Cidr; //         e.g. 10.5.72.0/24
}

/** What the CNI plugin (and flanneld on restart) reads back. */
export interface SubnetEnv {
  readonly networks: readonly Cidr[];
  readonly subnet?: SubnetEnvSubnet;
  readonly ipv6Networks: readonly Cidr[];
  readonly ipv6Subnet?: SubnetEnvSubnet;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

function gatewayOf(subnet: Cidr): string {
  return `${formatIp(offsetIp(cidrIp(subnet), 1n))}/${subnet.prefix}`;
}

export function formatSubnetEnv(content: SubnetEnvContent): string {
  const lines: string[] = [];
  const pair = (network: Cidr | undefined, subnet: Cidr | undefined, networkKey: string, subnetKey: string): void => {
    if (network !== undefined) lines.push(`${networkKey}=${formatCidr(network)}`);
    if (subnet !== undefined) lines.push(`${subnetKey}=${gatewayOf(subnet)}`);
  };
  pair(content.network, content.subnet, "FLANNEL_NETWORK", "FLANNEL_SUBNET");
  pair(content.ipv6Network, content.ipv6Subnet, "FLANNEL_IPV6_NETWORK", "FLANNEL_IPV6_SUBNET");
  lines.push(`FLANNEL_MTU=${content.mtu}`, `FLANNEL_IPMASQ=${content.ipMasq}`);
  return `${lines.join("\n")}\n`;
}

/**
 * Creates the directory (and missing parents) as 0755 even under a strict umask, so that readers
 * other than root (mk-docker-opts.sh, monitoring) can reach subnet.env. Existing directories
 * are left as they are.
 */
async function ensureDirectory(directory: string): Promise<void> {
  const firstCreated = await mkdir(directory, { recursive: true, mode: 0o755 });
  if (firstCreated === undefined) return;
  for (let current = directory; current.length >= firstCreated.length; current = dirname(current)) {
    await chmod(current, 0o755);
  }
}

/** Writes subnet.env atomically: a reader sees the old file or the new one, never a mix. */
export async function writeSubnetEnv(path: string, content: SubnetEnvContent): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await ensureDirectory(directory);
    const file = await open(temporary, "wx", 0o644);
    try {
      await file.writeFile(formatSubnetEnv(content));
      await file.chmod(0o644); // the mode given to open() is reduced by the umask; Flannel's is not
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new FlannelError("subnet-env-io", `cannot write ${path}: ${(error as Error).message}`, {
      cause: error,
      details: { file: path },
    });
  }
}

// ---- reading --------------------------------------------------------------------------------

type Key = "FLANNEL_NETWORK" | "FLANNEL_SUBNET" | "FLANNEL_IPV6_NETWORK" | "FLANNEL_IPV6_SUBNET" | "FLANNEL_MTU" | "FLANNEL_IPMASQ";
const keys: readonly Key[] = ["FLANNEL_NETWORK", "FLANNEL_SUBNET", "FLANNEL_IPV6_NETWORK", "FLANNEL_IPV6_SUBNET", "FLANNEL_MTU", "FLANNEL_IPMASQ"];

/** The recognised keys of a subnet.env text and their raw values (the last occurrence wins). */
export function subnetEnvValues(text: string): Partial<Record<Key, string>> {
  const values: Partial<Record<Key, string>> = {};
  for (const line of text.split(/\r?\n/)) {
    const equals = line.indexOf("=");
    if (equals < 0) continue;
    const key = line.slice(0, equals) as Key;
    if (keys.includes(key)) values[key] = line.slice(equals + 1);
  }
  return values;
}

function invalid(file: string, key: string, value: string, expected: string): FlannelError {
  return new FlannelError("subnet-env-invalid", `${file}: ${key}=${value} is not ${expected}`, {
    details: { file, key, value },
  });
}

function parseNetworks(file: string, key: Key, value: string | undefined): Cidr[] {
  if (value === undefined) return [];
  const networks: Cidr[] = [];
  for (const item of value.split(",")) {
    const cidr = parseCidr(item.trim());
    if (cidr === undefined) throw invalid(file, key, value, "a CIDR or a comma-separated list of CIDRs");
    if (!networks.some((seen) => formatCidr(seen) === formatCidr(cidr))) networks.push(cidr);
  }
  return networks;
}

function parseSubnet(file: string, key: Key, value: string | undefined): SubnetEnvSubnet | undefined {
  if (value === undefined) return undefined;
  const slash = value.indexOf("/");
  const gateway = parseIp(value.slice(0, slash));
  const cidr = parseCidr(value);
  if (slash < 0 || gateway === undefined || cidr === undefined) throw invalid(file, key, value, "an address with a prefix length");
  return { gateway, cidr: makeCidr(gateway, cidr.prefix) };
}

/**
 * Parses subnet.env as the flannel CNI plugin does. Missing groups are reported together, in
 * the plugin's words: "<file> is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, …".
 */
export function parseSubnetEnv(text: string, file: string): SubnetEnv {
  const values = subnetEnvValues(text);
  const missing: string[] = [];
  if (values.FLANNEL_NETWORK === undefined && values.FLANNEL_IPV6_NETWORK === undefined) missing.push("FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK");
  if (values.FLANNEL_SUBNET === undefined && values.FLANNEL_IPV6_SUBNET === undefined) missing.push("FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET");
  if (values.FLANNEL_MTU === undefined) missing.push("FLANNEL_MTU");
  if (values.FLANNEL_IPMASQ === undefined) missing.push("FLANNEL_IPMASQ");
  if (missing.length > 0) {
    throw new FlannelError("subnet-env-invalid", `${file} is missing ${missing.join(", ")}`, { details: { file, missing } });
  }
  const mtuText = values.FLANNEL_MTU!;
  if (!/^\d+$/.test(mtuText) || Number(mtuText) > 0xffffffff) throw invalid(file, "FLANNEL_MTU", mtuText, "an unsigned integer");
  const subnet = parseSubnet(file, "FLANNEL_SUBNET", values.FLANNEL_SUBNET);
  const ipv6Subnet = parseSubnet(file, "FLANNEL_IPV6_SUBNET", values.FLANNEL_IPV6_SUBNET);
  return {
    networks: parseNetworks(file, "FLANNEL_NETWORK", values.FLANNEL_NETWORK),
    ipv6Networks: parseNetworks(file, "FLANNEL_IPV6_NETWORK", values.FLANNEL_IPV6_NETWORK),
    ...(subnet === undefined ? {} : { subnet }),
    ...(ipv6Subnet === undefined ? {} : { ipv6Subnet }),
    mtu: Number(mtuText),
    ipMasq: values.FLANNEL_IPMASQ === "true",
  };
}

export async function readSubnetEnv(file: string): Promise<SubnetEnv> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new FlannelError("subnet-env-io", `cannot read ${file}: ${(error as Error).message}`, { cause: error, details: { file } });
  }
  return parseSubnetEnv(text, file);
}

/** What a restarting flanneld takes from the previous subnet.env: hints, never required. */
export interface PreviousSubnetEnv {
  readonly network?: Cidr;
  readonly subnet?: Cidr;
  readonly ipv6Network?: Cidr;
  readonly ipv6Subnet?: Cidr;
}

/**
 * Reads the previous run's subnets the way flanneld does at start (F:main.go
 * ReadCIDRFromSubnetFile): a missing file, a missing key, a bad value or a list of more than
 * one entry all mean "no hint" for that key — a restart must never fail on an old file.
 */
export async function readPreviousSubnetEnv(file: string): Promise<PreviousSubnetEnv> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return {};
  }
  const values = subnetEnvValues(text);
  // parseCidr masks, as Flannel does: FLANNEL_SUBNET=10.5.72.1/24 → 10.5.72.0/24.
  const single = (key: Key): Cidr | undefined => {
    const value = values[key];
    return value === undefined || value.includes(",") ? undefined : parseCidr(value.trim());
  };
  const hints = {
    network: single("FLANNEL_NETWORK"),
    subnet: single("FLANNEL_SUBNET"),
    ipv6Network: single("FLANNEL_IPV6_NETWORK"),
    ipv6Subnet: single("FLANNEL_IPV6_SUBNET"),
  };
  return Object.fromEntries(Object.entries(hints).filter(([, cidr]) => cidr !== undefined)) as PreviousSubnetEnv;
}
