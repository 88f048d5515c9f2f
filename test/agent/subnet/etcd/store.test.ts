// The etcd store against a real etcd: key/value round trips with revisions, the create-if-absent
// transaction, leases (TTL, revoke, expiry, none), watches (order, exactly once, compaction,
// abort, an etcd restart resumed without loss), bounded failures, auth errors and mutual TLS.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import { isFlannelError } from "../../../../backends/errors.ts";
import type { EtcdStore, EtcdStoreOptions, StoredChange, WatchTarget, WatchUpdate } from "../../../../agent/subnet/etcd/store-contract.ts";
import { connectEtcdStore } from "../../../../agent/subnet/etcd/store.ts";
import { run } from "../../../../deploy/lab/tools/command.ts";
import { freePort, startEtcd, type EtcdServer } from "../../../support/etcd.ts";
import { runPrefix } from "../../../support/run-context.ts";
import { waitFor } from "../../../support/process.ts";

const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));

const stores: EtcdStore[] = [];
async function openStore(options: EtcdStoreOptions): Promise<EtcdStore> {
  const store = await connectEtcdStore(options);
  stores.push(store);
  return store;
}
after(async () => {
  for (const store of stores) await store.close();
});

const never = new AbortController().signal;

/** A watch consumed in the background: what it delivered, and how it ended. */
interface Collected {
  readonly updates: WatchUpdate[];
  readonly ended: Promise<{ readonly error?: unknown }>;
  readonly controller: AbortController;
  changes(): StoredChange[];
  lastRevision(): bigint | undefined;
}

function collect(store: EtcdStore, target: WatchTarget, afterRevision: bigint): Collected {
  const controller = new AbortController();
  const updates: WatchUpdate[] = [];
  const ended = (async () => {
    try {
      for await (const update of store.watch(target, afterRevision, controller.signal)) updates.push(update);
      return {};
    } catch (error) {
      return { error };
    }
  })();
  return {
    updates,
    ended,
    controller,
    changes: () => updates.flatMap((update) => (update.kind === "changes" ? update.changes : [])),
    lastRevision: () => updates.findLast((update) => update.kind === "changes")?.revision,
  };
}

const summary = (changes: readonly StoredChange[]): string[] => changes.map((change) => `${change.type} ${change.entry.key}`);

async function revisionNow(store: EtcdStore): Promise<bigint> {
  return (await store.get("/no-such-key", never)).revision;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the call to fail");
}

/** etcd's own count of the watchers and watch streams it holds (its /metrics on the client URL). */
async function etcdWatchers(etcd: EtcdServer): Promise<{ watchers: number; streams: number }> {
  const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
  const gauge = (name: string): number => {
    const match = new RegExp(`^${name} (\\d+)`, "m").exec(text);
    assert.ok(match, `etcd exports ${name}`);
    return Number(match[1]);
  };
  return { watchers: gauge("etcd_debugging_mvcc_watcher_total"), streams: gauge("etcd_debugging_mvcc_watch_stream_total") };
}

