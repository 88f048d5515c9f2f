// Helper process of the etcd benchmarks (convergence, soak, memory): it runs inside the lab's fabric
// namespace (the only place the lab's etcd at 198.18.0.254 is reachable from — the benchmark
// itself stays in the root namespace and never adds anything there) and writes leases.
//
//   ip netns exec <fabric> node test/bench/lease-writer.ts <endpoint>
// stdin, one JSON request per line: {"id":1,"put":[[key,value],…]} or {"id":2,"del":[key,…]};
//   "overMs": N spreads the request's writes evenly over N ms instead of sending them all at once
// stdout, one JSON reply per line:  {"id":1,"ms":12.3} or {"id":1,"error":"…"}
//
// Each key is its own request (its own revision, as every node writes its own lease), all of a
// batch in flight at once (or paced, overMs) over up to 128 keep-alive connections to etcd's JSON
// gateway (/v3/kv/put, /v3/kv/deleterange), with node:http. It used the agent's etcd client (etcd3 over gRPC) before:
// 5000 puts then cost this process 3.3 CPU-seconds (protobuf and promise chains under gRPC), a
// third of the 2-vCPU machine during the burst, taken from the agent being measured.
import { Agent, request } from "node:http";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";

interface WriteRequest {
  readonly id: number;
  readonly put?: ReadonlyArray<readonly [string, string]>;
  readonly del?: readonly string[];
  readonly overMs?: number;
}

const endpoint = process.argv[2];
if (endpoint === undefined) {
  process.stderr.write("usage: lease-writer.ts <etcd endpoint>\n");
  process.exit(2);
}
const base = new URL(endpoint);
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const b64 = (text: string): string => Buffer.from(text).toString("base64");

function call(path: string, body: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      { host: base.hostname, port: base.port, path, method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`etcd ${path}: HTTP ${res.statusCode}: ${text.trim()}`))));
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`etcd ${path}: no answer within 60 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

const put = (key: string, value: string): Promise<void> => call("/v3/kv/put", { key: b64(key), value: b64(value) });
const del = (key: string): Promise<void> => call("/v3/kv/deleterange", { key: b64(key) });

// The gateway answers before anything is asked of it: wait for it (etcd may still be starting).
for (let attempt = 0; ; attempt++) {
  try {
    await call("/v3/kv/range", { key: b64("/flannel-ts-bench/ready") });
    break;
  } catch (error) {
    if (attempt >= 50) throw error;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
process.stdout.write(`${JSON.stringify({ id: 0, ready: true })}\n`);
try {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === "") continue;
    const message = JSON.parse(line) as WriteRequest;
    const start = performance.now();
    try {
      const writes = [...(message.put ?? []).map(([key, value]) => () => put(key, value)), ...(message.del ?? []).map((key) => () => del(key))];
      const spacing = (message.overMs ?? 0) / Math.max(1, writes.length);
      await Promise.all(writes.map((write, index) => (spacing === 0 ? write() : sleep(Math.max(0, start + index * spacing - performance.now())).then(write))));
      process.stdout.write(`${JSON.stringify({ id: message.id, ms: performance.now() - start })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ id: message.id, error: String(error) })}\n`);
    }
  }
} finally {
  agent.destroy();
}
