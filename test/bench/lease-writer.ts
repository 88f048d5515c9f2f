// Helper process of convergence.bench.ts: it runs inside the lab's fabric namespace (the only
// place the lab's etcd at 198.18.0.254 is reachable from — the benchmark itself stays in the root
// namespace and never adds anything there) and writes leases with the agent's own etcd client.
//
//   ip netns exec <fabric> node test/bench/lease-writer.ts <endpoint>
// stdin, one JSON request per line: {"id":1,"put":[[key,value],…]} or {"id":2,"del":[key,…]}
// stdout, one JSON reply per line:  {"id":1,"ms":12.3} or {"id":1,"error":"…"}
// All writes of one request are issued at once (concurrently on one connection).
import { createInterface } from "node:readline";
import { connectEtcdStore } from "../../agent/subnet/etcd/store.ts";

interface WriteRequest {
  readonly id: number;
  readonly put?: ReadonlyArray<readonly [string, string]>;
  readonly del?: readonly string[];
}

const endpoint = process.argv[2];
if (endpoint === undefined) {
  process.stderr.write("usage: lease-writer.ts <etcd endpoint>\n");
  process.exit(2);
}
const store = await connectEtcdStore({ endpoints: [endpoint], requestTimeoutMs: 30_000 });
process.stdout.write(`${JSON.stringify({ id: 0, ready: true })}\n`);
try {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === "") continue;
    const request = JSON.parse(line) as WriteRequest;
    const start = performance.now();
    try {
      const signal = AbortSignal.timeout(60_000);
      await Promise.all([
        ...(request.put ?? []).map(([key, value]) => store.put(key, value, 0n, signal)),
        ...(request.del ?? []).map((key) => store.delete(key, signal)),
      ]);
      process.stdout.write(`${JSON.stringify({ id: request.id, ms: performance.now() - start })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ id: request.id, error: String(error) })}\n`);
    }
  }
} finally {
  await store.close();
}
