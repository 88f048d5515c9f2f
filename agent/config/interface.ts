// Choosing the external interface and the addresses flanneld advertises to its peers, from
// --iface, --iface-regex, --iface-can-reach, --public-ip and --public-ipv6, the way Flannel does
// (F:main.go, F:pkg/ipmatch/match.go `LookupExtIface`, F:pkg/ip/iface.go).
//
// The kernel is only read, through a LinkQuery from backends/kernel/, so the same code selects
// in the host namespace in production and inside a test namespace under test.
import { FlannelError, isFlannelError } from "../../backends/errors.ts";
import type { Link, LinkQuery } from "../../backends/kernel/link-query.ts";
import {
  formatIp,
  isGlobalUnicast,
  isLinkLocalUnicast,
  parseIp,
  sameIp,
  type IpAddress,
  type IpFamily,
} from "../../backends/net/ip.ts";

export interface InterfaceSelectionRequest {
  /** --iface, repeatable: an interface name or one of its IP addresses; tried in order. */
  readonly iface: readonly string[];
  /** --iface-regex, repeatable: matched against usable IPs, then names; tried after --iface. */
  readonly ifaceRegex: readonly string[];
  /** --iface-can-reach: use the interface (and source) the kernel routes this IP through. */
  readonly ifaceCanReach: string;
  readonly publicIp: string;
  readonly publicIpv6: string;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
}

export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  readonly ifaceAddr?: IpAddress;
  readonly ifaceV6Addr?: IpAddress;
  /** What peers are told to send to (Flannel's PublicIP / PublicIPv6 lease attributes). */
  readonly extAddr?: IpAddress;
  readonly extV6Addr?: IpAddress;
}

/** Satisfied by a winston logger. */
export interface SelectionLog {
  info(message: string, fields?: Record<string, unknown>): void;
}

export interface InterfaceSelectionOptions {
  readonly signal?: AbortSignal;
  readonly log?: SelectionLog;
}

/** The parts of an interface address the ordering looks at (a LinkAddress fits). */
export interface AddressCandidate {
  readonly ip: IpAddress;
  readonly flags: { readonly permanent: boolean; readonly deprecated: boolean; readonly temporary: boolean };
}

/**
 * The addresses of one family Flannel would use, best first: global unicast or link-local
 * unicast, never deprecated; global before link-local, permanent before dynamic, non-temporary
 * before temporary, and otherwise the kernel's order (the sort is stable).
 */
export function orderUsableAddresses<T extends AddressCandidate>(addresses: readonly T[], family: IpFamily): T[] {
  // One weight per criterion, the first criterion heaviest.
  const rank = (a: T): number =>
    (isGlobalUnicast(a.ip) ? 0 : 4) + (a.flags.permanent ? 0 : 2) + (a.flags.temporary ? 1 : 0);
  const usable = (a: T): boolean =>
    a.ip.family === family && !a.flags.deprecated && (isGlobalUnicast(a.ip) || isLinkLocalUnicast(a.ip));
  return addresses.filter(usable).sort((a, b) => rank(a) - rank(b));
}

const familyName: Readonly<Record<IpFamily, string>> = { 4: "IPv4", 6: "IPv6" };
const publicIpFlag: Readonly<Record<IpFamily, string>> = { 4: "--public-ip", 6: "--public-ipv6" };

type AddressPerFamily = Partial<Record<IpFamily, IpAddress>>;

/** What every selection rule looks at: the namespace's links, read once, and the enabled families. */
interface Scene {
  readonly links: readonly Link[];
  readonly families: readonly IpFamily[];
  readonly query: LinkQuery;
  readonly signal: AbortSignal | undefined;
}

/** An interface picked by one rule, with the addresses that rule already fixed (if any). */
interface Candidate {
  readonly link: Link;
  readonly chosen: AddressPerFamily;
}

interface Attempt {
  readonly flag: string;
  readonly value: string;
  readonly reason: string;
}

function notFound(message: string, details: Record<string, unknown>, cause?: unknown): FlannelError {
  return new FlannelError("interface-not-found", message, { details, cause });
}

function invalid(message: string, details: Record<string, unknown>, cause?: unknown): FlannelError {
  return new FlannelError("interface-invalid", message, { details, cause });
}

function parsePublicIp(family: IpFamily, value: string): IpAddress | undefined {
  if (value === "") return undefined;
  const ip = parseIp(value);
  const flag = publicIpFlag[family];
  if (ip?.family !== family) {
    throw invalid(`invalid ${flag} ${value}: not an ${familyName[family]} address`, { flag, value });
  }
  return ip;
}

function linkOwning(links: readonly Link[], ip: IpAddress): Link | undefined {
  return links.find((link) => link.addresses.some((a) => sameIp(a.ip, ip)));
}

function linkNamed(links: readonly Link[], name: string, details: Record<string, unknown>): Link {
  const link = links.find((l) => l.name === name);
  if (link === undefined) throw notFound(`no interface named ${name}`, details);
  return link;
}

