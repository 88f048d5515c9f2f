// The part of raw-socket 1.8.1 (no type declarations of its own) that icmp-socket.ts uses.
declare module "raw-socket" {
  import type { EventEmitter } from "node:events";

  interface Socket extends EventEmitter {
    send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: (error: Error | null, bytes: number) => void): this;
    close(): this;
    on(event: "message", listener: (packet: Buffer, source: string) => void): this;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "close", listener: () => void): this;
  }

  interface RawSocketModule {
    readonly AddressFamily: { readonly IPv4: number; readonly IPv6: number };
    readonly Protocol: { readonly ICMP: number; readonly ICMPv6: number };
    createSocket(options: { addressFamily?: number; protocol?: number; bufferSize?: number }): Socket;
  }

  const rawSocket: RawSocketModule;
  export default rawSocket;
}
