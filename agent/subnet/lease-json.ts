// The value of a lease key: Flannel's LeaseAttrs as Go's encoding/json writes and reads it
// (F:pkg/lease/lease.go LeaseAttrs, F:pkg/ip/ipnet.go IP4, F:pkg/ip/ip6net.go IP6). Flannel nodes
// read what we write and we read what they write, so encoding is byte for byte and decoding
// accepts and refuses what Go does. Pure: no I/O.
//
//   {"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}
import { FlannelError } from "../../backends/errors.ts";
import { formatIp, parseIp, type IpAddress, type IpFamily } from "../../backends/net/ip.ts";
import {
  decodeFields,
  jsonTypeName,
  keepField,
  objectMembers,
  type FieldDecoder,
  type JsonMember,
  type JsonValue,
} from "../config/json-fields.ts";
import type { LeaseAttrs } from "./manager.ts";

// ---- encoding ---------------------------------------------------------------------------------

const goOnlyEscapes: Readonly<Record<string, string>> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * JSON text as Go's json.Marshal produces it. JSON.stringify already escapes what Go escapes
 * (quote, backslash, \b \f \n \r \t, other control characters as lower-case \u00XX); Go also
 * escapes <, > and & (HTML-safe by default) and U+2028/U+2029, and it cannot hold a lone
 * surrogate: Node would send one as the UTF-8 of U+FFFD, so we write that. Go re-compacts a
 * RawMessage with the same escaping, so BackendData gets it too.
 */
function goJson(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new FlannelError("lease-invalid", `lease ${field} cannot be written as JSON: ${String(error)}`, { cause: error, details: { field } });
  }
  if (text === undefined) {
    throw new FlannelError("lease-invalid", `lease ${field} cannot be written as JSON (it is ${typeof value})`, { details: { field } });
  }
  return text
    .replace(/[<>&\u2028\u2029]/g, (c) => goOnlyEscapes[c] ?? c)
    .replace(/\\(?:u[0-9a-f]{4}|[^u])/g, (escape) => (/^\\ud[89a-f]/.test(escape) ? "\ufffd" : escape));
}

function ipOfFamily(ip: IpAddress, family: IpFamily, field: string): string {
  if (ip.family !== family) {
    throw new FlannelError("lease-invalid", `lease ${field} must be an IPv${family} address, got ${formatIp(ip)}`, {
      details: { field, value: formatIp(ip) },
    });
  }
  return formatIp(ip);
}

/**
 * The lease value exactly as Flannel's json.Marshal(LeaseAttrs) writes it: fields in struct
 * order; PublicIP always (IP4 has no omitempty); PublicIPv6 always, null when absent (a nil
 * *IP6); BackendType only when non-empty, BackendData / BackendV6Data only when present
 * (`json:",omitempty"`). A JS null in BackendData is written as null, like a Go RawMessage "null".
 */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const members = [
    `"PublicIP":"${ipOfFamily(attrs.publicIP, 4, "PublicIP")}"`,
    `"PublicIPv6":${attrs.publicIPv6 === undefined ? "null" : `"${ipOfFamily(attrs.publicIPv6, 6, "PublicIPv6")}"`}`,
  ];
  if (attrs.backendType !== "") members.push(`"BackendType":${goJson(attrs.backendType, "BackendType")}`);
  if (attrs.backendData !== undefined) members.push(`"BackendData":${goJson(attrs.backendData, "BackendData")}`);
  if (attrs.backendV6Data !== undefined) members.push(`"BackendV6Data":${goJson(attrs.backendV6Data, "BackendV6Data")}`);
  return `{${members.join(",")}}`;
}

// ---- decoding ---------------------------------------------------------------------------------

/** A problem with one field; decodeLeaseAttrs turns it into the one lease-invalid error shape. */
class FieldProblem extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/**
 * What Flannel's IP4/IP6 UnmarshalJSON parses: the raw JSON text with its quote characters
 * trimmed off both ends (bytes.Trim) and nothing unescaped, so `"10.0.0.\u0031"` fails there and
 * here. Non-strings fail too: no JSON number or literal is an IP address once trimmed.
 */
