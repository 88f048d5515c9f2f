// MAC addresses (48-bit) as Flannel writes them: lowercase, colon-separated, e.g. in the
// lease's VtepMAC and the kube annotation. A branded string, so that a normalised MAC compares
// with === and serves as a Map key in desired-vs-actual diffs.
import { randomBytes } from "node:crypto";

declare const macBrand: unique symbol;
export type MacAddress = string & { readonly [macBrand]: true };

const hex2 = (byte: number): string => byte.toString(16).padStart(2, "0");

export function formatMac(bytes: Uint8Array | readonly number[]): MacAddress {
  if (bytes.length !== 6 || Array.from(bytes).some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new RangeError(`a MAC address has 6 bytes, got ${bytes.length}`);
  }
  return Array.from(bytes, hex2).join(":") as MacAddress;
}

const canonicalMac = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/**
 * Parses the 48-bit forms Go's net.ParseMAC accepts (Flannel decodes VtepMAC with it):
 * `00:00:5e:00:53:01`, `00-00-5e-00-53-01` and `0000.5e00.5301`, in either case.
 */
export function parseMac(text: string): MacAddress | undefined {
  // The form `ip`, `bridge` and Flannel print is already normal: no need to take it apart.
  if (canonicalMac.test(text)) return text as MacAddress;
  let digits: string;
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(text)) digits = text.replace(/[:-]/g, "");
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(text)) digits = text.replace(/\./g, "");
  else return undefined;
  const bytes = Array.from({ length: 6 }, (_, i) => Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16));
  return formatMac(bytes);
}

export function macBytes(mac: MacAddress): Uint8Array {
  return Uint8Array.from(mac.split(":"), (part) => Number.parseInt(part, 16));
}

/**
 * A fresh VTEP MAC the way Flannel's pkg/mac makes one: six random bytes with the multicast
 * bit cleared and the locally-administered bit set, so it never collides with a vendor MAC.
 */
export function randomVtepMac(random: (size: number) => Uint8Array = randomBytes): MacAddress {
  const bytes = Uint8Array.from(random(6));
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return formatMac(bytes);
}
