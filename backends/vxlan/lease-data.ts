// The vxlan part of a lease: BackendData (and BackendV6Data) = {"VNI":<vni>,"VtepMAC":"<mac>"}
// (F:pkg/backend/vxlan/vxlan.go vxlanLeaseAttrs). Peers read it back with the same
// case-insensitive decoding Flannel's json.Unmarshal gives; the MAC parses like Go's
// net.ParseMAC (48-bit forms).
import { parseMac, type MacAddress } from "../kernel/mac.ts";
import { weakMemo } from "../reconcile/weak-memo.ts";
import { decodeGoFields } from "./go-fields.ts";

/** What this node advertises; key order as Flannel marshals it. */
export interface VxlanLeaseData {
  readonly VNI: number;
  readonly VtepMAC: string;
}

export function vxlanLeaseData(vni: number, mac: MacAddress): VxlanLeaseData {
  return { VNI: vni, VtepMAC: mac };
}

export type ParsedVtep = { readonly ok: true; readonly mac: MacAddress } | { readonly ok: false; readonly reason: string };

const parseVtepMacOfObject = weakMemo((data: object) => parseVtepMacOnce(data));

/** A peer's VTEP MAC from its backend data, or why it cannot be used. */
export function parseVtepMac(data: unknown): ParsedVtep {
  return typeof data === "object" && data !== null ? parseVtepMacOfObject(data) : parseVtepMacOnce(data);
}

function parseVtepMacOnce(data: unknown): ParsedVtep {
  if (data === undefined || data === null) return { ok: false, reason: "its lease has no vxlan backend data" };
  const decoded = decodeGoFields(data, { VNI: "int", VtepMAC: "string" } as const);
  if (!decoded.ok) return { ok: false, reason: `its vxlan backend data does not decode: ${decoded.reason}` };
  const text = decoded.values.VtepMAC;
  if (text === undefined) return { ok: false, reason: "its vxlan backend data has no VtepMAC" };
  const mac = parseMac(text);
  if (mac === undefined) return { ok: false, reason: `its VtepMAC ${JSON.stringify(text)} is not a MAC address` };
  // An all-zero or multicast MAC would turn the peer's FDB entry into a flooding entry.
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if (mac === "00:00:00:00:00:00" || (first & 1) === 1) return { ok: false, reason: `its VtepMAC ${mac} is not a unicast MAC address` };
  return { ok: true, mac };
}
