// Read-only questions to the kernel about links, their addresses and routes, asked with
// `ip -json` through an injected CommandRunner. Nothing here changes kernel state.
//
// The JSON is parsed defensively: anything that is not the shape `ip` prints becomes a
// FlannelError "kernel-output-invalid" naming the command, never a TypeError deep in a caller.
import { FlannelError } from "../errors.ts";
import { formatIp, parseIp, type IpAddress, type IpFamily } from "../net/ip.ts";
import { runKernelCommand, type CommandRunner } from "./command-runner.ts";

/** The address flags `ip -json addr` prints, as booleans. `permanent` is the absence of "dynamic". */
export interface AddressFlags {
  readonly permanent: boolean;
  readonly deprecated: boolean;
  /** IPv6 privacy address (IFA_F_TEMPORARY; the same bit is "secondary" for IPv4). */
  readonly temporary: boolean;
  readonly secondary: boolean;
  readonly tentative: boolean;
  readonly dadFailed: boolean;
  readonly optimistic: boolean;
  readonly noDad: boolean;
  readonly manageTempAddr: boolean;
  readonly noPrefixRoute: boolean;
}

export interface LinkAddress {
  readonly ip: IpAddress;
  readonly prefixLength: number;
  /** "global", "site", "link", "host" or a number for scopes `ip` has no name for. */
  readonly scope: string;
  readonly flags: AddressFlags;
}

export interface Link {
  readonly index: number;
  readonly name: string;
  readonly mtu: number;
  /** Interface flags as `ip` prints them: "UP", "LOWER_UP", "LOOPBACK", "BROADCAST", … */
  readonly flags: readonly string[];
  /** "UP", "DOWN", "UNKNOWN", … */
  readonly operState: string;
  /** In the kernel's order, which is the order Flannel (through netlink) sees them in. */
  readonly addresses: readonly LinkAddress[];
}

export interface DefaultRoute {
  /** The route's type when not a plain unicast route ("unreachable", "blackhole", …). */
  readonly type: string;
  /** Undefined for routes that name no single device (multipath, unreachable, blackhole). */
  readonly device: string | undefined;
}

export interface RouteToAddress {
  readonly device: string;
  readonly preferredSource: IpAddress | undefined;
}

export interface LinkQuery {
  /** Every link of the namespace with its addresses, ordered by interface index. */
  listLinks(signal?: AbortSignal): Promise<Link[]>;
  /** The first default route of the main table for a family, as Flannel takes it; undefined when none. */
  defaultRoute(family: IpFamily, signal?: AbortSignal): Promise<DefaultRoute | undefined>;
  /** `ip route get`: the device the kernel would send to this address through, and its source. */
  routeTo(destination: IpAddress, signal?: AbortSignal): Promise<RouteToAddress>;
}

type JsonRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalidOutput(argv: readonly string[], reason: string, cause?: unknown): FlannelError {
  return new FlannelError("kernel-output-invalid", `unexpected output from \`${argv.join(" ")}\`: ${reason}`, {
    cause,
    details: { argv: [...argv], reason },
  });
}

