// Watching leases in a real etcd: snapshot then changes, bad values skipped, an etcd outage and a
// compaction survived — after each, the watcher's view equals what etcd holds.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FlannelError } from "../../../../backends/errors.ts";
import { formatCidr, parseIp } from "../../../../backends/net/ip.ts";
import { createEtcdSubnetManager } from "../../../../agent/subnet/etcd/etcd-manager.ts";
import type { EtcdStore, WatchUpdate } from "../../../../agent/subnet/etcd/store-contract.ts";
import { connectEtcdStore } from "../../../../agent/subnet/etcd/store.ts";
import { createLeaseSet } from "../../../../agent/subnet/lease-set.ts";
import type { Lease, LeaseEvent, SubnetManager } from "../../../../agent/subnet/manager.ts";
import { startEtcd, type EtcdServer } from "../../../support/etcd.ts";
import { createMemoryLog, type MemoryLog } from "../../../support/memory-log.ts";
import { waitFor } from "../../../support/process.ts";

let etcd: EtcdServer;
const stores: EtcdStore[] = [];
let prefixCounter = 0;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  for (const store of stores) await store.close();
  await etcd.dispose();
});

const leaseValue = (ip: string, mac: string): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;

function newPrefix(): string {
  prefixCounter += 1;
  return `/watch${prefixCounter}/network`;
}

/** What a watcher believes: subnet → PublicIP, built only from the events it was given. */
class View {
  readonly leases = new Map<string, string>();
  snapshots = 0;
  apply(events: readonly LeaseEvent[]): void {
    for (const event of events) {
      if (event.kind === "snapshot") {
        this.snapshots += 1;
        this.leases.clear();
        for (const lease of event.leases) this.leases.set(formatCidr(lease.subnet!), leasePublicIp(lease));
      } else if (event.kind === "added") this.leases.set(formatCidr(event.lease.subnet!), leasePublicIp(event.lease));
      else this.leases.delete(formatCidr(event.lease.subnet!));
    }
  }
}
function leasePublicIp(lease: Lease): string {
  return `${lease.attrs.publicIP.value}`;
}

/** What etcd holds under <prefix>/subnets/, in the View's terms. */
async function etcdView(prefix: string): Promise<Map<string, string>> {
  const out = JSON.parse(await etcd.etcdctl("get", "--prefix", "-w", "json", `${prefix}/subnets/`)) as { kvs?: Array<{ key: string; value: string }> };
  const view = new Map<string, string>();
  for (const kv of out.kvs ?? []) {
    const key = Buffer.from(kv.key, "base64").toString();
    const value = JSON.parse(Buffer.from(kv.value, "base64").toString()) as { PublicIP: string };
    const name = key.slice(key.lastIndexOf("/") + 1).replace("-", "/");
    view.set(name, `${parseIp(value.PublicIP)!.value}`);
  }
  return view;
}

