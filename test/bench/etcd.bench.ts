// `npm run bench -- etcd`: the etcd subnet manager against a real etcd on loopback.
//   - acquire latency: 200 sequential acquires (each lists every lease so far, as Flannel does);
//   - watch latency: with 1000 leases present, the time from a put of a peer lease to its event
//     reaching the watcher, over 1000 puts.
import { performance } from "node:perf_hooks";
import { formatIp, parseIp } from "../../backends/net/ip.ts";
import { silentLog } from "../../agent/ops/log.ts";
import { createEtcdSubnetManager } from "../../agent/subnet/etcd/etcd-manager.ts";
import { connectEtcdStore } from "../../agent/subnet/etcd/store.ts";
import { encodeLeaseAttrs } from "../../agent/subnet/lease-json.ts";
import type { LeaseAttrs } from "../../agent/subnet/manager.ts";
import { startEtcd } from "../support/etcd.ts";
import { summarize, writeResults } from "./stats.ts";

const attrs = (index: number): LeaseAttrs => ({
  publicIP: { family: 4, value: parseIp("198.18.0.0")!.value + BigInt(index) },
  backendType: "vxlan",
  backendData: { VNI: 1, VtepMAC: `02:00:00:00:${((index >> 8) & 0xff).toString(16).padStart(2, "0")}:${(index & 0xff).toString(16).padStart(2, "0")}` },
});

const etcd = await startEtcd();
const store = await connectEtcdStore({ endpoints: [etcd.endpoint] });
try {
  // ---- acquire ----
  const acquirePrefix = "/bench-acquire/network";
  await store.put(`${acquirePrefix}/config`, '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan"}}', 0n, AbortSignal.timeout(5000));
  const manager = createEtcdSubnetManager({ store, prefix: acquirePrefix, log: silentLog });
  const acquireMs: number[] = [];
  for (let i = 1; i <= 200; i++) {
    const start = performance.now();
    await manager.acquire(attrs(i), AbortSignal.timeout(10_000));
    acquireMs.push(performance.now() - start);
  }

  // ---- watch ----
  const watchPrefix = "/bench-watch/network";
  await store.put(`${watchPrefix}/config`, '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan"}}', 0n, AbortSignal.timeout(5000));
  const keyFor = (i: number): string => `${watchPrefix}/subnets/10.${(i >> 8) & 0xff}.${i & 0xff}.0-24`;
  for (let i = 1; i <= 1000; i++) await store.put(keyFor(i), encodeLeaseAttrs(attrs(i)), 0n, AbortSignal.timeout(5000));

  const watcher = createEtcdSubnetManager({ store, prefix: watchPrefix, log: silentLog });
  const stop = new AbortController();
  let snapshotSize = -1;
  let waiting: { ip: string; resolve: () => void } | undefined;
  let snapshotSeen: () => void = () => {};
  const snapshotPromise = new Promise<void>((resolve) => (snapshotSeen = resolve));
  const consuming = (async () => {
    for await (const events of watcher.watchLeases(stop.signal)) {
      for (const event of events) {
        if (event.kind === "snapshot") {
          snapshotSize = event.leases.length;
          snapshotSeen();
        } else if (event.kind === "added" && waiting !== undefined && formatIp(event.lease.attrs.publicIP) === waiting.ip) {
          waiting.resolve();
        }
      }
    }
  })().catch(() => undefined);
  await snapshotPromise;

  const watchMs: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const peer = attrs(2000 + i);
    const arrived = new Promise<void>((resolve) => (waiting = { ip: formatIp(peer.publicIP), resolve }));
    const start = performance.now();
    await store.put(keyFor(1 + (i % 1000)), encodeLeaseAttrs(peer), 0n, AbortSignal.timeout(5000));
    await arrived;
    watchMs.push(performance.now() - start);
  }
  stop.abort();
  await consuming;

  const acquire = summarize(acquireMs);
  const watch = summarize(watchMs);
  process.stdout.write(
    `acquire (200 sequential, up to 200 leases present): median ${acquire.medianMs} ms, p95 ${acquire.p95Ms} ms\n` +
      `watch put→event (1000 puts, ${snapshotSize} leases present): median ${watch.medianMs} ms, p99 ${watch.p99Ms} ms\n`,
  );
  const path = writeResults("etcd", { etcd: "Debian etcd-server, loopback", acquire, watch, leasesPresentForWatch: snapshotSize });
  process.stdout.write(`results: ${path}\n`);
} finally {
  await store.close();
  await etcd.dispose();
}
