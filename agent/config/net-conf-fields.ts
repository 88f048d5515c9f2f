// Flannel's Config fields (F:pkg/subnet/config.go): their names per family, how each one decodes
// from JSON (mirroring the Go type behind it), the Backend type rule, and the one shape of every
// net-conf.json error. net-conf.ts assembles a NetConf from these; net-conf-check.ts reuses the
// names and the error shape.
import { FlannelError } from "../../backends/errors.ts";
import { addressBits, parseCidr, parseIp, type Cidr, type IpAddress, type IpFamily } from "../../backends/net/ip.ts";
import {
  decodeFields,
  jsonTypeName,
  keepField,
  objectMembers,
  type FieldDecoder,
  type JsonMember,
  type JsonText,
} from "./json-fields.ts";

/** Flannel's field names for each family's settings. */
export const netConfFieldNames = {
  4: {
    enable: "EnableIPv4",
    network: "Network",
    subnetLen: "SubnetLen",
    subnetMin: "SubnetMin",
    subnetMax: "SubnetMax",
  },
  6: {
    enable: "EnableIPv6",
    network: "IPv6Network",
    subnetLen: "IPv6SubnetLen",
    subnetMin: "IPv6SubnetMin",
    subnetMax: "IPv6SubnetMax",
  },
} as const satisfies Record<IpFamily, Readonly<Record<string, string>>>;

export const exampleNetwork: Readonly<Record<IpFamily, string>> = { 4: "10.244.0.0/16", 6: "2001:cafe:42::/56" };

/** Flannel's largest SubnetLen (/30, /126): each node needs room for a tunnel and a bridge address. */
export function maxSubnetLen(family: IpFamily): number {
  return addressBits[family] - 2;
}

export interface NetConfProblem {
  /** Flannel's name for the field (a path inside Backend, "$" for the whole document). */
  readonly field: string;
  /** The offending value, for `details`; undefined when the field is absent. */
  readonly value: unknown;
  /** The value as the message shows it (the raw JSON text when parsing); defaults to `value`. */
  readonly shown?: string;
  /** Flannel's own error text where it has one. */
  readonly reason: string;
  readonly allowed: string;
}

/** The one shape of every net-conf.json error: which field, what it held, why, and what would do. */
export function netConfInvalid({ field, value, shown, reason, allowed }: NetConfProblem): FlannelError {
  const text = shown ?? (value === undefined ? "(absent)" : String(value));
  return new FlannelError("netconf-invalid", `net-conf.json: ${field} ${text} is invalid: ${reason} (allowed: ${allowed})`, {
    details: { field, value, allowed },
  });
}

export const exampleDocument = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';