async function watching(manager: SubnetManager, view: View, signal: AbortSignal): Promise<void> {
  try {
    for await (const events of manager.watchLeases(signal)) view.apply(events);
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

async function startWatch(store?: EtcdStore): Promise<{ view: View; log: MemoryLog; stop: () => Promise<void> }> {
  const actual = store ?? (await connectEtcdStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 2000 }));
  stores.push(actual);
  const log = createMemoryLog();
  const view = new View();
  const controller = new AbortController();
  const done = watching(createEtcdSubnetManager({ store: actual, prefix: currentPrefix, log }), view, controller.signal);
  return {
    view,
    log,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}
let currentPrefix = "";

describe("etcd lease watch", () => {
  test("a snapshot of the leases present, then an event per put and per delete", async () => {
    currentPrefix = newPrefix();
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.5.1.0-24`, leaseValue("198.18.0.1", "02:00:00:00:00:01"));
    const { view, stop } = await startWatch();
    await waitFor(() => view.snapshots === 1 && view.leases.size === 1, { what: "the snapshot" });
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.5.2.0-24`, leaseValue("198.18.0.2", "02:00:00:00:00:02"));
    await etcd.etcdctl("del", `${currentPrefix}/subnets/10.5.1.0-24`);
    await waitFor(() => view.leases.size === 1 && view.leases.has("10.5.2.0/24"), { what: "the put and the delete" });
    assert.equal(view.snapshots, 1, "changes arrive as events, not new snapshots");
    await stop();
  });

  test("a value that does not parse is skipped with a warning naming the key; the watch goes on", async () => {
    currentPrefix = newPrefix();
    const { view, log, stop } = await startWatch();
    await waitFor(() => view.snapshots === 1, { what: "the snapshot" });
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.5.3.0-24`, "this is not json");
    await etcd.etcdctl("put", `${currentPrefix}/subnets/not-a-subnet`, leaseValue("198.18.0.9", "02:00:00:00:00:09"));
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.5.4.0-24`, leaseValue("198.18.0.4", "02:00:00:00:00:04"));
    await waitFor(() => view.leases.has("10.5.4.0/24"), { what: "the good lease after the bad ones" });
    assert.equal(view.leases.size, 1);
    assert.ok(log.find("does not parse", "warn").some((entry) => entry.fields.key === `${currentPrefix}/subnets/10.5.3.0-24`));
    assert.ok(log.find("not a subnet", "warn").some((entry) => entry.fields.key === `${currentPrefix}/subnets/not-a-subnet`));
    await stop();
  });

  test("removals carry the cached attributes and the own subnet is filtered (through the lease set)", async () => {
    currentPrefix = newPrefix();
    const store = await connectEtcdStore({ endpoints: [etcd.endpoint] });
    stores.push(store);
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.5.9.0-24`, leaseValue("198.18.0.99", "02:00:00:00:00:99"));
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.5.5.0-24`, leaseValue("198.18.0.5", "02:00:00:00:00:05"));
    const own = { subnet: { family: 4 as const, address: parseIp("10.5.9.0")!.value, prefix: 24 } };
    const leaseSet = createLeaseSet(own);
    const seen: LeaseEvent[] = [];
    const controller = new AbortController();
    const done = (async () => {
      for await (const events of createEtcdSubnetManager({ store, prefix: currentPrefix, log: createMemoryLog() }).watchLeases(controller.signal)) {
        seen.push(...leaseSet.apply(events));
      }
    })().catch(() => undefined);
    await waitFor(() => seen.length === 1, { what: "the snapshot's one peer" });
    await etcd.etcdctl("del", `${currentPrefix}/subnets/10.5.5.0-24`);
    await waitFor(() => seen.length === 2, { what: "the removal" });
    const removal = seen[1]!;
    assert.equal(removal.kind, "removed");
    assert.equal(removal.kind === "removed" && (removal.lease.attrs.backendData as { VtepMAC: string }).VtepMAC, "02:00:00:00:00:05");
    assert.ok(seen.every((event) => event.kind !== "snapshot" && formatCidr(event.lease.subnet!) !== "10.5.9.0/24"));
    controller.abort();
    await done;
  });

  test("etcd stopped for 20 s and restarted: after recovery the watcher's view equals etcd's", { timeout: 90_000 }, async () => {
    currentPrefix = newPrefix();
    for (let i = 1; i <= 5; i++) await etcd.etcdctl("put", `${currentPrefix}/subnets/10.6.${i}.0-24`, leaseValue(`198.18.0.${i}`, `02:00:00:00:01:0${i}`));
    const { view, log, stop } = await startWatch();
    await waitFor(() => view.leases.size === 5, { what: "the snapshot" });
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.6.6.0-24`, leaseValue("198.18.0.6", "02:00:00:00:01:06"));
    await etcd.stop();
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    await etcd.start();
    // Changes right after the restart, while the watcher is still reconnecting.
    await etcd.etcdctl("del", `${currentPrefix}/subnets/10.6.1.0-24`);
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.6.2.0-24`, leaseValue("198.18.0.22", "02:00:00:00:01:22"));
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.6.7.0-24`, leaseValue("198.18.0.7", "02:00:00:00:01:07"));
    const expected = await etcdView(currentPrefix);
    await waitFor(() => JSON.stringify([...view.leases].sort()) === JSON.stringify([...expected].sort()), { what: "the view to match etcd", timeoutMs: 20_000 });
    assert.ok(log.find("reconnecting", "warn").length >= 1, "the outage should have been logged");
    await stop();
  });

  test("a compaction while the watcher is disconnected: a new snapshot, no lease lost", async () => {
    currentPrefix = newPrefix();
    const real = await connectEtcdStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 2000 });
    stores.push(real);
    // A store whose watches can be cut, and kept from reconnecting until released.
    let cut = false;
    let release: () => void = () => {};
    let released = Promise.resolve();
    const cuttable: EtcdStore = {
      ...real,
      async *watch(target, afterRevision, signal): AsyncGenerator<WatchUpdate> {
        await released;
        for await (const update of real.watch(target, afterRevision, signal)) {
          if (cut) throw new FlannelError("etcd-unavailable", "test: connection cut");
          yield update;
        }
      },
    };
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.7.1.0-24`, leaseValue("198.18.0.1", "02:00:00:00:02:01"));
    const { view, stop } = await startWatch(cuttable);
    await waitFor(() => view.snapshots === 1 && view.leases.size === 1, { what: "the snapshot" });

    released = new Promise((resolve) => (release = resolve));
    cut = true;
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.7.2.0-24`, leaseValue("198.18.0.2", "02:00:00:00:02:02"));
    await etcd.etcdctl("del", `${currentPrefix}/subnets/10.7.1.0-24`);
    await etcd.etcdctl("put", `${currentPrefix}/subnets/10.7.3.0-24`, leaseValue("198.18.0.3", "02:00:00:00:02:03"));
    const status = JSON.parse(await etcd.etcdctl("endpoint", "status", "-w", "json")) as Array<{ Status: { header: { revision: number } } }>;
    await etcd.etcdctl("compact", String(status[0]!.Status.header.revision));
    cut = false;
    release();

    const expected = await etcdView(currentPrefix);
    await waitFor(() => JSON.stringify([...view.leases].sort()) === JSON.stringify([...expected].sort()), { what: "the view to match etcd", timeoutMs: 15_000 });
    assert.equal(view.snapshots, 2, "the compaction must lead to exactly one new snapshot");
    await stop();
  });
});