describe("etcd store: keys, leases and watches", () => {
  let etcd: EtcdServer;
  let store: EtcdStore;
  before(async () => {
    etcd = await startEtcd();
    store = await openStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 3000 });
  });
  after(async () => {
    await store?.close();
    await etcd?.dispose();
  });

  test("get, put, list and delete round-trip values with etcd's revisions", async () => {
    const missing = await store.get("/rt/a", never);
    assert.equal(missing.entry, undefined);
    assert.ok(missing.revision > 0n);

    await store.put("/rt/a", "eins ✓", 0n, never);
    const first = await store.get("/rt/a", never);
    assert.deepEqual(first.entry, { key: "/rt/a", value: "eins ✓", leaseId: 0n, createRevision: first.revision, modRevision: first.revision });
    assert.ok(first.revision > missing.revision);

    await store.put("/rt/a", "zwei", 0n, never);
    const second = await store.get("/rt/a", never);
    assert.equal(second.entry?.value, "zwei");
    assert.equal(second.entry?.createRevision, first.revision, "an update keeps the create revision");
    assert.equal(second.entry?.modRevision, second.revision);
    assert.ok(second.revision > first.revision);

    await store.put("/rt/b", "drei", 0n, never);
    await store.put("/rtx", "outside the prefix", 0n, never);
    await store.put("/rt", "the prefix itself without its slash", 0n, never);
    const listed = await store.list("/rt/", never);
    assert.deepEqual(listed.entries.map((entry) => [entry.key, entry.value]), [["/rt/a", "zwei"], ["/rt/b", "drei"]]);
    assert.equal(listed.revision, await revisionNow(store));

    assert.equal(await store.delete("/rt/a", never), true);
    assert.equal(await store.delete("/rt/a", never), false, "deleting a missing key is not an error");
    assert.equal((await store.get("/rt/a", never)).entry, undefined);
    assert.deepEqual((await store.list("/rt/", never)).entries.map((entry) => entry.key), ["/rt/b"]);
  });

  test("calls leave no listener on the caller's signal", async () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i += 1) {
      await store.put("/listeners/k", String(i), 0n, controller.signal);
      await store.get("/listeners/k", controller.signal);
    }
    assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  });

  test("createIfAbsent creates a missing key once, then reports that it existed and leaves it alone", async () => {
    assert.equal(await store.createIfAbsent("/cas/10.5.1.0-24", "first", 0n, never), true);
    assert.equal(await store.createIfAbsent("/cas/10.5.1.0-24", "second", 0n, never), false);
    assert.equal((await store.get("/cas/10.5.1.0-24", never)).entry?.value, "first");
  });

  test("a granted lease reports its TTL; revoking it removes the attached key and is idempotent", async () => {
    const leaseId = await store.grantLease(60, never);
    assert.equal(typeof leaseId, "bigint");
    assert.notEqual(leaseId, 0n);
    const ttl = await store.leaseTimeToLive(leaseId, never);
    assert.ok(ttl !== undefined && ttl > 0 && ttl <= 60, `TTL ${ttl}`);

    assert.equal(await store.createIfAbsent("/lease/10.5.2.0-24", "leased", leaseId, never), true);
    assert.equal((await store.get("/lease/10.5.2.0-24", never)).entry?.leaseId, leaseId);

    await store.revokeLease(leaseId, never);
    assert.equal((await store.get("/lease/10.5.2.0-24", never)).entry, undefined, "the attached key went with the lease");
    assert.equal(await store.leaseTimeToLive(leaseId, never), undefined);
    await store.revokeLease(leaseId, never); // already gone: not an error
  });

  test("a key attached to a 2 s lease disappears when the lease expires", async () => {
    const leaseId = await store.grantLease(2, never);
    await store.put("/expiry/10.5.3.0-24", "short-lived", leaseId, never);
    const startedAt = Date.now();
    assert.equal((await store.get("/expiry/10.5.3.0-24", never)).entry?.leaseId, leaseId);
    await waitFor(async () => (await store.get("/expiry/10.5.3.0-24", never)).entry === undefined, {
      what: "the leased key to expire",
      timeoutMs: 8000,
      intervalMs: 200,
    });
    assert.ok(Date.now() - startedAt >= 1000, "the key lived for about its TTL");
    assert.equal(await store.leaseTimeToLive(leaseId, never), undefined);
  });

  test("put with lease 0n attaches no etcd lease (a Flannel reservation), even over a leased key", async () => {
    const leaseId = await store.grantLease(60, never);
    await store.put("/reservation/10.5.4.0-24", "leased", leaseId, never);
    await store.put("/reservation/10.5.4.0-24", "reserved", 0n, never);
    const json = JSON.parse(await etcd.etcdctl("get", "-w", "json", "/reservation/10.5.4.0-24")) as { kvs: Array<{ lease?: number; value: string }> };
    assert.equal(json.kvs.length, 1);
    assert.equal(Buffer.from(json.kvs[0]!.value, "base64").toString(), "reserved");
    assert.equal(json.kvs[0]!.lease ?? 0, 0, "etcdctl shows no lease");
    assert.equal((await store.get("/reservation/10.5.4.0-24", never)).entry?.leaseId, 0n);
    assert.equal(await store.leaseTimeToLive(0n, never), undefined);
    await store.revokeLease(leaseId, never);
    assert.equal((await store.get("/reservation/10.5.4.0-24", never)).entry?.value, "reserved", "the reservation outlives the old lease");
  });

  test("a watch delivers the puts and deletes after the given revision, in order, once, and none before", async () => {
    await store.put("/w/before", "old", 0n, never);
    const from = await revisionNow(store);
    await store.put("/w/a", "1", 0n, never);
    await store.delete("/w/before", never);
    await store.put("/w/b", "2", 0n, never);
    await store.put("/elsewhere", "not watched", 0n, never);
    const watch = collect(store, { prefix: "/w/" }, from);
    await waitFor(() => watch.changes().length >= 3, { what: "the history after the revision" });
    await store.put("/w/a", "3", 0n, never);
    await waitFor(() => watch.changes().length >= 4, { what: "a live put" });
    await sleep(200); // anything extra would show up by now

    const changes = watch.changes();
    assert.deepEqual(summary(changes), ["put /w/a", "delete /w/before", "put /w/b", "put /w/a"]);
    assert.deepEqual(changes.map((change) => change.entry.value), ["1", "", "2", "3"]);
    const revisions = changes.map((change) => change.entry.modRevision);
    assert.ok(revisions.every((revision, i) => revision > from && (i === 0 || revision > revisions[i - 1]!)), `revisions ${revisions}`);
    for (const update of watch.updates) {
      assert.equal(update.kind, "changes");
      if (update.kind === "changes") assert.equal(update.revision, update.changes.at(-1)!.entry.modRevision);
    }

    assert.ok(getEventListeners(watch.controller.signal, "abort").length <= 2, "a waiting watch holds a fixed number of listeners, not one per update");
    watch.controller.abort();
    assert.deepEqual(await watch.ended, {}, "abort ends the iterable without an error");
    assert.equal(getEventListeners(watch.controller.signal, "abort").length, 0);
  });

  test("a long history arrives in etcd's batches, each reporting the revision it really reached", async () => {
    const from = await revisionNow(store);
    const count = 1200; // etcd sends at most 1000 revisions per catch-up response
    for (let i = 0; i < count; i += 1) await store.put(`/batch/${i % 7}`, String(i), 0n, never);
    const current = await revisionNow(store);
    const watch = collect(store, { prefix: "/batch/" }, from);
    await waitFor(() => watch.changes().length >= count, { what: `${count} changes`, timeoutMs: 10_000 });
    watch.controller.abort();
    await watch.ended;
    assert.ok(watch.updates.length >= 2, "the history came in more than one response");
    for (const update of watch.updates) {
      if (update.kind === "changes") assert.equal(update.revision, update.changes.at(-1)!.entry.modRevision);
    }
    assert.ok(watch.updates[0]!.kind === "changes" && watch.updates[0]!.revision < current, "the first batch does not claim the current revision");
    assert.deepEqual(watch.changes().map((change) => change.entry.value), Array.from({ length: count }, (_, i) => String(i)));
  });

  test("a single-key watch sees only that key", async () => {
    const from = await revisionNow(store);
    const watch = collect(store, { key: "/one/key" }, from);
    await store.put("/one/key2", "no", 0n, never);
    await store.put("/one/key", "yes", 0n, never);
    await waitFor(() => watch.changes().length >= 1, { what: "the key's put" });
    await sleep(100);
    assert.deepEqual(summary(watch.changes()), ["put /one/key"]);
    watch.controller.abort();
    await watch.ended;
  });

  test("watching from a compacted revision yields 'compacted' and ends", async () => {
    await store.put("/compact/a", "1", 0n, never);
    const old = await revisionNow(store);
    for (let i = 0; i < 5; i += 1) await store.put("/compact/a", String(i), 0n, never);
    await etcd.etcdctl("compact", String(await revisionNow(store)));
    const watch = collect(store, { prefix: "/compact/" }, old);
    assert.deepEqual(await watch.ended, {}, "the iterable ends by itself");
    assert.deepEqual(watch.updates, [{ kind: "compacted" }]);
  });

  test("aborting ends a waiting watch promptly, and 50 open/abort cycles leave no watcher in etcd", async () => {
    const baseline = await etcdWatchers(etcd);
    const idle = collect(store, { prefix: "/idle/" }, await revisionNow(store));
    await waitFor(async () => (await etcdWatchers(etcd)).watchers === baseline.watchers + 1, { what: "etcd to count the watcher" });
    const abortedAt = Date.now();
    idle.controller.abort();
    assert.deepEqual(await idle.ended, {});
    assert.ok(Date.now() - abortedAt < 200, `ended ${Date.now() - abortedAt} ms after the abort`);

    for (let i = 0; i < 50; i += 1) {
      const controller = new AbortController();
      const iterator = store.watch({ prefix: "/cycle/" }, await revisionNow(store), controller.signal)[Symbol.asyncIterator]();
      const next = iterator.next();
      await store.put("/cycle/key", String(i), 0n, never);
      const first = await next;
      assert.equal(first.done, false);
      controller.abort();
      assert.deepEqual(await iterator.next(), { done: true, value: undefined });
    }
    await waitFor(async () => isDeepStrictEqual(await etcdWatchers(etcd), baseline), {
      what: `etcd's watcher and watch stream counts back to ${JSON.stringify(baseline)}`,
      timeoutMs: 5000,
    });
  });

  test("an aborted signal rejects every call with its reason, and a watch ends without yielding", async () => {
    const reason = new Error("stop now");
    const aborted = AbortSignal.abort(reason);
    const calls: Array<Promise<unknown>> = [
      store.get("/x", aborted),
      store.list("/x", aborted),
      store.grantLease(10, aborted),
      store.revokeLease(1n, aborted),
      store.revokeLease(0n, aborted),
      store.leaseTimeToLive(1n, aborted),
      store.leaseTimeToLive(0n, aborted),
      store.createIfAbsent("/x", "v", 0n, aborted),
      store.put("/x", "v", 0n, aborted),
      store.delete("/x", aborted),
    ];
    for (const call of calls) assert.equal(await rejection(call), reason);
    const yielded: WatchUpdate[] = [];
    for await (const update of store.watch({ prefix: "/" }, 0n, aborted)) yielded.push(update);
    assert.deepEqual(yielded, []);
    assert.equal((await store.get("/x", never)).entry, undefined, "nothing was written");
  });

  test("etcd answering with an error (a bad request) is etcd-request-failed naming the operation", async () => {
    const error = await rejection(store.put("/leased/by/nobody", "v", 123456789n, never));
    assert.ok(isFlannelError(error, "etcd-request-failed"), String(error));
    assert.match(error.message, /put \/leased\/by\/nobody/);
    assert.match(error.message, /lease not found/);
  });

  test("close() is idempotent and later calls fail with etcd-unavailable", async () => {
    const own = await connectEtcdStore({ endpoints: [etcd.endpoint] });
    await own.put("/closing", "v", 0n, never);
    const watch = collect(own, { prefix: "/closing" }, await revisionNow(own));
    await sleep(100);
    await own.close();
    await own.close();
    const ended = await watch.ended;
    assert.ok(isFlannelError(ended.error, "etcd-unavailable"), "an open watch ends with etcd-unavailable");
    assert.ok(isFlannelError(await rejection(own.get("/closing", never)), "etcd-unavailable"));
  });
});

