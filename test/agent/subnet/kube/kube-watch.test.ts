// The kube manager's lease watch against the lab API server and its faults (kube-api.md §7.3):
// snapshot, added/removed, resume after a dropped stream without loss, bookmarks advancing the
// resourceVersion, both forms of 410 → a fresh list, an outage waited out, a bounded queue.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { formatCidr } from "../../../../backends/net/ip.ts";
import { createKubeSubnetManager } from "../../../../agent/subnet/kube/kube-manager.ts";
import type { KubeManagerOptions } from "../../../../agent/subnet/kube/kube-options.ts";
import { createLeaseSet } from "../../../../agent/subnet/lease-set.ts";
import type { LeaseEvent, SubnetManager } from "../../../../agent/subnet/manager.ts";
import { createMemoryLog, type MemoryLog } from "../../../support/memory-log.ts";
import { describeLeaseEvent, readEventsUntil } from "../manager-behaviour.ts";
import { flannelAnnotations, nodeFixture, startKubeLab, type KubeLab } from "./kube-lab.ts";

let lab: KubeLab;
let netConf: string;
let log: MemoryLog;
let manager: SubnetManager;
let controller: AbortController;
let events: AsyncIterator<readonly LeaseEvent[]>;

const addPeer = (index: number) => lab.api.store.create(nodeFixture(`peer-${index}`, [`10.244.${index}.0/24`], flannelAnnotations(index)));
const subnetOf = (index: number) => `10.244.${index}.0/24`;
const isAdded = (index: number) => (e: LeaseEvent) => e.kind === "added" && formatCidr(e.lease.subnet!) === subnetOf(index);
const isRemoved = (index: number) => (e: LeaseEvent) => e.kind === "removed" && formatCidr(e.lease.subnet!) === subnetOf(index);
const snapshotHolding = (index: number) => (e: LeaseEvent) => e.kind === "snapshot" && e.leases.some((l) => formatCidr(l.subnet!) === subnetOf(index));
const watchRequests = () => lab.requests.filter((line) => line.startsWith("GET /api/v1/nodes?watch=true"));
const listRequests = () => lab.requests.filter((line) => /^GET \/api\/v1\/nodes(\?(?!watch)| )/.test(line));

async function startWatching(overrides: Partial<KubeManagerOptions> = {}): Promise<readonly LeaseEvent[]> {
  manager = await createKubeSubnetManager({ ...lab.options("peer-1", netConf), ...overrides }, log);
  events = manager.watchLeases(controller.signal)[Symbol.asyncIterator]();
  const seen = await readEventsUntil(events, (s) => s.some((e) => e.kind === "snapshot"));
  await waitForOpenWatch();
  return seen;
}