/** Go's RE2 takes leading inline flags such as `(?i)`; JavaScript wants them as RegExp flags. */
function compileInterfaceRegex(pattern: string): RegExp {
  const inline = /^\(\?([ims]+)\)/.exec(pattern);
  try {
    return inline?.[1] === undefined ? new RegExp(pattern) : new RegExp(pattern.slice(inline[0].length), inline[1]);
  } catch (error) {
    throw invalid(`could not compile the --iface-regex ${pattern}`, { flag: "--iface-regex", value: pattern }, error);
  }
}

function usableAddressTexts(link: Link, families: readonly IpFamily[]): string[] {
  return families.flatMap((family) => orderUsableAddresses(link.addresses, family).map((a) => formatIp(a.ip)));
}

/** --iface: an IP selects the interface holding it (and is used as its address), else a name. */
function byIface(scene: Scene, value: string): Candidate {
  const details = { flag: "--iface", value };
  const ip = parseIp(value);
  if (ip === undefined) return { link: linkNamed(scene.links, value, details), chosen: {} };
  if (!scene.families.includes(ip.family)) {
    const name = familyName[ip.family];
    throw notFound(`${value} is an ${name} address but ${name} is not enabled`, details);
  }
  const link = linkOwning(scene.links, ip);
  if (link === undefined) throw notFound(`no interface has the address ${value}`, details);
  return { link, chosen: { [ip.family]: ip } };
}

/** --iface-regex: usable addresses of every interface first, interface names only if none matched. */
function byRegex(scene: Scene, pattern: string): Candidate {
  const regex = compileInterfaceRegex(pattern);
  for (const link of scene.links) {
    // Dual-stack needs a match in both families on the same interface, as in Flannel.
    const chosen: AddressPerFamily = {};
    for (const family of scene.families) {
      const match = orderUsableAddresses(link.addresses, family).find((a) => regex.test(formatIp(a.ip)));
      if (match !== undefined) chosen[family] = match.ip;
    }
    if (scene.families.every((family) => chosen[family] !== undefined)) return { link, chosen };
  }
  const link = scene.links.find((l) => regex.test(l.name));
  if (link !== undefined) return { link, chosen: {} };
  throw notFound(`could not match pattern ${pattern} to any of the available network interfaces`, {
    flag: "--iface-regex",
    value: pattern,
  });
}

/** --iface-can-reach: the interface `ip route get` names, with its preferred source address. */
async function byRoute(scene: Scene, value: string): Promise<Candidate> {
  const details = { flag: "--iface-can-reach", value };
  const destination = parseIp(value);
  if (destination === undefined) throw invalid(`invalid --iface-can-reach ${value}: not an IP address`, details);
  let route;
  try {
    route = await scene.query.routeTo(destination, scene.signal);
  } catch (error) {
    if (scene.signal?.aborted === true) throw error;
    throw notFound(`couldn't look up the route to ${value}`, details, error);
  }
  const link = linkNamed(scene.links, route.device, details);
  const source = route.preferredSource;
  const useSource = source !== undefined && scene.families.includes(source.family);
  return { link, chosen: useSource ? { [source.family]: source } : {} };
}

/**
 * No selector flag, but the public IP of an enabled family: Flannel looks the interface up by
 * it, so a NAT address that no local interface holds fails (the operator adds --iface then).
 */
function byPublicIp(scene: Scene, publicIps: AddressPerFamily): Candidate | undefined {
  let found: Candidate | undefined;
  for (const family of scene.families) {
    const publicIp = publicIps[family];
    if (publicIp === undefined) continue;
    const flag = publicIpFlag[family];
    const details = { flag, value: formatIp(publicIp) };
    const link = linkOwning(scene.links, publicIp);
    if (link === undefined) {
      throw notFound(`no local interface has the address ${details.value} given by ${flag} (add --iface)`, details);
    }
    if (found !== undefined && found.link.name !== link.name) {
      const where = `is on ${link.name}, not on ${found.link.name} like the other public IP`;
      throw notFound(`${flag} ${details.value} ${where}`, details);
    }
    found = { link, chosen: { ...found?.chosen, [family]: publicIp } };
  }
  return found;
}

/** No selector flag and no public IP: the interface of the first default route of each family. */
async function byDefaultRoute(scene: Scene): Promise<Candidate> {
  let found: { link: Link; family: IpFamily } | undefined;
  for (const family of scene.families) {
    const route = await scene.query.defaultRoute(family, scene.signal);
    const details = { family, route: route ?? null };
    const name = familyName[family];
    if (route === undefined) throw notFound(`unable to find a default ${name} route`, details);
    // Flannel gives up here too (multipath, unreachable, blackhole) rather than look further.
    if (route.device === undefined) {
      throw notFound(`found a default ${name} route (${route.type}) but could not determine its interface`, details);
    }
    const link = linkNamed(scene.links, route.device, details);
    if (found !== undefined && found.link.name !== link.name) {
      const other = `${familyName[found.family]} default route interface ${found.link.name}`;
      throw notFound(`the ${name} default route interface ${link.name} must be the same as the ${other}`, details);
    }
    found = { link, family };
  }
  return { link: found!.link, chosen: {} };
}

