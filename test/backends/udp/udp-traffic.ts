// Short transfers between two namespaces, checked byte for byte: a TCP stream of random bytes
// (its SHA-256 compared at both ends — large writes become TSO super-packets that the data plane
// segments, so corruption would show) and UDP datagrams of many sizes up to the path MTU (each
// compared). Small Node scripts run inside the namespaces; nothing listens outside them.
import { createHash, randomBytes } from "node:crypto";
import { spawnProcess, waitFor } from "../../support/process.ts";

const tcpServer = (port: number): string =>
  `const h=require("node:crypto").createHash("sha256");let n=0;` +
  `const srv=require("node:net").createServer((c)=>{c.on("data",(d)=>{h.update(d);n+=d.length});c.on("end",()=>{console.log("RECEIVED "+n+" "+h.digest("hex"));process.exit(0)})});` +
  `srv.listen(${port},()=>console.log("LISTENING"));setTimeout(()=>process.exit(2),30000);`;

const tcpClient = (host: string, port: number, bytes: number): string =>
  `const b=require("node:crypto").randomBytes(${bytes});const h=require("node:crypto").createHash("sha256").update(b).digest("hex");` +
  `const c=require("node:net").connect(${port},"${host}",()=>{c.end(b,()=>console.log("SENT "+b.length+" "+h))});c.on("error",(e)=>{console.error(e.message);process.exit(1)});`;

/** Sends `bytes` random bytes over TCP from `fromNs` to `host`:`port` in `toNs`; both ends' digests. */
export async function tcpTransfer(fromNs: string, toNs: string, host: string, port: number, bytes: number): Promise<{ sent: string; received: string }> {
  const server = spawnProcess([process.execPath, "-e", tcpServer(port)], { netns: toNs });
  try {
    await waitFor(() => server.output().includes("LISTENING"), { what: `TCP listener in ${toNs}`, timeoutMs: 10_000, process: server });
    const client = spawnProcess([process.execPath, "-e", tcpClient(host, port, bytes)], { netns: fromNs });
    const exit = await client.exited;
    if (exit.code !== 0) throw new Error(`TCP client failed: ${client.output()}`);
    const sent = /SENT (\S+ \S+)/.exec(client.output())?.[1] ?? "";
    await waitFor(() => server.output().includes("RECEIVED"), { what: "the whole stream at the receiver", timeoutMs: 20_000 });
    const received = /RECEIVED (\S+ \S+)/.exec(server.output())?.[1] ?? "";
    return { sent, received };
  } finally {
    await server.stop("SIGKILL");
  }
}

const udpServer = (port: number, count: number): string =>
  `const seen=new Set();const s=require("node:dgram").createSocket("udp4");` +
  `s.on("message",(m)=>{seen.add(require("node:crypto").createHash("sha256").update(m).digest("hex"));if(seen.size===${count})done()});` +
  `function done(){console.log("RECEIVED "+JSON.stringify([...seen]));process.exit(0)}` +
  `s.bind(${port},()=>console.log("LISTENING"));process.on("SIGTERM",done);setTimeout(done,20000);`;

// The payloads come on stdin (base64, one per line): too many bytes for a command line.
const udpClient = (host: string, port: number): string =>
  `let t="";process.stdin.setEncoding("utf8").on("data",(d)=>t+=d).on("end",()=>{` +
  `const s=require("node:dgram").createSocket("udp4");const p=t.split("\\n").filter(Boolean).map((x)=>Buffer.from(x,"base64"));let i=0;` +
  `const next=()=>{if(i===p.length){s.close();return}s.send(p[i++],${port},"${host}",()=>setTimeout(next,2))};next()});`;

/**
 * Sends `count` datagrams of sizes spread from 1 byte to `maxSize` from `fromNs` to `host`:`port`
 * in `toNs`; returns how many arrived intact (matched by digest) out of how many were sent.
 */
export async function udpTransfer(fromNs: string, toNs: string, host: string, port: number, count: number, maxSize: number): Promise<{ sent: number; intact: number }> {
  const payloads = Array.from({ length: count }, (_, i) => randomBytes(1 + Math.floor(((maxSize - 1) * i) / Math.max(1, count - 1))));
  const digests = new Set(payloads.map((payload) => createHash("sha256").update(payload).digest("hex")));
  const server = spawnProcess([process.execPath, "-e", udpServer(port, count)], { netns: toNs });
  try {
    await waitFor(() => server.output().includes("LISTENING"), { what: `UDP listener in ${toNs}`, timeoutMs: 10_000, process: server });
    const input = payloads.map((payload) => payload.toString("base64")).join("\n");
    const client = spawnProcess([process.execPath, "-e", udpClient(host, port)], { netns: fromNs, input });
    await client.exited;
    // Give the last datagrams time to arrive, then ask the receiver for what it has.
    await waitFor(() => server.output().includes("RECEIVED") || undefined, { what: "every datagram", timeoutMs: 3000 }).catch(() => server.stop("SIGTERM"));
    await server.exited;
    const received = JSON.parse(/RECEIVED (.*)/.exec(server.output())?.[1] ?? "[]") as string[];
    return { sent: count, intact: received.filter((digest) => digests.has(digest)).length };
  } finally {
    await server.stop("SIGKILL");
  }
}
