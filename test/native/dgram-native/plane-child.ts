// A process that lives inside one test namespace (started with `ip netns exec NS node …`: a TUN
// device belongs to the namespace of the process that opens it) and does what the test asks
// there, one JSON request per stdin line, one JSON answer per stdout line: open a data plane,
// set its peers, read counters, send and receive traffic, report its own fds and threads.
import { createHash } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { readdirSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { createInterface } from "node:readline";
import { isFlannelError } from "../../../backends/errors.ts";
import { openDataPlane, type DataPlane, type DataPlaneOptions, type PeerEntry } from "../../../backends/udp/dgram-native.ts";
import { listenIcmp, sendForged, type IcmpSeen } from "./packets.ts";

type Request = { id: number; op: string } & Record<string, unknown>;

let plane: DataPlane | undefined;
const sinks = new Map<number, { socket: Socket; datagrams: number; bytes: number }>();
const tcpResults = new Map<number, Promise<{ bytes: number; sha256: string }>>();
const servers: Server[] = [];
let icmp: { seen: IcmpSeen[]; close(): void } | undefined;

function resources(): { fds: number; threads: number } {
  return { fds: readdirSync("/proc/self/fd").length, threads: readdirSync("/proc/self/task").length };
}

/** CPU time this process has used, in milliseconds. */
function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Deterministic bytes, so both ends can agree on a digest. */
function pattern(size: number, seed: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buffer.writeUInt32LE(x >>> 0, i);
  }
  buffer.fill(7, size - (size % 4));
  return buffer;
}

const handlers: Record<string, (request: Request) => Promise<unknown> | unknown> = {
  open: (request) => {
    plane = openDataPlane(request.options as DataPlaneOptions);
    return plane.features;
  },
  setPeers: (request) => plane?.setPeers(request.peers as PeerEntry[]),
  counters: () => plane?.counters(),
  close: async () => {
    await plane?.close();
    plane = undefined;
  },
  resources,
  cpuMs,
  cycles: async (request) => {
    for (let i = 0; i < (request.count as number); i++) {
      const cycle = openDataPlane(request.options as DataPlaneOptions);
      cycle.setPeers([{ subnet: "10.244.9.0/24", publicIP: "198.18.0.9" }]);
      await cycle.close();
    }
    return resources();
  },
  udpSink: (request) =>
    new Promise<void>((resolve) => {
      const socket = createSocket({ type: "udp4", recvBufferSize: 16 << 20 });
      const sink = { socket, datagrams: 0, bytes: 0 };
      socket.on("message", (message) => {
        sink.datagrams += 1;
        sink.bytes += message.length;
      });
      sinks.set(request.port as number, sink);
      socket.bind(request.port as number, request.address as string, () => resolve());
    }),
  sinkStats: (request) => {
    const sink = sinks.get(request.port as number);
    return { datagrams: sink?.datagrams ?? 0, bytes: sink?.bytes ?? 0 };
  },
  udpBurst: (request) =>
    new Promise<number>((resolve, reject) => {
      const socket = createSocket({ type: "udp4", sendBufferSize: 16 << 20 });
      const count = request.count as number;
      const payload = request.payloadHex === undefined ? Buffer.alloc(request.size as number, 0x5a) : Buffer.from(request.payloadHex as string, "hex");
      let done = 0;
      socket.bind(0, (request.from as string | undefined) ?? "0.0.0.0", () => {
        for (let i = 0; i < count; i++)
          socket.send(payload, request.port as number, request.to as string, (error) => {
            if (error) return reject(error);
            if (++done === count) socket.close(() => resolve(done));
          });
      });
    }),
  tcpServer: (request) =>
    new Promise<void>((resolve) => {
      const port = request.port as number;
      const server = createServer((connection) => {
        const hash = createHash("sha256");
        let bytes = 0;
        tcpResults.set(
          port,
          new Promise((done) => {
            connection.on("data", (chunk: Buffer) => {
              hash.update(chunk);
              bytes += chunk.length;
            });
            connection.on("end", () => {
              connection.end();
              done({ bytes, sha256: hash.digest("hex") });
            });
          }),
        );
      });
      servers.push(server);
      server.listen(port, request.address as string, () => resolve());
    }),
  tcpResult: (request) => tcpResults.get(request.port as number),
  tcpSend: (request) =>
    new Promise((resolve, reject) => {
      const total = request.bytes as number;
      const chunk = pattern(1 << 20, request.seed as number);
      const hash = createHash("sha256");
      const started = performance.now();
      const socket = connect({ host: request.to as string, port: request.port as number }, () => {
        let sent = 0;
        const write = (): void => {
          while (sent < total) {
            const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
            hash.update(piece);
            sent += piece.length;
            if (!socket.write(piece)) return void socket.once("drain", write);
          }
          socket.end();
        };
        write();
      });
      socket.on("error", reject);
      socket.on("close", () => resolve({ bytes: total, sha256: hash.digest("hex"), ms: performance.now() - started }));
      socket.resume();
    }),
  forge: async (request) => sendForged(Buffer.from(request.packetHex as string, "hex"), request.to as string),
  icmpListen: () => {
    icmp ??= listenIcmp();
  },
  icmpSeen: () => icmp?.seen ?? [],
};

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const request = JSON.parse(line) as Request;
  try {
    const handler = handlers[request.op];
    if (handler === undefined) throw new Error(`unknown op ${request.op}`);
    const result = await handler(request);
    process.stdout.write(`${JSON.stringify({ id: request.id, ok: true, result: result ?? null })}\n`);
  } catch (error) {
    const e = error as Error;
    const failure = isFlannelError(error) ? { name: e.name, code: error.code, details: error.details, message: e.message } : { name: e.name, message: e.message };
    process.stdout.write(`${JSON.stringify({ id: request.id, ok: false, error: failure })}\n`);
  }
});
lines.on("close", async () => {
  await plane?.close();
  for (const sink of sinks.values()) sink.socket.close();
  for (const server of servers) server.close();
  icmp?.close();
  process.exit(0);
});