function rawIp(member: JsonMember, field: string, family: IpFamily): IpAddress {
  const text = member.raw.replace(/^"+|"+$/g, "");
  const ip = parseIp(text);
  if (ip === undefined) throw new FieldProblem(field, `${field} ${member.raw}: Invalid IP address format`);
  // Go: an IPv6 PublicIP makes IP4's FromIP panic, and an IPv4 PublicIPv6 is kept as its
  // IPv4-mapped form. Neither is a lease any Flannel writes; we refuse both.
  if (ip.family !== family) throw new FieldProblem(field, `${field} ${member.raw} is not an IPv${family} address`);
  return ip;
}

const leaseAttrsDecoders = {
  // IP4 is a value type with its own UnmarshalJSON, which Go calls even for null (and which fails).
  PublicIP: (member: JsonMember, field: string): IpAddress => rawIp(member, field, 4),
  // *IP6 is a pointer: null sets it to nil.
  PublicIPv6: (member: JsonMember, field: string): IpAddress | undefined => (member.value === null ? undefined : rawIp(member, field, 6)),
  // A Go string: null leaves it alone, any other non-string is an UnmarshalTypeError. Flannel
  // keeps the case as written (the vxlan backend compares it with "vxlan" exactly).
  BackendType: (member: JsonMember, field: string): string | typeof keepField => {
    if (member.value === null) return keepField;
    if (typeof member.value === "string") return member.value;
    throw new FieldProblem(field, `${field} must be a JSON string, got ${jsonTypeName(member.value)}`);
  },
  // json.RawMessage: any JSON value, null included (it becomes the raw text "null").
  BackendData: (member: JsonMember): unknown => member.value,
  BackendV6Data: (member: JsonMember): unknown => member.value,
} satisfies Readonly<Record<string, FieldDecoder<unknown>>>;

const zeroIPv4: IpAddress = { family: 4, value: 0n };

function excerpt(text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

function leaseInvalid(text: string, key: string | undefined, reason: string, cause?: unknown): FlannelError {
  const where = key === undefined ? "lease value" : `lease value of ${key}`;
  return new FlannelError("lease-invalid", `${where} is invalid: ${reason} (value: ${excerpt(text)})`, {
    cause,
    details: { key, value: text },
  });
}

/**
 * Reads a lease value as Flannel's json.Unmarshal into LeaseAttrs does: keys matched
 * case-insensitively (an exact match first), unknown keys ignored, the last duplicate winning,
 * absent fields left at their zero value (PublicIP 0.0.0.0, BackendType ""), a top-level null
 * decoding to all zero values. Throws FlannelError "lease-invalid" with details { key, value }.
 */
export function decodeLeaseAttrs(text: string, key?: string): LeaseAttrs {
  let members: JsonMember[] | undefined;
  try {
    members = objectMembers(text);
  } catch (error) {
    throw leaseInvalid(text, key, `not JSON: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (members === undefined) {
    const value = JSON.parse(text) as JsonValue;
    if (value !== null) throw leaseInvalid(text, key, `expected a JSON object, got ${jsonTypeName(value)}`);
    members = [];
  }
  let fields;
  try {
    fields = decodeFields(members, leaseAttrsDecoders);
  } catch (error) {
    if (!(error instanceof FieldProblem)) throw error;
    throw leaseInvalid(text, key, error.message, error);
  }
  return {
    publicIP: fields.PublicIP ?? zeroIPv4,
    ...(fields.PublicIPv6 === undefined ? {} : { publicIPv6: fields.PublicIPv6 }),
    backendType: fields.BackendType ?? "",
    ...(fields.BackendData === undefined ? {} : { backendData: fields.BackendData }),
    ...(fields.BackendV6Data === undefined ? {} : { backendV6Data: fields.BackendV6Data }),
  };
}