export function excerpt(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

export function withArticle(type: string): string {
  return type === "null" ? "null" : `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

function memberInvalid(member: JsonMember, field: string, reason: string, allowed: string): FlannelError {
  return netConfInvalid({ field, value: member.value, shown: excerpt(member.raw), reason, allowed });
}

function wrongType(member: JsonMember, field: string, expected: string, allowed: string): FlannelError {
  return memberInvalid(member, field, `expected ${expected}, got ${withArticle(jsonTypeName(member.value))}`, allowed);
}

const decodeBoolean: FieldDecoder<boolean> = (member, field) => {
  if (member.value === null) return keepField; // Go: null into a bool changes nothing
  if (typeof member.value === "boolean") return member.value;
  throw wrongType(member, field, "a JSON boolean", "true or false");
};

const maxUint64 = (1n << 64n) - 1n;

function subnetLenDecoder(family: IpFamily): FieldDecoder<number> {
  const derivedFrom = netConfFieldNames[family].network;
  const allowed = `a whole number up to ${maxSubnetLen(family)}; 0 or absent derives it from ${derivedFrom}`;
  return (member, field) => {
    if (member.value === null) return keepField; // Go: null into a uint changes nothing
    if (typeof member.value !== "number") throw wrongType(member, field, "an unsigned integer", allowed);
    // Go decodes a uint from the number's digits: -1, 24.0 and 2.4e1 are all errors there.
    if (!/^\d+$/.test(member.raw) || BigInt(member.raw) > maxUint64) {
      throw memberInvalid(member, field, "expected an unsigned integer", allowed);
    }
    return Number(member.raw);
  };
}

// How Flannel's Go field types decode each family (F:pkg/ip/ipnet.go, F:pkg/ip/ip6net.go). The
// IPv4 types refuse IPv6 values; the IPv6 ones take either family (the check then finds an IPv4
// bound out of range). The IPv4 bounds are values, so even null reaches their UnmarshalJSON and
// fails; the IPv6 bounds are pointers, which null resets to nil ("absent").
const goFieldTypes = {
  4: { familyChecked: true, nullBoundIsAbsent: false },
  6: { familyChecked: false, nullBoundIsAbsent: true },
} as const satisfies Record<IpFamily, { familyChecked: boolean; nullBoundIsAbsent: boolean }>;

/**
 * The text Flannel's UnmarshalJSON parses: the raw value with its quotes trimmed and nothing
 * unescaped, so `"10.0.0.0\/8"` fails there and must fail here.
 */
function unquotedText(member: JsonMember, field: string, expected: string, allowed: string): string {
  if (typeof member.value !== "string") throw wrongType(member, field, `a JSON string holding ${expected}`, allowed);
  return member.raw.slice(1, -1);
}

function escapeHint(text: string): string {
  return text.includes("\\") ? " (Flannel reads the text as written: drop the escape sequences)" : "";
}

function networkDecoder(family: IpFamily): FieldDecoder<Cidr> {
  const expected = goFieldTypes[family].familyChecked ? `an IPv${family} CIDR` : "a CIDR";
  const allowed = `${expected} such as "${exampleNetwork[family]}"`;
  return (member, field) => {
    const text = unquotedText(member, field, expected, allowed);
    const cidr = parseCidr(text);
    if (cidr === undefined) {
      throw memberInvalid(member, field, `invalid CIDR address: ${text}${escapeHint(text)}`, allowed);
    }
    if (goFieldTypes[family].familyChecked && cidr.family !== family) {
      throw memberInvalid(member, field, `invalid IPv${family} CIDR format`, allowed);
    }
    return cidr;
  };
}

function subnetBoundDecoder(family: IpFamily): FieldDecoder<IpAddress | undefined> {
  const { familyChecked, nullBoundIsAbsent } = goFieldTypes[family];
  const expected = familyChecked ? `an IPv${family} address` : "an IP address";
  const allowed = `${expected} on a SubnetLen boundary inside ${netConfFieldNames[family].network}`;
  return (member, field) => {
    if (member.value === null && nullBoundIsAbsent) return undefined;
    const text = unquotedText(member, field, expected, allowed);
    const ip = parseIp(text);
    if (ip === undefined) {
      throw memberInvalid(member, field, `Invalid IP address format${escapeHint(text)}`, allowed);
    }
    if (familyChecked && ip.family !== family) {
      throw memberInvalid(member, field, `not an IPv${family} address`, allowed);
    }
    return ip;
  };
}

const decodeRawJson: FieldDecoder<JsonText> = (member) => ({ text: member.raw, value: member.value });

/** Flannel's Config struct: the fields it decodes, and how each one decodes. */
export const netConfDecoders = {
  EnableIPv4: decodeBoolean,
  EnableIPv6: decodeBoolean,
  EnableNFTables: decodeBoolean,
  Network: networkDecoder(4),
  IPv6Network: networkDecoder(6),
  SubnetLen: subnetLenDecoder(4),
  IPv6SubnetLen: subnetLenDecoder(6),
  SubnetMin: subnetBoundDecoder(4),
  SubnetMax: subnetBoundDecoder(4),
  IPv6SubnetMin: subnetBoundDecoder(6),
  IPv6SubnetMax: subnetBoundDecoder(6),
  Backend: decodeRawJson,
} satisfies Readonly<Record<string, FieldDecoder<unknown>>>;

const decodeBackendTypeField: FieldDecoder<string> = (member) => {
  if (member.value === null) return keepField;
  if (typeof member.value === "string") return member.value;
  throw wrongType(member, "Backend.Type", "a JSON string", 'a backend name such as "vxlan", "host-gw" or "udp"');
};

/** F:pkg/subnet/config.go parseBackendType, plus the lower-casing F:pkg/backend/manager.go applies. */
export function backendTypeOf(backend: JsonText | undefined): string {
  // DOC≠CODE: configuration.md says an absent Backend means vxlan; Flannel's code picks udp.
  if (backend === undefined) return "udp";
  const members = objectMembers(backend.text);
  if (members === undefined) {
    // Go decodes null into its { Type string } struct as a no-op, leaving Type "".
    if (backend.value === null) return "";
    const reason = `expected a JSON object, got ${withArticle(jsonTypeName(backend.value))}`;
    const allowed = 'an object such as {"Type":"vxlan"}';
    throw netConfInvalid({ field: "Backend", value: backend.value, shown: excerpt(backend.text), reason, allowed });
  }
  return (decodeFields(members, { Type: decodeBackendTypeField }).Type ?? "").toLowerCase();
}