async function waitForOpenWatch(): Promise<void> {
  for (let waited = 0; lab.api.faults.openWatches === 0; waited += 10) {
    assert.ok(waited < 5000, "a watch is open within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeEach(async () => {
  lab = await startKubeLab();
  netConf = await lab.writeNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  log = createMemoryLog();
  controller = new AbortController();
  addPeer(1);
  addPeer(2);
  lab.api.store.create(nodeFixture("not-flannel", ["10.244.99.0/24"]));
});

afterEach(async () => {
  controller.abort();
  await manager?.close();
  await lab.close();
});

describe("kube manager: the lease watch", () => {
  test("the first batch is a snapshot of flannel nodes only (own node included, as etcd's)", async () => {
    const [first] = await startWatching();
    assert.equal(describeLeaseEvent(first!), "snapshot[10.244.1.0/24,10.244.2.0/24]");
  });

  test("a node added and deleted shows as added and removed; heartbeats are silent", async () => {
    await startWatching();
    addPeer(3);
    lab.api.store.patch("Node", "peer-2", { status: { conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: "2026-12-05T00:00:00Z" }] } }, { subresource: "status" });
    lab.api.store.delete("Node", "peer-3");
    const seen = await readEventsUntil(events, (s) => s.some(isRemoved(3)));
    assert.deepEqual(seen.map(describeLeaseEvent), ["added 10.244.3.0/24", "removed 10.244.3.0/24"]);
  });

  test("a closed stream is resumed from the last resourceVersion: nothing lost, nothing twice, no new list", async () => {
    await startWatching();
    const lists = listRequests().length;
    const resumedFrom = lab.api.store.resourceVersion;
    assert.equal(lab.api.faults.closeWatches(), 1);
    addPeer(4); // while no stream is open
    await waitForOpenWatch();
    lab.api.faults.closeWatches();
    addPeer(5);
    const seen = await readEventsUntil(events, (s) => s.some(isAdded(5)));
    assert.deepEqual(seen.map(describeLeaseEvent), ["added 10.244.4.0/24", "added 10.244.5.0/24"]);
    assert.equal(listRequests().length, lists, "no re-list");
    assert.ok(watchRequests().some((line) => line.includes(`resourceVersion=${resumedFrom}&`)), "re-watched from the last RV seen");
  });

  test("a stream reset (TCP RST) is resumed the same way", async (t) => {
    await startWatching();
    const lists = listRequests().length;
    try {
      lab.api.faults.resetWatches();
    } catch (error) {
      // The lab server's reset calls resetAndDestroy() on a TLS socket, which Node refuses.
      if ((error as { code?: string }).code === "ERR_INVALID_HANDLE_TYPE") return t.skip("the lab API server cannot reset a TLS watch yet");
      throw error;
    }
    addPeer(4);
    const seen = await readEventsUntil(events, (s) => s.some(isAdded(4)));
    assert.deepEqual(seen.map(describeLeaseEvent), ["added 10.244.4.0/24"]);
    assert.equal(listRequests().length, lists, "no re-list");
  });

  test("bookmarks advance the resourceVersion the watch resumes from", async () => {
    await startWatching();
    const advanced = lab.api.faults.jumpResourceVersion(50);
    assert.equal(lab.api.faults.sendBookmarks(), 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    lab.api.faults.closeWatches();
    addPeer(6);
    await readEventsUntil(events, (s) => s.some(isAdded(6)));
    assert.ok(watchRequests().some((line) => line.includes(`resourceVersion=${advanced}&`)), `a watch resumed from the bookmark's RV ${advanced}: ${watchRequests().join(" | ")}`);
  });

  test("an ERROR 410 event inside the stream leads to a new list and a new snapshot", async () => {
    await startWatching();
    addPeer(7);
    await readEventsUntil(events, (s) => s.some(isAdded(7)));
    lab.api.faults.compactHistory();
    assert.equal(lab.api.faults.expireWatches(), 1);
    const seen = await readEventsUntil(events, (s) => s.some(snapshotHolding(7)));
    assert.ok(seen.some(snapshotHolding(7)));
    assert.equal(log.find("expired; listing nodes again", "info").length, 1);
  });

  test("an HTTP 410 answer to the watch leads to a new list and a new snapshot", async () => {
    await startWatching();
    lab.api.faults.set({ watchHttp410: 1 });
    lab.api.faults.closeWatches();
    addPeer(8);
    const seen = await readEventsUntil(events, (s) => s.some(snapshotHolding(8)));
    assert.ok(seen.some(snapshotHolding(8)));
  });

  test("the API server down then up: one warning, then the watch catches up with what changed meanwhile", async () => {
    const [snapshot] = await startWatching();
    const peers = createLeaseSet({});
    peers.apply([snapshot!]);
    await lab.api.stop();
    lab.api.store.delete("Node", "peer-2");
    addPeer(9);
    await new Promise((resolve) => setTimeout(resolve, 800)); // several failed attempts
    await lab.api.start();
    const seen = await readEventsUntil(events, (s) => {
      const set = createLeaseSet({});
      set.apply([snapshot!, ...s]);
      const subnets = set.peers().map((l) => formatCidr(l.subnet!)).sort();
      return subnets.join(",") === "10.244.1.0/24,10.244.9.0/24";
    });
    assert.ok(seen.length > 0);
    assert.equal(log.entries.filter((e) => e.level === "warn").length, 1, `one warning per outage: ${JSON.stringify(log.entries.filter((e) => e.level === "warn"))}`);
    assert.equal(log.find("node watch resumed", "info").length, 1);
  });

  test("a list refused with 500, then 429, is retried until it succeeds, with one warning per outage", async () => {
    await startWatching();
    for (const [code, index] of [[500, 10], [429, 11]] as const) {
      addPeer(index);
      await readEventsUntil(events, (s) => s.some(isAdded(index)));
      lab.api.faults.set({ listError: { code, count: 2 } });
      lab.api.faults.compactHistory();
      assert.equal(lab.api.faults.expireWatches(), 1);
      await readEventsUntil(events, (s) => s.some(snapshotHolding(index)));
    }
    assert.equal(log.find("listing nodes failed", "warn").length, 2);
    assert.equal(log.find("node list succeeded again", "info").length, 2);
  });

  // These two keep a read pending while the fault lasts, as the daemon always does: the watch
  // works while its consumer asks for the next batch.
  test("a silent stream is dropped after the idle timeout and re-opened from the same RV", async () => {
    await startWatching({ timing: { ...lab.options("x", netConf).timing, watchIdleTimeoutMs: 300 } });
    const reading = readEventsUntil(events, (s) => s.some(isAdded(12)));
    const before = watchRequests().length;
    lab.api.faults.set({ watchIdle: true });
    lab.api.faults.closeWatches();
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const reopened = watchRequests().length - before;
    lab.api.faults.set({ watchIdle: false });
    addPeer(12);
    await reading;
    assert.ok(reopened >= 2, `idle streams were dropped and re-opened (${reopened} times)`);
    const resumedFrom = new Set(watchRequests().slice(before).map((line) => /resourceVersion=(\d+)/.exec(line)?.[1]));
    assert.equal(resumedFrom.size, 1, "always from the same RV");
  });

  test("a slow API server (answers later than the request timeout) is waited out", async () => {
    await startWatching({ timing: { ...lab.options("x", netConf).timing, requestTimeoutMs: 200 } });
    addPeer(13);
    await readEventsUntil(events, (s) => s.some(isAdded(13)));
    const reading = readEventsUntil(events, (s) => s.some(snapshotHolding(13)));
    lab.api.faults.set({ latencyMs: 400 });
    lab.api.faults.compactHistory();
    assert.equal(lab.api.faults.expireWatches(), 1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    lab.api.faults.set({ latencyMs: 0 });
    await reading;
    const warnings = log.find("listing nodes failed", "warn");
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]?.fields.error), /timeout|aborted/i);
  });

  test("more events than EVENT_QUEUE_DEPTH while the consumer is busy: none is lost", async () => {
    await startWatching({ eventQueueDepth: 3 });
    for (let index = 20; index < 40; index++) addPeer(index);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the consumer is busy
    const seen = await readEventsUntil(events, (s) => s.filter((e) => e.kind === "added").length >= 20);
    assert.deepEqual(
      seen.filter((e) => e.kind === "added").map(describeLeaseEvent),
      Array.from({ length: 20 }, (_, i) => `added 10.244.${20 + i}.0/24`),
    );
    assert.ok(log.find("more node events than EVENT_QUEUE_DEPTH", "warn").length >= 1);
  });

  test("the cache must sync in time, unless CONT_WHEN_CACHE_NOT_READY", async () => {
    await lab.api.stop();
    const timing = { ...lab.options("x", netConf).timing, cacheSyncLimitMs: 400 };
    await assert.rejects(createKubeSubnetManager({ ...lab.options("peer-1", netConf), timing }, log), /did not sync/);
    manager = await createKubeSubnetManager({ ...lab.options("peer-1", netConf), timing, continueWhenCacheNotReady: true }, log);
    events = manager.watchLeases(controller.signal)[Symbol.asyncIterator]();
    await lab.api.start();
    const seen = await readEventsUntil(events, (s) => s.some(snapshotHolding(2)));
    assert.ok(seen.length > 0);
  });
});
