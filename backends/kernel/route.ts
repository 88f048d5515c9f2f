// Routes of the main table: read with `ip -d -json route show`, written as batch lines.
// host-gw: `<peer subnet> via <peer public IP> dev <ext>`; vxlan: `<peer subnet> via <peer subnet
// address> dev flannel.<VNI> onlink` (Flannel's onlink route, so the kernel never ARPs for the
// gateway); the blackhole route for the whole network. Writes use `replace`: applying twice
// changes nothing.
import { addressBits, formatCidr, formatIp, parseCidr, parseIp, sameIp, type Cidr, type IpAddress, type IpFamily } from "../net/ip.ts";
import { batchLine, deviceToken, type IpLine } from "./batch-line.ts";
import { KernelCommandError, type CommandRunner } from "./command-runner.ts";
import { memoParse, parseRecordArray, recordReader, type DumpMemo, type JsonRecord, type RecordReader } from "./json-output.ts";
import { isNoDeviceMessage } from "./kernel-messages.ts";

export interface KernelRoute {
  readonly dst: Cidr;
  /** "unicast", "blackhole", "unreachable", "prohibit", "throw", … */
  readonly type: string;
  readonly gateway: IpAddress | undefined;
  /** Undefined for routes without a single device (blackhole, multipath). */
  readonly device: string | undefined;
  readonly onlink: boolean;
  /** "global" (universe), "link", "host", … */
  readonly scope: string;
  /** "boot" for routes added by `ip`, "kernel", "static", "dhcp", or a number. */
  readonly protocol: string;
  readonly metric: number | undefined;
}

/** A route to write. A KernelRoute read back is one too, so a stale route can be deleted as read. */
export interface RouteSpec {
  readonly dst: Cidr;
  /** Default "unicast". */
  readonly type?: string;
  readonly gateway?: IpAddress | undefined;
  readonly device?: string | undefined;
  readonly onlink?: boolean;
  readonly metric?: number | undefined;
}

function parseDestination(reader: RecordReader, family: IpFamily, record: JsonRecord): Cidr {
  const text = reader.string(record, "dst");
  // `ip` prints the zero-length prefix as "default" and host routes without their /32 or /128.
  if (text === "default") return { family, address: 0n, prefix: 0 };
  const cidr = text.includes("/") ? parseCidr(text) : undefined;
  if (cidr !== undefined) return cidr;
  const ip = text.includes("/") ? undefined : parseIp(text);
  if (ip === undefined) throw reader.fail(`"dst" is not a destination: ${text}`);
  return { family: ip.family, address: ip.value, prefix: addressBits[ip.family] };
}

function parseRoute(reader: RecordReader, family: IpFamily, record: JsonRecord, device: string | undefined): KernelRoute {
  return {
    dst: parseDestination(reader, family, record),
    type: reader.optionalString(record, "type") ?? "unicast",
    gateway: reader.optionalIp(record, "gateway"),
    // `ip route show dev X` leaves "dev" out of each route: it is X.
    device: reader.optionalString(record, "dev") ?? device,
    onlink: reader.stringList(record, "flags").includes("onlink"),
    scope: reader.optionalString(record, "scope") ?? "global",
    protocol: String(record.protocol ?? "boot"),
    metric: reader.optionalInteger(record, "metric"),
  };
}

/**
 * Routes of the main table for one family, optionally only those through `device` (none if it is
 * absent), or only those to exactly `exact` (the kernel's own selector: no dump of the table).
 */
export async function listRoutes(
  runner: CommandRunner,
  family: IpFamily,
  options: { readonly device?: string; readonly exact?: Cidr; readonly signal?: AbortSignal; readonly memo?: DumpMemo<KernelRoute> } = {},
): Promise<readonly KernelRoute[]> {
  options.signal?.throwIfAborted();
  const device = options.device === undefined ? [] : ["dev", deviceToken(options.device)];
  const exact = options.exact === undefined ? [] : ["exact", formatCidr(options.exact)];
  const argv = ["ip", "-d", "-json", `-${family}`, "route", "show", "table", "main", ...exact, ...device];
  const result = await runner(argv, { signal: options.signal });
  if (result.code !== 0) {
    if (options.device !== undefined && isNoDeviceMessage(result.stderr)) return [];
    throw new KernelCommandError(argv, result.code, result.stderr);
  }
  const reader = recordReader(argv);
  return memoParse(options.memo, result.stdout, () => parseRecordArray(argv, result.stdout).map((record) => parseRoute(reader, family, record, options.device)));
}

function routeTokens(route: RouteSpec, withOnlink: boolean): string[] {
  const tokens: string[] = [];
  const type = route.type ?? "unicast";
  if (type !== "unicast") tokens.push(type);
  tokens.push(formatCidr(route.dst));
  if (route.gateway !== undefined) {
    if (route.gateway.family !== route.dst.family) {
      throw new RangeError(`route ${formatCidr(route.dst)}: gateway ${formatIp(route.gateway)} is of another family`);
    }
    tokens.push("via", formatIp(route.gateway));
  }
  if (route.device !== undefined) tokens.push("dev", deviceToken(route.device));
  if (withOnlink && route.onlink === true) tokens.push("onlink");
  if (route.metric !== undefined) tokens.push("metric", String(route.metric));
  return tokens;
}

/** `route replace <dst> [via <gw>] [dev <dev>] [onlink]` — or `route replace blackhole <dst>`. */
export function routeReplaceLine(route: RouteSpec): IpLine {
  return batchLine("ip", ["route", "replace", ...routeTokens(route, true)]);
}

/** Deletes exactly this route (destination, type, gateway, device). Absent → reported as already gone. */
export function routeDeleteLine(route: RouteSpec): IpLine {
  return batchLine("ip", ["route", "del", ...routeTokens(route, false)]);
}

function sameOptionalIp(a: IpAddress | undefined, b: IpAddress | undefined): boolean {
  return a === undefined || b === undefined ? a === b : sameIp(a, b);
}

/** True when the kernel's route already is the wanted one (what a replace would not change). */
export function routeMatches(wanted: RouteSpec, route: KernelRoute): boolean {
  return (
    wanted.dst.family === route.dst.family &&
    wanted.dst.address === route.dst.address &&
    wanted.dst.prefix === route.dst.prefix &&
    (wanted.type ?? "unicast") === route.type &&
    sameOptionalIp(wanted.gateway, route.gateway) &&
    (wanted.device === undefined || wanted.device === route.device) &&
    (wanted.onlink ?? false) === route.onlink
  );
}