describe("etcd store: an unreachable etcd", () => {
  test("a call fails with etcd-unavailable within the timeout, naming the endpoint", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const store = await openStore({ endpoints: [endpoint], requestTimeoutMs: 1000 });
    const startedAt = Date.now();
    const error = await rejection(store.get("/k", never));
    const elapsed = Date.now() - startedAt;
    assert.ok(isFlannelError(error, "etcd-unavailable"), String(error));
    assert.ok(error.message.startsWith(`etcd unavailable at ${endpoint}: get /k: `), error.message);
    // gRPC names the refused connection, or only its deadline when that ran out before the
    // connection attempt reported back (seen under load): either way the cause is in the message.
    assert.match(error.message, /ECONNREFUSED|DEADLINE_EXCEEDED/);
    assert.ok(elapsed >= 900 && elapsed < 1800, `failed after ${elapsed} ms`);

    const watchStartedAt = Date.now();
    const watch = collect(store, { prefix: "/" }, 0n);
    const ended = await watch.ended;
    assert.ok(isFlannelError(ended.error, "etcd-unavailable"), String(ended.error));
    assert.match(ended.error.message, new RegExp(`^etcd unavailable at ${endpoint}: watch prefix /: `));
    assert.ok(Date.now() - watchStartedAt < 1800, `watch failed after ${Date.now() - watchStartedAt} ms`);
  });

  test("an abort stops a call that is waiting for etcd, at once", async () => {
    const store = await openStore({ endpoints: [`http://127.0.0.1:${await freePort()}`], requestTimeoutMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error("shutting down");
    setTimeout(() => controller.abort(reason), 100);
    const startedAt = Date.now();
    assert.equal(await rejection(store.put("/k", "v", 0n, controller.signal)), reason);
    assert.ok(Date.now() - startedAt < 500, `rejected after ${Date.now() - startedAt} ms`);
  });
});

describe("etcd store: several endpoints, one of them down", () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.dispose();
  });

  test("calls and watches reach the live endpoint, and stay with it", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const store = await openStore({ endpoints: [dead, etcd.endpoint], requestTimeoutMs: 3000 });
    const slowest = { ms: 0 };
    for (let i = 0; i < 20; i += 1) {
      const startedAt = Date.now();
      await store.put(`/multi/${i}`, String(i), 0n, never);
      slowest.ms = Math.max(slowest.ms, Date.now() - startedAt);
    }
    // No call waits for the dead endpoint: the first moves on at once, the rest go straight to
    // the live one (a random choice per call would keep hitting the dead one, with pauses).
    assert.ok(slowest.ms < 250, `slowest put took ${slowest.ms} ms`);
    assert.equal((await store.list("/multi/", never)).entries.length, 20);
    for (let i = 0; i < 5; i += 1) {
      const controller = new AbortController();
      const iterator = store.watch({ key: "/multi/0" }, await revisionNow(store), controller.signal)[Symbol.asyncIterator]();
      const next = iterator.next();
      await sleep(50);
      await store.put("/multi/0", `again ${i}`, 0n, never);
      const update = await next;
      assert.equal(update.done, false);
      controller.abort();
      await iterator.next();
    }
  });
});

