// Hand-made flannel-udp datagrams for the negative tests, sent with raw-socket (IP_HDRINCL) so
// that the outer source address can be anything: a node that is no peer, or a peer's address
// carrying a packet from another peer's subnet. The outer packet is IPv4 + UDP to <node>:8285;
// its payload is an inner IPv4 + UDP packet (or any bytes). Not a test file.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "../../../deploy/lab/tools/command.ts";

const projectPackage = fileURLToPath(new URL("../../../package.json", import.meta.url));

/** Pass as `skip`: raw-socket (a dev dependency) is not installed. */
export const needsRawSocket: string | false = existsSync(fileURLToPath(new URL("../../../node_modules/raw-socket/package.json", import.meta.url)))
  ? false
  : "needs the npm package raw-socket (a dev dependency, installed by npm ci)";

function checksum(buffer: Buffer, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) sum += (buffer[i]! << 8) + (buffer[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4(text: string): number[] {
  return text.split(".").map(Number);
}

/** IPv4 header (TTL 64, no options, checksum set) + UDP header (checksum 0: none, valid for IPv4) + payload. */
export function ipv4UdpPacket(source: string, destination: string, sourcePort: number, destinationPort: number, payload: Buffer): Buffer {
  const packet = Buffer.alloc(28 + payload.length);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64;
  packet[9] = 17;
  Buffer.from(ipv4(source)).copy(packet, 12);
  Buffer.from(ipv4(destination)).copy(packet, 16);
  packet.writeUInt16BE(checksum(packet, 0, 20), 10);
  packet.writeUInt16BE(sourcePort, 20);
  packet.writeUInt16BE(destinationPort, 22);
  packet.writeUInt16BE(8 + payload.length, 24);
  payload.copy(packet, 28);
  return packet;
}

const sendScript = (requireFrom: string, destination: string, hex: string): string =>
  `const raw=require("node:module").createRequire(${JSON.stringify(requireFrom)})("raw-socket");` +
  `const s=raw.createSocket({addressFamily:raw.AddressFamily.IPv4,protocol:raw.Protocol.UDP});` +
  `s.setOption(raw.SocketLevel.IPPROTO_IP,raw.SocketOption.IP_HDRINCL,1);` +
  `const b=Buffer.from(${JSON.stringify(hex)},"hex");` +
  `s.send(b,0,b.length,${JSON.stringify(destination)},()=>{},(e,n)=>{if(e){console.error(e.message);process.exit(1)}console.log("SENT "+n);s.close();process.exit(0)});`;

/**
 * From inside `ns`, sends one flannel-udp datagram claiming to come from `outerSource`:8285 to
 * `node`:`port`, carrying `payload` (normally an inner IPv4 packet).
 */
export async function sendForgedDatagram(ns: string, outerSource: string, node: string, port: number, payload: Buffer): Promise<void> {
  const datagram = ipv4UdpPacket(outerSource, node, port, port, payload);
  const result = await run(["ip", "netns", "exec", ns, process.execPath, "-e", sendScript(projectPackage, node, datagram.toString("hex"))], { allowFailure: true, timeoutMs: 10_000 });
  if (result.code !== 0 || !result.stdout.includes("SENT")) throw new Error(`raw send from ${ns} failed: ${result.stdout}${result.stderr}`);
}
