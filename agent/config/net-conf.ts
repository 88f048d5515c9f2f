// net-conf.json: the network configuration every node shares (the kube ConfigMap's
// `net-conf.json`, or etcd's `<prefix>/config`). This module owns its types, decoding it exactly
// as Flannel's ParseConfig does (F:pkg/subnet/config.go), and printing it for logs. The
// derivation and validation of subnet ranges (Flannel's CheckNetworkConfig) is a separate step
// in net-conf-check.ts, because Flannel's kube manager never runs it. Pure: no I/O.
import { FlannelError } from "../../backends/errors.ts";
import { formatCidr, formatIp, type Cidr, type IpAddress, type IpFamily } from "../../backends/net/ip.ts";
import {
  decodeFields,
  jsonTypeName,
  objectMembers,
  type JsonMember,
  type JsonText,
  type JsonValue,
} from "./json-fields.ts";
import {
  backendTypeOf,
  exampleDocument,
  exampleNetwork,
  excerpt,
  netConfDecoders,
  netConfFieldNames,
  netConfInvalid,
  withArticle,
} from "./net-conf-fields.ts";

/** One address family's part of net-conf.json, as written: nothing is derived yet. */
export interface FamilyNetConf {
  readonly family: IpFamily;
  readonly enabled: boolean;
  readonly network: Cidr | undefined;
  /** As written; 0 means "derive it", as in Flannel. */
  readonly subnetLen: number | undefined;
  readonly subnetMin: IpAddress | undefined;
  readonly subnetMax: IpAddress | undefined;
}

export interface NetConf {
  readonly ipv4: FamilyNetConf;
  readonly ipv6: FamilyNetConf;
  readonly enableNFTables: boolean;
  /** The `Backend` member exactly as written; each backend decodes its own options from it. */
  readonly backend: JsonText | undefined;
  /** Lower-cased `Backend.Type`; "udp" when `Backend` is absent, "" when it has no `Type`. */
  readonly backendType: string;
}

/** An enabled family after checkNetConf: every subnet-range value is present. */
export interface FamilySubnets extends FamilyNetConf {
  readonly enabled: true;
  readonly network: Cidr;
  readonly subnetLen: number;
  readonly subnetMin: IpAddress;
  readonly subnetMax: IpAddress;
}

export interface DisabledFamilyNetConf extends FamilyNetConf {
  readonly enabled: false;
}

export type CheckedFamilyNetConf = FamilySubnets | DisabledFamilyNetConf;

/** A NetConf that passed checkNetConf (etcd mode): narrow on `enabled` to reach the ranges. */
export interface CheckedNetConf extends NetConf {
  readonly ipv4: CheckedFamilyNetConf;
  readonly ipv6: CheckedFamilyNetConf;
}

export const ipFamilies: readonly IpFamily[] = [4, 6];

export function familyNetConf<C extends NetConf>(conf: C, family: IpFamily): C["ipv4" | "ipv6"] {
  return family === 4 ? conf.ipv4 : conf.ipv6;
}

function documentMembers(text: string): JsonMember[] {
  let members: JsonMember[] | undefined;
  try {
    members = objectMembers(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const message = `net-conf.json is not valid JSON: ${reason} (allowed: a JSON object such as ${exampleDocument})`;
    throw new FlannelError("netconf-invalid", message, {
      cause: error,
      details: { field: "$", value: excerpt(text) },
    });
  }
  if (members !== undefined) return members;
  const value = JSON.parse(text) as JsonValue;
  // Go decodes a top-level null into the Config as a no-op: every field keeps its default.
  if (value === null) return [];
  const reason = `expected a JSON object, got ${withArticle(jsonTypeName(value))}`;
  const message = `net-conf.json ${excerpt(text)} is invalid: ${reason} (allowed: a JSON object such as ${exampleDocument})`;
  throw new FlannelError("netconf-invalid", message, { details: { field: "$", value } });
}

/**
 * Decodes net-conf.json as Flannel's ParseConfig does: keys case-insensitive, unknown keys
 * ignored, wrong JSON types rejected, CIDRs stored masked, nothing derived. Throws FlannelError
 * "netconf-invalid" whose details name the field and its value.
 */
export function parseNetConf(text: string): NetConf {
  const decoded = decodeFields(documentMembers(text), netConfDecoders);
  const family = (f: IpFamily): FamilyNetConf => {
    const names = netConfFieldNames[f];
    return {
      family: f,
      enabled: decoded[names.enable] ?? f === 4, // F: ParseConfig turns IPv4 on before decoding
      network: decoded[names.network],
      subnetLen: decoded[names.subnetLen],
      subnetMin: decoded[names.subnetMin],
      subnetMax: decoded[names.subnetMax],
    };
  };
  const conf: NetConf = {
    ipv4: family(4),
    ipv6: family(6),
    enableNFTables: decoded.EnableNFTables ?? false,
    backend: decoded.Backend,
    backendType: backendTypeOf(decoded.Backend),
  };
  for (const f of ipFamilies) {
    const { enabled, network } = familyNetConf(conf, f);
    // Deviation: Flannel accepts an IPv4 CIDR as IPv6Network and then computes nonsense from its
    // IPv4-mapped form; once the family is enabled we refuse it instead, in both modes.
    if (enabled && network !== undefined && network.family !== f) {
      const field = netConfFieldNames[f].network;
      const reason = `${field} must be an IPv${f} CIDR when ${netConfFieldNames[f].enable} is true`;
      const allowed = `an IPv${f} CIDR such as "${exampleNetwork[f]}"`;
      throw netConfInvalid({ field, value: formatCidr(network), reason, allowed });
    }
  }
  return conf;
}

/** The configuration with Flannel's field names, as plain JSON, for logs. */
export function netConfJson(conf: NetConf): Record<string, JsonValue> {
  const json: Record<string, JsonValue> = {};
  for (const f of ipFamilies) json[netConfFieldNames[f].enable] = familyNetConf(conf, f).enabled;
  json.EnableNFTables = conf.enableNFTables;
  for (const f of ipFamilies) {
    const settings = familyNetConf(conf, f);
    const names = netConfFieldNames[f];
    if (settings.network !== undefined) json[names.network] = formatCidr(settings.network);
    if (settings.subnetLen !== undefined) json[names.subnetLen] = settings.subnetLen;
    if (settings.subnetMin !== undefined) json[names.subnetMin] = formatIp(settings.subnetMin);
    if (settings.subnetMax !== undefined) json[names.subnetMax] = formatIp(settings.subnetMax);
  }
  if (conf.backend !== undefined) json.Backend = conf.backend.value;
  // Not read back by parseNetConf (Flannel's field is `json:"-"` too); it makes the udp default visible.
  json.BackendType = conf.backendType;
  return json;
}

/** One line of JSON, e.g. after checkNetConf: `{"EnableIPv4":true,…,"Network":"10.3.0.0/16","SubnetLen":24,…}`. */
export function formatNetConf(conf: NetConf): string {
  return JSON.stringify(netConfJson(conf));
}