describe("etcd store: progress notifications", () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await startEtcd({ extraArgs: ["--experimental-watch-progress-notify-interval=300ms"] });
  });
  after(async () => {
    await etcd?.dispose();
  });

  test("a quiet watch is told the store's revision, so a resume need not replay others' history", async () => {
    const store = await openStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 3000 });
    const from = await revisionNow(store);
    const watch = collect(store, { prefix: "/quiet/" }, from);
    await store.put("/elsewhere/a", "1", 0n, never);
    await store.put("/elsewhere/b", "2", 0n, never);
    const now = await revisionNow(store);
    await waitFor(() => watch.lastRevision() === now, { what: `a progress notification at revision ${now}`, timeoutMs: 5000 });
    assert.deepEqual(watch.changes(), [], "no change under the prefix");
    watch.controller.abort();
    await watch.ended;
  });
});

describe("etcd store: an etcd restart", () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.dispose();
  });

  test("a watch throws etcd-unavailable when etcd stops; resuming from its last revision loses and repeats nothing; calls work again at once", async (t) => {
    const store = await openStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 1000 });
    const patient = await openStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 20_000 });
    await store.put("/restart/k0", "0", 0n, never);
    const from = await revisionNow(store);
    const first = collect(store, { prefix: "/restart/" }, from);
    await store.put("/restart/k1", "1", 0n, never);
    await store.put("/restart/k2", "2", 0n, never);
    await waitFor(() => first.changes().length >= 2, { what: "the first two puts" });

    const stoppedAt = Date.now();
    await etcd.stop();
    const ended = await first.ended;
    assert.ok(isFlannelError(ended.error, "etcd-unavailable"), `the watch ended with ${String(ended.error)}`);
    assert.ok(ended.error.message.includes(etcd.endpoint));
    const noticedMs = Date.now() - stoppedAt;
    assert.ok(noticedMs < 3000, `the watch noticed the outage after ${noticedMs} ms`);
    const resumeFrom = first.lastRevision();
    assert.equal(resumeFrom, (first.changes().at(-1)!.entry.modRevision));

    // Several failures in a row: etcd3's default circuit breaker would now refuse calls for 5 s.
    for (let i = 0; i < 3; i += 1) assert.ok(isFlannelError(await rejection(store.get("/restart/k1", never)), "etcd-unavailable"));
    const waiting = patient.get("/restart/k2", never).then((result) => ({ result, at: Date.now() }));
    await sleep(5000 - (Date.now() - stoppedAt));
    const startedAt = Date.now();
    await etcd.start();
    const healthyAt = Date.now();
    const immediate = await store.get("/restart/k1", never);
    const immediateMs = Date.now() - healthyAt;
    assert.equal(immediate.entry?.value, "1", "a call right after the restart succeeds");
    const { result, at } = await waiting;
    assert.equal(result.entry?.value, "2");
    assert.ok(at - healthyAt < 2000, `a call waiting through the outage completed ${at - healthyAt} ms after etcd was healthy`);
    t.diagnostic(
      `watch ended ${noticedMs} ms after SIGTERM; etcd restarted: spawned → etcdctl healthy ${healthyAt - startedAt} ms, ` +
        `spawned → the call waiting through the outage answered ${at - startedAt} ms; a new call right after took ${immediateMs} ms`,
    );

    await store.put("/restart/k3", "3", 0n, never);
    await store.delete("/restart/k1", never);
    const second = collect(store, { prefix: "/restart/" }, resumeFrom!);
    await store.put("/restart/k4", "4", 0n, never);
    await waitFor(() => second.changes().some((change) => change.entry.key === "/restart/k4"), { what: "the put after resuming" });
    await sleep(200);
    second.controller.abort();
    assert.deepEqual(await second.ended, {});

    const all = [...first.changes(), ...second.changes()];
    assert.deepEqual(summary(all), ["put /restart/k1", "put /restart/k2", "put /restart/k3", "delete /restart/k1", "put /restart/k4"]);
    const revisions = all.map((change) => change.entry.modRevision);
    assert.ok(revisions.every((revision, i) => i === 0 || revision > revisions[i - 1]!), `strictly increasing: ${revisions}`);
  });
});

