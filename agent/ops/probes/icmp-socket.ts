// The probes' transport: raw ICMP sockets from raw-socket, the one file that imports it. Loaded
// by dynamic import (start.ts) only when probes are on, so an agent without them never loads the
// addon. raw-socket polls its descriptor with uv_poll on libuv's default loop: it must live on
// the main thread. The IPv4 socket is opened at once, so that a missing CAP_NET_RAW (flanneld
// normally has it: it programs the kernel) fails the start with a FlannelError instead of every
// probe; the IPv6 one when the first IPv6 probe is sent (an IPv4-only cluster never opens it, and
// a host without IPv6 fails only those probes).
import rawSocket from "raw-socket";
import { FlannelError } from "../../../backends/errors.ts";
import type { IpFamily } from "../../../backends/net/ip.ts";
import type { ProbeTransport, ReceiveListener } from "./prober.ts";
import "./probe-errors.ts";

type RawSocket = ReturnType<typeof rawSocket.createSocket>;

export function openIcmpTransport(receive: ReceiveListener): ProbeTransport {
  const sockets = new Map<IpFamily, RawSocket>();
  let closed = false;

  const socketFor = (family: IpFamily): RawSocket => {
    const existing = sockets.get(family);
    if (existing !== undefined) return existing;
    let socket: RawSocket;
    try {
      socket = rawSocket.createSocket({
        addressFamily: family === 4 ? rawSocket.AddressFamily.IPv4 : rawSocket.AddressFamily.IPv6,
        protocol: family === 4 ? rawSocket.Protocol.ICMP : rawSocket.Protocol.ICMPv6,
      });
    } catch (error) {
      throw new FlannelError("probe-socket-failed", `cannot open a raw ICMPv${family === 4 ? 4 : 6} socket for the peer probes: ${String(error)}`, {
        cause: error,
        details: { family },
      });
    }
    socket.on("message", (packet: Buffer, source: string) => receive(family, source, packet));
    // A receive error closes the socket (raw-socket's own behaviour); the next send opens another.
    socket.on("error", () => {
      if (sockets.get(family) === socket) sockets.delete(family);
    });
    sockets.set(family, socket);
    return socket;
  };

  socketFor(4);
  return {
    send(family, address, message, done) {
      if (closed) return done(new Error("the probe transport is closed"));
      let socket: RawSocket;
      try {
        socket = socketFor(family);
      } catch (error) {
        return done(error as Error);
      }
      socket.send(message, 0, message.length, address, (error: Error | null) => done(error ?? undefined));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of sockets.values()) socket.close();
      sockets.clear();
    },
  };
}
