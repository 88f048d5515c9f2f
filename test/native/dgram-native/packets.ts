// Packets the addon tests put on the wire by hand: IPv4 packets for Flannel's UDP payload, and
// whole IPv4/UDP datagrams with a forged outer source, sent through raw-socket (IP_HDRINCL).
// The only file of the tests that loads raw-socket.
import { createRequire } from "node:module";

function checksum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += bytes.readUInt16BE(i);
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

export interface Ipv4PacketOptions {
  readonly source: string;
  readonly destination: string;
  readonly protocol?: number;
  readonly ttl?: number;
  readonly payload: Buffer;
}

/** An IPv4 packet with a valid header checksum (the payload is taken as it is). */
export function ipv4Packet(options: Ipv4PacketOptions): Buffer {
  const header = Buffer.alloc(20);
  header[0] = 0x45;
  header.writeUInt16BE(20 + options.payload.length, 2);
  header.writeUInt16BE(0x4000, 6); // DF
  header[8] = options.ttl ?? 64;
  header[9] = options.protocol ?? 17;
  ipv4Bytes(options.source).copy(header, 12);
  ipv4Bytes(options.destination).copy(header, 16);
  header.writeUInt16BE(checksum(header), 10);
  return Buffer.concat([header, options.payload]);
}

/** An IPv4/UDP packet (UDP checksum 0: none, which IPv4 allows). */
export function udpPacket(source: string, sourcePort: number, destination: string, destinationPort: number, payload: Buffer, ttl = 64): Buffer {
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sourcePort, 0);
  udp.writeUInt16BE(destinationPort, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return ipv4Packet({ source, destination, protocol: 17, ttl, payload: Buffer.concat([udp, payload]) });
}

interface RawSocket {
  send(buffer: Buffer, offset: number, length: number, address: string, before: (() => void) | null, after: (error: Error | null, bytes: number) => void): void;
  on(event: "message", listener: (buffer: Buffer, source: string) => void): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(options: { protocol: number }): RawSocket;
}

function rawSocketModule(): RawSocketModule {
  return createRequire(import.meta.url)("raw-socket") as RawSocketModule;
}

/** Sends a whole IPv4 packet as written (protocol 255, IPPROTO_RAW, implies IP_HDRINCL): the outer source can be anything. */
export async function sendForged(packet: Buffer, destination: string): Promise<void> {
  const socket = rawSocketModule().createSocket({ protocol: 255 });
  try {
    await new Promise<void>((resolve, reject) => socket.send(packet, 0, packet.length, destination, null, (error) => (error ? reject(error) : resolve())));
  } finally {
    socket.close();
  }
}

export interface IcmpSeen {
  readonly type: number;
  readonly code: number;
  readonly from: string;
}

/** Collects the ICMP messages this namespace receives (a raw ICMP socket sees a copy of each). */
export function listenIcmp(): { seen: IcmpSeen[]; close(): void } {
  const socket = rawSocketModule().createSocket({ protocol: 1 });
  const seen: IcmpSeen[] = [];
  socket.on("message", (buffer, from) => {
    const headerLength = (buffer[0]! & 0x0f) * 4;
    seen.push({ type: buffer[headerLength]!, code: buffer[headerLength + 1]!, from });
  });
  return { seen, close: () => socket.close() };
}