/** Completes a candidate: an address for every enabled family, the MTU, the advertised addresses. */
function complete(scene: Scene, candidate: Candidate, publicIps: AddressPerFamily): ExternalInterface {
  const { link } = candidate;
  const addresses: AddressPerFamily = {};
  for (const family of scene.families) {
    const address = candidate.chosen[family] ?? orderUsableAddresses(link.addresses, family)[0]?.ip;
    if (address === undefined) {
      throw invalid(`failed to find an ${familyName[family]} address for interface ${link.name}`, {
        interface: link.name,
        family,
      });
    }
    addresses[family] = address;
  }
  if (link.mtu === 0) {
    throw invalid(`failed to determine the MTU of interface ${link.name}`, { interface: link.name, mtu: 0 });
  }
  // A --public-ip(v6) is advertised even for a family that is not enabled, as Flannel does.
  const extAddr = publicIps[4] ?? addresses[4];
  const extV6Addr = publicIps[6] ?? addresses[6];
  return {
    name: link.name,
    index: link.index,
    mtu: link.mtu,
    ...(addresses[4] === undefined ? {} : { ifaceAddr: addresses[4] }),
    ...(addresses[6] === undefined ? {} : { ifaceV6Addr: addresses[6] }),
    ...(extAddr === undefined ? {} : { extAddr }),
    ...(extV6Addr === undefined ? {} : { extV6Addr }),
  };
}

const failedSelection = "Failed to find interface to use that matches the interfaces and/or regexes provided";

/**
 * Picks the external interface and the addresses to advertise (F:main.go, F:pkg/ipmatch/match.go).
 *
 * With none of --iface, --iface-regex, --iface-can-reach: the interface holding --public-ip
 * (--public-ipv6 when only IPv6 is enabled; both, on one interface, when both are given), else
 * the default route's. Otherwise each --iface value, then each --iface-regex, then
 * --iface-can-reach is tried in order; the first that yields a usable interface wins, and a
 * failure is logged and remembered and the next one tried.
 */
export async function selectExternalInterface(
  request: InterfaceSelectionRequest,
  query: LinkQuery,
  options: InterfaceSelectionOptions = {},
): Promise<ExternalInterface> {
  const { signal, log } = options;
  signal?.throwIfAborted();
  const families = ([4, 6] as const).filter((f) => (f === 4 ? request.enableIPv4 : request.enableIPv6));
  if (families.length === 0) {
    throw new FlannelError("netconf-invalid", "neither IPv4 nor IPv6 is enabled in the network configuration", {
      details: { enableIPv4: false, enableIPv6: false },
    });
  }
  const publicIps: AddressPerFamily = {};
  for (const [family, value] of [[4, request.publicIp], [6, request.publicIpv6]] as const) {
    const ip = parsePublicIp(family, value);
    if (ip !== undefined) publicIps[family] = ip;
  }
  const scene: Scene = { links: await query.listLinks(signal), families, query, signal };

  const use = (candidate: Candidate): ExternalInterface => {
    const result = complete(scene, candidate, publicIps);
    const show = (ip: IpAddress | undefined): string | undefined => (ip === undefined ? undefined : formatIp(ip));
    log?.info("using external interface", {
      interface: result.name,
      mtu: result.mtu,
      ifaceAddr: show(result.ifaceAddr),
      ifaceV6Addr: show(result.ifaceV6Addr),
      extAddr: show(result.extAddr),
      extV6Addr: show(result.extV6Addr),
    });
    return result;
  };

  if (request.iface.length === 0 && request.ifaceRegex.length === 0 && request.ifaceCanReach === "") {
    return use(byPublicIp(scene, publicIps) ?? (await byDefaultRoute(scene)));
  }

  const canReach = request.ifaceCanReach;
  const rules: Array<{ flag: string; value: string; pick: () => Candidate | Promise<Candidate> }> = [
    ...request.iface.map((value) => ({ flag: "--iface", value, pick: () => byIface(scene, value) })),
    ...request.ifaceRegex.map((value) => ({ flag: "--iface-regex", value, pick: () => byRegex(scene, value) })),
    ...(canReach === "" ? [] : [{ flag: "--iface-can-reach", value: canReach, pick: () => byRoute(scene, canReach) }]),
  ];
  const tried: Attempt[] = [];
  for (const { flag, value, pick } of rules) {
    try {
      return use(await pick());
    } catch (error) {
      if (!isFlannelError(error, "interface-not-found") && !isFlannelError(error, "interface-invalid")) throw error;
      tried.push({ flag, value, reason: error.message });
      log?.info("could not find a valid interface matching", { flag, value, reason: error.message });
    }
  }
  const available = scene.links.map((link) => ({ name: link.name, addresses: usableAddressTexts(link, families) }));
  const triedText = tried.map((t) => `${t.flag} ${t.value}: ${t.reason}`).join("; ");
  const availableText = available.map((a) => `${a.name}:[${a.addresses.join(" ")}]`).join(", ");
  const message = `${failedSelection} (tried ${triedText}; available interfaces: ${availableText})`;
  throw notFound(message, { tried, available });
}
