// Addresses and CIDRs for both families, written once and parameterised by family.
//
// Parsing and printing go through ipaddr.js (a kept library); arithmetic is done on bigint so
// that IPv4 and IPv6 share every function. Parsing is as strict as Go's net.ParseIP /
// net.ParseCIDR, because Flannel's configuration and lease keys are parsed with those and a
// value Flannel rejects must be rejected here too (dotted-decimal IPv4 only, no leading zeros,
// no zone suffix; an IPv4-mapped IPv6 address is an IPv4 address, as Go's To4() makes it).
import ipaddr from "ipaddr.js";

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A network: `address` always has its host bits cleared. */
export interface Cidr {
  readonly family: IpFamily;
  readonly address: bigint;
  readonly prefix: number;
}

export const addressBits: Readonly<Record<IpFamily, number>> = { 4: 32, 6: 128 };

const ipv4MappedPrefix = 0xffffn << 32n;

function bytesToBigint(bytes: readonly number[]): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function bigintToBytes(value: bigint, count: number): number[] {
  const bytes = new Array<number>(count);
  for (let i = count - 1; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

const decimalOctet = "(0|[1-9]\\d{0,2})";
const dottedQuad = new RegExp(`^${decimalOctet}\\.${decimalOctet}\\.${decimalOctet}\\.${decimalOctet}$`);

// Every reconcile parses and prints the same few thousand addresses again (each dump of routes,
// neighbours and FDB entries, each desired entry's key): remembering the answers saves the work
// and, above all, the garbage. Bounded: emptied when full, so a churning cluster cannot grow it.
const memoLimit = 65_536;
const parsedIps = new Map<string, IpAddress | undefined>();
const formattedIps = new Map<bigint, string>();
const formattedIpv6s = new Map<bigint, string>();

function remember<K, V>(memo: Map<K, V>, key: K, value: V): V {
  if (memo.size >= memoLimit) memo.clear();
  memo.set(key, value);
  return value;
}

/** Parses an address the way Go's net.ParseIP does; undefined when it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const known = parsedIps.get(text);
  if (known !== undefined || parsedIps.has(text)) return known;
  return remember(parsedIps, text, parseIpText(text));
}

function parseIpText(text: string): IpAddress | undefined {
  // Dotted-decimal IPv4 without leading zeros (what Go accepts), read without ipaddr.js: the
  // backends parse every address of a route, neighbour and FDB dump on each reconcile.
  const quad = dottedQuad.exec(text);
  if (quad !== null) {
    const [a, b, c, d] = [Number(quad[1]), Number(quad[2]), Number(quad[3]), Number(quad[4])];
    if (a > 255 || b > 255 || c > 255 || d > 255) return undefined;
    return { family: 4, value: BigInt(((a << 24) | (b << 16) | (c << 8) | d) >>> 0) };
  }
  if (!text.includes(":")) return undefined;
  if (text.includes("%") || !ipaddr.IPv6.isValid(text)) return undefined;
  // ipaddr accepts a trailing dotted quad with leading zeros; Go does not.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined && !ipaddr.IPv4.isValidFourPartDecimal(dotted[1])) return undefined;
  const value = bytesToBigint(ipaddr.IPv6.parse(text).toByteArray());
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

export function parseIpOfFamily(text: string, family: IpFamily): IpAddress | undefined {
  const ip = parseIp(text);
  return ip?.family === family ? ip : undefined;
}

export function formatIp(ip: IpAddress): string {
  const memo = ip.family === 4 ? formattedIps : formattedIpv6s;
  return memo.get(ip.value) ?? remember(memo, ip.value, formatIpValue(ip));
}

function formatIpValue(ip: IpAddress): string {
  if (ip.family === 4) {
    const n = Number(ip.value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  return ipaddr.fromByteArray(bigintToBytes(ip.value, 16)).toString();
}

export function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(addressBits[family] - prefix)) - 1n;
}

/**
 * Parses `addr/prefix` the way Go's net.ParseCIDR does and returns the masked network
 * (`10.244.3.7/16` → `10.244.0.0/16`), or undefined when the text is not a CIDR.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const addressText = text.slice(0, slash);
  const ip = parseIp(addressText);
  if (ip === undefined) return undefined;
  // Go gives an IPv4-mapped address an IPv6 mask (::ffff:10.0.0.0/104); we only accept the
  // plain forms, where the mask length matches the written family.
  const writtenFamily: IpFamily = addressText.includes(":") ? 6 : 4;
  if (writtenFamily !== ip.family || prefix > addressBits[ip.family]) return undefined;
  return { family: ip.family, address: ip.value & ~hostMask(ip.family, prefix), prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidrIp(cidr))}/${cidr.prefix}`;
}

/** The network address of a CIDR as an IpAddress. */
export function cidrIp(cidr: Cidr): IpAddress {
  return { family: cidr.family, value: cidr.address };
}

export function makeCidr(ip: IpAddress, prefix: number): Cidr {
  return { family: ip.family, address: ip.value & ~hostMask(ip.family, prefix), prefix };
}

/** Number of addresses in a block of this prefix length (2^(bits-prefix)). */
export function blockSize(family: IpFamily, prefix: number): bigint {
  return 1n << BigInt(addressBits[family] - prefix);
}

export function lastAddress(cidr: Cidr): IpAddress {
  return { family: cidr.family, value: cidr.address | hostMask(cidr.family, cidr.prefix) };
}

export function offsetIp(ip: IpAddress, offset: bigint): IpAddress {
  return { family: ip.family, value: ip.value + offset };
}

export function cidrContainsIp(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && (ip.value & ~hostMask(cidr.family, cidr.prefix)) === cidr.address;
}

export function isAligned(ip: IpAddress, prefix: number): boolean {
  return (ip.value & hostMask(ip.family, prefix)) === 0n;
}

export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

// Address classes as Go's net.IP defines them; Flannel picks interface addresses with these.
const ipv4LinkLocal = parseCidr("169.254.0.0/16")!;
const ipv6LinkLocal = parseCidr("fe80::/10")!;
const ipv4Loopback = parseCidr("127.0.0.0/8")!;
const ipv4Multicast = parseCidr("224.0.0.0/4")!;
const ipv6Multicast = parseCidr("ff00::/8")!;

export function isLinkLocalUnicast(ip: IpAddress): boolean {
  return cidrContainsIp(ip.family === 4 ? ipv4LinkLocal : ipv6LinkLocal, ip);
}

export function isGlobalUnicast(ip: IpAddress): boolean {
  if (ip.value === 0n) return false;
  if (ip.family === 4) {
    if (ip.value === 0xffffffffn) return false;
    if (cidrContainsIp(ipv4Loopback, ip) || cidrContainsIp(ipv4Multicast, ip)) return false;
  } else {
    if (ip.value === 1n || cidrContainsIp(ipv6Multicast, ip)) return false;
    if (ip.value >> 32n === ipv4MappedPrefix >> 32n) return false;
  }
  return !isLinkLocalUnicast(ip);
}
