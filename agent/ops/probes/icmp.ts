// ICMP echo messages for the peer probes, built and read here as plain bytes (no socket, no
// library): requests for IPv4 (type 8) and IPv6 (type 128), and the matching of what a raw socket
// hands back. A raw ICMP socket receives every ICMP message the namespace receives — replies to
// other programs' pings, errors, neighbour discovery — so a reply counts only when it is an echo
// reply carrying our identifier, our marker and a sequence number we are waiting for; the prober
// then checks that it came from the address that sequence was sent to.
import type { IpFamily } from "../../../backends/net/ip.ts";

const echoRequest: Readonly<Record<IpFamily, number>> = { 4: 8, 6: 128 };
const echoReply: Readonly<Record<IpFamily, number>> = { 4: 0, 6: 129 };

/** Our payload starts with this, so a reply to another program using the same identifier is not ours. */
const marker = Buffer.from("flannel-ts-probe", "latin1");
/** ICMP header (8 bytes) + marker. */
export const echoLength = 8 + marker.length;

/** RFC 1071 Internet checksum of `bytes`. */
export function internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * An echo request. IPv4: the checksum is ours to write. IPv6: the checksum covers a
 * pseudo-header with the source address the kernel picks, so Linux fills it in for every raw
 * ICMPv6 socket (RFC 3542 §3.1); it is left zero here.
 */
export function buildEchoRequest(family: IpFamily, identifier: number, sequence: number): Buffer {
  const message = Buffer.alloc(echoLength);
  message[0] = echoRequest[family];
  message[1] = 0;
  message.writeUInt16BE(identifier & 0xffff, 4);
  message.writeUInt16BE(sequence & 0xffff, 6);
  marker.copy(message, 8);
  if (family === 4) message.writeUInt16BE(internetChecksum(message), 2);
  return message;
}

export interface EchoReply {
  readonly identifier: number;
  readonly sequence: number;
}

/**
 * The echo reply in what a raw socket received, or undefined when it is anything else. IPv4 raw
 * sockets deliver the IP header too (its length is in the first byte); IPv6 ones deliver the
 * ICMPv6 message alone.
 */
export function parseEchoReply(family: IpFamily, packet: Uint8Array): EchoReply | undefined {
  let offset = 0;
  if (family === 4) {
    if (packet.length < 20 || packet[0]! >> 4 !== 4 || packet[9] !== 1) return undefined;
    offset = (packet[0]! & 0x0f) * 4;
  }
  if (packet.length < offset + echoLength) return undefined;
  if (packet[offset] !== echoReply[family] || packet[offset + 1] !== 0) return undefined;
  const body = Buffer.from(packet.buffer, packet.byteOffset + offset, echoLength);
  if (!body.subarray(8).equals(marker)) return undefined;
  return { identifier: body.readUInt16BE(4), sequence: body.readUInt16BE(6) };
}
