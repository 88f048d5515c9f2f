// The etcd manager's reports to the operational record, against a real etcd that is stopped and
// started again: the lease watch follows the store, is interrupted (and counted as restarted)
// while etcd is down, failed requests are counted by operation and code, and the watch follows
// again once etcd is back — what /readyz and /metrics are built on.
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "../../../deploy/lab/tools/wait.ts";
import { createOpsRecord } from "../../../agent/ops/ops-record.ts";
import { createEtcdSubnetManager } from "../../../agent/subnet/etcd/etcd-manager.ts";
import { connectEtcdStore } from "../../../agent/subnet/etcd/store.ts";
import { startEtcd } from "../../support/etcd.ts";
import { createMemoryLog } from "../../support/memory-log.ts";

test("an etcd outage shows as an interrupted, restarted watch and counted errors; the watch follows again after it", { timeout: 90_000 }, async (t) => {
  const etcd = await startEtcd();
  t.after(() => etcd.dispose());
  const record = createOpsRecord();
  const store = await connectEtcdStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 2000 });
  const manager = createEtcdSubnetManager({ store, prefix: "/coreos.com/network", log: createMemoryLog(), observer: record });
  t.after(() => manager.close());
  const stop = new AbortController();
  t.after(() => stop.abort());
  const batches: number[] = [];
  const watching = (async () => {
    for await (const batch of manager.watchLeases(stop.signal)) batches.push(batch.length);
  })();

  await waitFor(() => record.watches.get("leases")?.following === true, { what: "the lease watch following", timeoutMs: 10_000 });
  await etcd.stop();
  await waitFor(() => record.watches.get("leases")?.following === false, { what: "the lease watch interrupted", timeoutMs: 10_000 });
  assert.equal(record.watches.get("leases")?.code, "etcd-unavailable");
  await waitFor(() => record.watchRestarts.get({ watch: "leases", reason: "error" }) >= 1, { what: "a watch restart counted", timeoutMs: 10_000 });
  await waitFor(() => record.datastoreErrors.sum({ code: "etcd-unavailable" }) >= 1, { what: "a datastore error counted", timeoutMs: 10_000 });

  await etcd.start();
  await waitFor(() => record.watches.get("leases")?.following === true, { what: "the lease watch following again", timeoutMs: 20_000 });
  // Resumed from its revision, not re-listed: no second snapshot.
  assert.deepEqual(batches, [1]);
  stop.abort();
  await watching;
});