describe("etcd store: authentication", () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await startEtcd();
    const asRoot = ["--user", "root:root-secret"];
    await etcd.etcdctl("user", "add", "root:root-secret");
    await etcd.etcdctl("role", "add", "root");
    await etcd.etcdctl("user", "grant-role", "root", "root");
    await etcd.etcdctl("auth", "enable");
    await etcd.etcdctl(...asRoot, "role", "add", "reader");
    await etcd.etcdctl(...asRoot, "role", "grant-permission", "reader", "read", "/allowed/", "--prefix");
    await etcd.etcdctl(...asRoot, "user", "add", "flannel:flannel-secret");
    await etcd.etcdctl(...asRoot, "user", "grant-role", "flannel", "reader");
    await etcd.etcdctl(...asRoot, "put", "/allowed/key", "visible");
  });
  after(async () => {
    await etcd?.dispose();
  });

  test("a user reads what it may; a forbidden put is etcd-request-failed naming the operation and key", async () => {
    const store = await openStore({ endpoints: [etcd.endpoint], username: "flannel", password: "flannel-secret", requestTimeoutMs: 3000 });
    assert.equal((await store.get("/allowed/key", never)).entry?.value, "visible");
    const error = await rejection(store.put("/forbidden/key", "v", 0n, never));
    assert.ok(isFlannelError(error, "etcd-request-failed"), String(error));
    assert.match(error.message, /^etcd put \/forbidden\/key failed: .*permission denied/);

    const ended = await collect(store, { prefix: "/forbidden/" }, 0n).ended;
    assert.ok(isFlannelError(ended.error, "etcd-request-failed"), String(ended.error));
    assert.match(ended.error.message, /^etcd watch prefix \/forbidden\/ failed: .*permission denied/);
    // The stream etcd3 shares between watches still serves a permitted one afterwards.
    const allowed = collect(store, { prefix: "/allowed/" }, 0n);
    await waitFor(() => allowed.changes().length > 0, { what: "the permitted watch's history" });
    allowed.controller.abort();
    assert.deepEqual(await allowed.ended, {});
  });

  test("a wrong password is etcd-request-failed, at once", async () => {
    const store = await openStore({ endpoints: [etcd.endpoint], username: "flannel", password: "wrong", requestTimeoutMs: 3000 });
    const startedAt = Date.now();
    const error = await rejection(store.get("/allowed/key", never));
    assert.ok(isFlannelError(error, "etcd-request-failed"), String(error));
    assert.match(error.message, /authentication failed/);
    assert.ok(Date.now() - startedAt < 1000);
  });
});