/** Parses `ip -json` output as an array of objects. `ip` prints nothing at all for an empty dump. */
function parseObjectArray(argv: readonly string[], stdout: string): JsonRecord[] {
  if (stdout.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (error) {
    throw invalidOutput(argv, "not JSON", error);
  }
  if (!Array.isArray(parsed)) throw invalidOutput(argv, "not a JSON array");
  return parsed.map((item, i) => {
    if (!isRecord(item)) throw invalidOutput(argv, `entry ${i} is not an object`);
    return item;
  });
}

function requireString(argv: readonly string[], record: JsonRecord, key: string, where: string): string {
  const value = record[key];
  if (typeof value !== "string" || value === "") throw invalidOutput(argv, `${where}: "${key}" is not a string`);
  return value;
}

function requireInteger(argv: readonly string[], record: JsonRecord, key: string, where: string): number {
  const value = record[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalidOutput(argv, `${where}: "${key}" is not a non-negative integer`);
  }
  return value;
}

function optionalString(record: JsonRecord, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" ? value : undefined;
}

function parseAddressFlags(entry: JsonRecord): AddressFlags {
  const has = (key: string): boolean => entry[key] === true;
  return {
    permanent: !has("dynamic"),
    deprecated: has("deprecated"),
    temporary: has("temporary"),
    secondary: has("secondary"),
    tentative: has("tentative"),
    dadFailed: has("dadfailed"),
    optimistic: has("optimistic"),
    noDad: has("nodad"),
    manageTempAddr: has("mngtmpaddr"),
    noPrefixRoute: has("noprefixroute"),
  };
}

const familyNames: Readonly<Record<string, IpFamily>> = { inet: 4, inet6: 6 };

function parseAddress(argv: readonly string[], entry: JsonRecord, where: string): LinkAddress | undefined {
  const familyName = entry.family;
  // `ip` prints `{}` (or other families) in addr_info in some versions and filters; not ours.
  if (typeof familyName !== "string" || !(familyName in familyNames)) return undefined;
  const family = familyNames[familyName];
  const text = requireString(argv, entry, "local", where);
  const ip = parseIp(text);
  if (ip === undefined || ip.family !== family) {
    throw invalidOutput(argv, `${where}: "${text}" is not an ${familyName} address`);
  }
  const scope = entry.scope;
  return {
    ip,
    prefixLength: requireInteger(argv, entry, "prefixlen", where),
    scope: typeof scope === "string" || typeof scope === "number" ? String(scope) : "global",
    flags: parseAddressFlags(entry),
  };
}

function parseLink(argv: readonly string[], record: JsonRecord): Link {
  const name = requireString(argv, record, "ifname", "link");
  const where = `link ${name}`;
  const flags = Array.isArray(record.flags) ? record.flags.filter((flag) => typeof flag === "string") : [];
  const addrInfo = record.addr_info ?? [];
  if (!Array.isArray(addrInfo)) throw invalidOutput(argv, `${where}: "addr_info" is not an array`);
  const addresses: LinkAddress[] = [];
  for (const entry of addrInfo) {
    if (!isRecord(entry)) throw invalidOutput(argv, `${where}: an address entry is not an object`);
    const address = parseAddress(argv, entry, where);
    if (address !== undefined) addresses.push(address);
  }
  return {
    index: requireInteger(argv, record, "ifindex", where),
    name,
    mtu: requireInteger(argv, record, "mtu", where),
    flags,
    operState: optionalString(record, "operstate") ?? "UNKNOWN",
    addresses,
  };
}

// `ip` prints a zero-length destination as "default"; older versions and other tools spell it out.
const defaultDestinations: ReadonlySet<string> = new Set(["default", "0.0.0.0/0", "::/0"]);

export function createLinkQuery(runner: CommandRunner): LinkQuery {
  return {
    async listLinks(signal) {
      const argv = ["ip", "-json", "address", "show"];
      const records = parseObjectArray(argv, await runKernelCommand(runner, argv, { signal }));
      return records.map((record) => parseLink(argv, record)).sort((a, b) => a.index - b.index);
    },

    async defaultRoute(family, signal) {
      // `exact default` asks for zero-length prefixes only, so a node with thousands of pod
      // routes does not dump them all. The main table is the one netlink's RouteList reads.
      const argv = ["ip", "-json", `-${family}`, "route", "show", "table", "main", "exact", "default"];
      const records = parseObjectArray(argv, await runKernelCommand(runner, argv, { signal }));
      const route = records.find((record) => defaultDestinations.has(optionalString(record, "dst") ?? "default"));
      if (route === undefined) return undefined;
      return { type: optionalString(route, "type") ?? "unicast", device: optionalString(route, "dev") };
    },

    async routeTo(destination, signal) {
      const argv = ["ip", "-json", "route", "get", formatIp(destination)];
      const records = parseObjectArray(argv, await runKernelCommand(runner, argv, { signal }));
      const route = records[0];
      if (route === undefined) throw invalidOutput(argv, "no route printed");
      const device = requireString(argv, route, "dev", "route");
      const source = optionalString(route, "prefsrc");
      const preferredSource = source === undefined ? undefined : parseIp(source);
      if (source !== undefined && preferredSource === undefined) {
        throw invalidOutput(argv, `"prefsrc" ${source} is not an address`);
      }
      return { device, preferredSource };
    },
  };
}