describe("etcd store: mutual TLS", () => {
  let etcd: EtcdServer;
  let dir: string;
  const file = (name: string): string => join(dir, name);

  async function openssl(...args: string[]): Promise<void> {
    await run(["openssl", ...args]);
  }
  async function makeCa(name: string): Promise<void> {
    await openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
      "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`), "-subj", `/CN=${name}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  }
  async function makeCert(name: string, ca: string, extensions: string): Promise<void> {
    writeFileSync(file(`${name}.ext`), extensions);
    await openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${name}`);
    await openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file(`${ca}.crt`), "-CAkey", file(`${ca}.key`),
      "-CAcreateserial", "-days", "2", "-out", file(`${name}.crt`), "-extfile", file(`${name}.ext`));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `${runPrefix}etcd-tls-`));
    await makeCa("ca");
    await makeCa("other-ca");
    await makeCert("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    await makeCert("client", "ca", "extendedKeyUsage=clientAuth\n");
    etcd = await startEtcd({
      scheme: "https",
      extraArgs: [`--cert-file=${file("server.crt")}`, `--key-file=${file("server.key")}`, "--client-cert-auth", `--trusted-ca-file=${file("ca.crt")}`],
      etcdctlArgs: [`--cacert=${file("ca.crt")}`, `--cert=${file("client.crt")}`, `--key=${file("client.key")}`],
    });
  });
  after(async () => {
    await etcd?.dispose();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test("the client certificate gets in: put, get and watch work over https", async () => {
    assert.ok(etcd.endpoint.startsWith("https://127.0.0.1:"));
    const store = await openStore({
      endpoints: [etcd.endpoint],
      tls: { certFile: file("client.crt"), keyFile: file("client.key"), caFile: file("ca.crt") },
      requestTimeoutMs: 3000,
    });
    const from = await revisionNow(store);
    const watch = collect(store, { prefix: "/tls/" }, from);
    await store.put("/tls/key", "secret", 0n, never);
    assert.equal((await store.get("/tls/key", never)).entry?.value, "secret");
    assert.equal((await etcd.etcdctl("get", "--print-value-only", "/tls/key")).trim(), "secret");
    await waitFor(() => watch.changes().length === 1, { what: "the watched put over TLS" });
    watch.controller.abort();
    await watch.ended;
  });

  test("a server certificate from another CA is etcd-unavailable saying TLS verification failed, without waiting out the timeout", async () => {
    const store = await openStore({
      endpoints: [etcd.endpoint],
      tls: { certFile: file("client.crt"), keyFile: file("client.key"), caFile: file("other-ca.crt") },
      requestTimeoutMs: 5000,
    });
    const startedAt = Date.now();
    const error = await rejection(store.get("/tls/key", never));
    assert.ok(isFlannelError(error, "etcd-unavailable"), String(error));
    assert.match(error.message, new RegExp(`^etcd unavailable at ${etcd.endpoint}: get /tls/key: TLS handshake failed: the etcd server certificate could not be verified`));
    assert.equal(error.details.tls, true);
    assert.ok(Date.now() - startedAt < 2000, `failed after ${Date.now() - startedAt} ms`);

    const ended = await collect(store, { prefix: "/tls/" }, 0n).ended;
    assert.ok(isFlannelError(ended.error, "etcd-unavailable"), String(ended.error));
    assert.match(ended.error.message, /TLS handshake failed: the etcd server certificate could not be verified/);
  });

  test("a missing key file is etcd-tls-invalid naming the file", async () => {
    const missing = file("no-such-client.key");
    const error = await rejection(connectEtcdStore({ endpoints: [etcd.endpoint], tls: { certFile: file("client.crt"), keyFile: missing } }));
    assert.ok(isFlannelError(error, "etcd-tls-invalid"), String(error));
    assert.ok(error.message.includes(missing), error.message);
    assert.equal(error.details.file, missing);
  });

  test("a certificate file that is not a certificate is etcd-tls-invalid naming the file", async () => {
    const error = await rejection(connectEtcdStore({ endpoints: [etcd.endpoint], tls: { certFile: file("client.ext"), keyFile: file("client.key") } }));
    assert.ok(isFlannelError(error, "etcd-tls-invalid"), String(error));
    assert.ok(error.message.includes(file("client.ext")), error.message);
  });
});

test("no promise rejection went unhandled", async () => {
  await sleep(100);
  assert.deepEqual(unhandled, []);
});
