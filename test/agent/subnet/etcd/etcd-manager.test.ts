// The etcd subnet manager against a real etcd (Debian etcd-server): Flannel's keys and JSON,
// acquire preferences, races, reservations, bad configs, and the own lease kept alive (renewed,
// or reported lost) from acquire until close.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isFlannelError } from "../../../../backends/errors.ts";
import { formatCidr, parseCidr, parseIp } from "../../../../backends/net/ip.ts";
import { createEtcdSubnetManager, type EtcdSubnetManager } from "../../../../agent/subnet/etcd/etcd-manager.ts";
import type { EtcdStore } from "../../../../agent/subnet/etcd/store-contract.ts";
import { connectEtcdStore } from "../../../../agent/subnet/etcd/store.ts";
import type { Lease, LeaseAttrs } from "../../../../agent/subnet/manager.ts";
import { run } from "../../../../deploy/lab/tools/command.ts";
import { startEtcd, type EtcdServer } from "../../../support/etcd.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";

const vxlanAttrs = (publicIP: string, mac = "c6:d2:32:6f:8f:44"): LeaseAttrs => ({
  publicIP: parseIp(publicIP)!,
  backendType: "vxlan",
  backendData: { VNI: 1, VtepMAC: mac },
});
const subnetText = (lease: Lease): string => formatCidr(lease.subnet!);

let etcd: EtcdServer;
const stores: EtcdStore[] = [];
const managers: EtcdSubnetManager[] = [];
let prefixCounter = 0;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  // A manager keeps its lease from acquire until close(): close them all, then the stores.
  for (const m of managers) await m.close();
  for (const store of stores) await store.close();
  await etcd.dispose();
});

async function newStore(): Promise<EtcdStore> {
  const store = await connectEtcdStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 3000 });
  stores.push(store);
  return store;
}

/** A fresh prefix per test, so tests never see each other's leases. */
async function network(config: string): Promise<string> {
  prefixCounter += 1;
  const prefix = `/test${prefixCounter}/network`;
  await etcd.etcdctl("put", `${prefix}/config`, config);
  return prefix;
}

async function manager(prefix: string, extra: Partial<Parameters<typeof createEtcdSubnetManager>[0]> = {}): Promise<EtcdSubnetManager> {
  const m = createEtcdSubnetManager({ store: await newStore(), prefix, log: createMemoryLog(), configRetryMs: 50, ...extra });
  managers.push(m);
  return m;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await etcd.etcdctl("get", "--prefix", "--keys-only", `${prefix}/`);
  return out.split("\n").filter((line) => line !== "");
}

/** The etcd lease ID a key is attached to, "0" for none. Read from the raw JSON: IDs exceed 2^53. */
async function etcdLeaseOf(key: string): Promise<string> {
  const out = await etcd.etcdctl("get", "-w", "json", key);
  return /"lease":(\d+)/.exec(out)?.[1] ?? "0";
}

describe("etcd subnet manager", () => {
  test("acquires a lease stored under Flannel's key with Flannel's JSON and a 24 h etcd lease", async () => {
    const prefix = await network('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    const lease = await (await manager(prefix)).acquire(vxlanAttrs("198.18.0.1"), AbortSignal.timeout(10_000));
    const key = `${prefix}/subnets/${subnetText(lease).replace("/", "-")}`;
    assert.deepEqual(await keysUnder(`${prefix}/subnets`), [key]);
    const value = (await etcd.etcdctl("get", "--print-value-only", key)).trim();
    assert.equal(value, '{"PublicIP":"198.18.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}');
    const ttl = JSON.parse(await etcd.etcdctl("lease", "timetolive", "-w", "json", BigInt(await etcdLeaseOf(key)).toString(16))) as { ttl: number; "granted-ttl": number };
    assert.equal(ttl["granted-ttl"], 86400);
    const hoursLeft = (lease.expiresAt!.getTime() - Date.now()) / 3_600_000;
    assert.ok(hoursLeft > 23.9 && hoursLeft <= 24, `expiry ${hoursLeft} h from now`);
    // Default SubnetMin skips the first /24 and SubnetMax is the last: never 10.5.0.0.
    assert.notEqual(subnetText(lease), "10.5.0.0/24");
    assert.equal(lease.subnet!.prefix, 24);
  });

  test("dual-stack keys carry both subnets", async () => {
    const prefix = await network('{"Network":"10.6.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:6::/56","Backend":{"Type":"host-gw"}}');
    const lease = await (await manager(prefix)).acquire(
      { publicIP: parseIp("198.18.0.2")!, publicIPv6: parseIp("fd00:198::2")!, backendType: "host-gw" },
      AbortSignal.timeout(10_000),
    );
    assert.equal(lease.subnetV6!.prefix, 64);
    const [key] = await keysUnder(`${prefix}/subnets`);
    assert.equal(key, `${prefix}/subnets/${subnetText(lease).replace("/", "-")}&${formatCidr(lease.subnetV6!).replace("/", "-")}`);
    const value = (await etcd.etcdctl("get", "--print-value-only", key!)).trim();
    assert.equal(value, '{"PublicIP":"198.18.0.2","PublicIPv6":"fd00:198::2","BackendType":"host-gw"}');
  });

  test("50 managers acquiring at the same moment get 50 distinct subnets, and get them back by PublicIP", async () => {
    const prefix = await network('{"Network":"10.7.0.0/16","Backend":{"Type":"vxlan"}}');
    const managers = await Promise.all(Array.from({ length: 50 }, () => manager(prefix)));
    const ips = managers.map((_, i) => `198.18.1.${i + 1}`);
    const first = await Promise.all(managers.map((m, i) => m.acquire(vxlanAttrs(ips[i]!), AbortSignal.timeout(30_000))));
    const subnets = first.map(subnetText);
    assert.equal(new Set(subnets).size, 50, `duplicates in ${subnets.join(" ")}`);
    assert.equal((await keysUnder(`${prefix}/subnets`)).length, 50);

    const again = await Promise.all(managers.map((m, i) => m.acquire(vxlanAttrs(ips[i]!, "aa:bb:cc:dd:ee:ff"), AbortSignal.timeout(30_000))));
    assert.deepEqual(again.map(subnetText), subnets);
    assert.equal((await keysUnder(`${prefix}/subnets`)).length, 50);
  });

  test("a restart with only the old subnet.env gets the old subnet back", async () => {
    const prefix = await network('{"Network":"10.8.0.0/16","Backend":{"Type":"vxlan"}}');
    const lease = await (await manager(prefix)).acquire(vxlanAttrs("198.18.0.3"), AbortSignal.timeout(10_000));
    await etcd.etcdctl("del", "--prefix", `${prefix}/subnets/`);
    // A new PublicIP (say, a re-addressed node): only the subnet.env hint ties it to its old subnet.
    const previous = { subnet: lease.subnet! };
    const restarted = await (await manager(prefix, { previous })).acquire(vxlanAttrs("198.18.0.33"), AbortSignal.timeout(10_000));
    assert.equal(subnetText(restarted), subnetText(lease));
  });

  test("the previous subnet is not taken when another node holds it", async () => {
    const prefix = await network('{"Network":"10.9.0.0/16","Backend":{"Type":"vxlan"}}');
    const other = await (await manager(prefix)).acquire(vxlanAttrs("198.18.0.4"), AbortSignal.timeout(10_000));
    const mine = await (await manager(prefix, { previous: { subnet: other.subnet! } })).acquire(vxlanAttrs("198.18.0.5"), AbortSignal.timeout(10_000));
    assert.notEqual(subnetText(mine), subnetText(other));
  });

  test("a lost create race is retried with another subnet (Flannel exits with 'subnet already exists')", async () => {
    const prefix = await network('{"Network":"10.10.0.0/16","Backend":{"Type":"vxlan"}}');
    const store = await newStore();
    let stolen: string | undefined;
    // Another node wins the first candidate between our list and our create.
    const racing: EtcdStore = {
      ...store,
      async createIfAbsent(key, value, leaseId, signal) {
        if (stolen === undefined) {
          stolen = key;
          await store.put(key, '{"PublicIP":"198.18.9.9","PublicIPv6":null,"BackendType":"vxlan"}', 0n, signal);
        }
        return store.createIfAbsent(key, value, leaseId, signal);
      },
    };
    const log = createMemoryLog();
    const lease = await (await manager(prefix, { store: racing, log })).acquire(vxlanAttrs("198.18.0.6"), AbortSignal.timeout(10_000));
    assert.ok(stolen !== undefined);
    assert.ok(!stolen.endsWith(subnetText(lease).replace("/", "-")), "must not end up on the stolen subnet");
    assert.equal((await keysUnder(`${prefix}/subnets`)).length, 2);
    assert.equal(log.find("another node took the subnet first").length, 1);
  });

  test("a reservation (key without an etcd lease) is reused and never given a TTL", async () => {
    const prefix = await network('{"Network":"10.11.0.0/16","Backend":{"Type":"vxlan"}}');
    const key = `${prefix}/subnets/10.11.77.0-24`;
    await etcd.etcdctl("put", key, '{"PublicIP":"198.18.0.7"}');
    const m = await manager(prefix);
    const lease = await m.acquire(vxlanAttrs("198.18.0.7"), AbortSignal.timeout(10_000));
    assert.equal(subnetText(lease), "10.11.77.0/24");
    assert.equal(lease.reservation, true);
    assert.equal(lease.expiresAt, undefined);
    assert.equal(await etcdLeaseOf(key), "0");
    // The value now carries our attributes, still without a lease; renewing keeps it that way.
    assert.match(await etcd.etcdctl("get", "--print-value-only", key), /"VtepMAC":"c6:d2:32:6f:8f:44"/);
    await m.renew(lease, AbortSignal.timeout(10_000));
    assert.equal(await etcdLeaseOf(key), "0");
  });

  test("a lease that no longer fits the config is deleted and a new one allocated", async () => {
    const prefix = await network('{"Network":"10.12.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}');
    const old = await (await manager(prefix)).acquire(vxlanAttrs("198.18.0.8"), AbortSignal.timeout(10_000));
    await etcd.etcdctl("put", `${prefix}/config`, '{"Network":"10.12.0.0/16","SubnetLen":26,"Backend":{"Type":"vxlan"}}');
    const fresh = await (await manager(prefix)).acquire(vxlanAttrs("198.18.0.8"), AbortSignal.timeout(10_000));
    assert.equal(fresh.subnet!.prefix, 26);
    const keys = await keysUnder(`${prefix}/subnets`);
    assert.equal(keys.length, 1);
    assert.ok(!keys[0]!.endsWith(subnetText(old).replace("/", "-")));
  });

  test("out of subnets names the range", async () => {
    const prefix = await network('{"Network":"10.13.0.0/28","Backend":{"Type":"vxlan"}}');
    // A /28 gives /30 subnets; SubnetMin skips the first, leaving three.
    for (let i = 1; i <= 3; i++) await (await manager(prefix)).acquire(vxlanAttrs(`198.18.2.${i}`), AbortSignal.timeout(10_000));
    await assert.rejects(
      (await manager(prefix)).acquire(vxlanAttrs("198.18.2.4"), AbortSignal.timeout(10_000)),
      (error) => isFlannelError(error, "out-of-subnets") && error.message.includes("10.13.0.0/28"),
    );
  });

  test("a missing config is waited for with a clear log line", async () => {
    prefixCounter += 1;
    const prefix = `/test${prefixCounter}/network`;
    const log = createMemoryLog();
    const m = createEtcdSubnetManager({ store: await newStore(), prefix, log, configRetryMs: 50 });
    const pending = m.networkConfig(AbortSignal.timeout(10_000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await etcd.etcdctl("put", `${prefix}/config`, '{"Network":"10.14.0.0/16"}');
    const conf = await pending;
    assert.equal(conf.backendType, "udp");
    const waiting = log.find("flannel config not found in etcd store", "warn");
    assert.equal(waiting.length, 1, "one line for the wait, not one per retry");
    assert.ok(waiting[0]!.message.includes(`${prefix}/config`));
  });

  for (const [name, config, field] of [
    ["a config that is not JSON", "Network: 10.0.0.0/8", "$"],
    ["a config whose Network is invalid", '{"Network":"10.300.0.0/16"}', "Network"],
    ["a config whose SubnetLen is too long", '{"Network":"10.15.0.0/16","SubnetLen":31}', "SubnetLen"],
  ] as const) {
    test(`${name} is an error naming the key and the problem, and nothing is written`, async () => {
      const prefix = await network(config);
      await assert.rejects((await manager(prefix)).acquire(vxlanAttrs("198.18.0.9"), AbortSignal.timeout(10_000)), (error) => {
        assert.ok(isFlannelError(error, "netconf-invalid"), String(error));
        assert.ok(error.message.includes(`${prefix}/config`), error.message);
        assert.equal(error.details.field, field);
        return true;
      });
      assert.deepEqual(await keysUnder(prefix), [`${prefix}/config`]);
    });
  }

  test("unreachable endpoints: the wait for the config names them, and nothing is written", async () => {
    const prefix = await network('{"Network":"10.16.0.0/16"}');
    const store = await connectEtcdStore({ endpoints: ["http://127.0.0.1:9"], requestTimeoutMs: 300 });
    stores.push(store);
    const log = createMemoryLog();
    const m = createEtcdSubnetManager({ store, prefix, log, configRetryMs: 50 });
    await assert.rejects(m.acquire(vxlanAttrs("198.18.0.10"), AbortSignal.timeout(2000)));
    const warning = log.find("waiting for the network config", "warn")[0];
    assert.ok(warning !== undefined && warning.message.includes("127.0.0.1:9"), JSON.stringify(log.entries));
    assert.deepEqual(await keysUnder(prefix), [`${prefix}/config`]);
  });
});

describe("keeping the own lease (renewal and revocation)", () => {
  test("renews with a fresh etcd lease before the old one runs out; the key never disappears", async () => {
    const prefix = await network('{"Network":"10.17.0.0/16","Backend":{"Type":"vxlan"}}');
    const renewals: Lease[] = [];
    const m = await manager(prefix, { leaseTtlSeconds: 4, renewMarginMs: 2500, onLeaseChanged: (l) => renewals.push(l) });
    await m.acquire(vxlanAttrs("198.18.0.11"), AbortSignal.timeout(10_000));
    const key = (await keysUnder(`${prefix}/subnets`))[0]!;
    const firstEtcdLease = await etcdLeaseOf(key);
    // Three TTLs long: without renewal the key would be gone after 4 s.
    for (let i = 0; i < 24; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(await keysUnder(`${prefix}/subnets`), [key], `key vanished after ${(i + 1) * 0.5} s`);
    }
    await m.close();
    assert.ok(renewals.length >= 3, `only ${renewals.length} renewals`);
    assert.notEqual(await etcdLeaseOf(key), firstEtcdLease);
    assert.ok(renewals.at(-1)!.expiresAt!.getTime() > Date.now() + 1000);
  });

  test("the own lease deleted → lost settles as revoked, with Flannel's log line", async () => {
    const prefix = await network('{"Network":"10.18.0.0/16","Backend":{"Type":"vxlan"}}');
    const log = createMemoryLog();
    const m = await manager(prefix, { log });
    await m.acquire(vxlanAttrs("198.18.0.12"), AbortSignal.timeout(10_000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await etcd.etcdctl("del", "--prefix", `${prefix}/subnets/`);
    assert.equal(await m.lost, "revoked");
    assert.equal(log.find("Lease has been revoked. Shutting down daemon.", "error").length, 1);
  });

  test("the own lease expiring (renewals refused) → revoked", async () => {
    const prefix = await network('{"Network":"10.19.0.0/16","Backend":{"Type":"vxlan"}}');
    // The store refuses new etcd leases once acquired, so every renewal fails and is retried
    // only after a minute: the 2 s lease runs out.
    let refuse = false;
    const base = await newStore();
    const store = new Proxy(base, {
      get(target, property, receiver) {
        if (property === "grantLease" && refuse) return () => Promise.reject(new Error("renewals refused by the test"));
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const log = createMemoryLog();
    const m = await manager(prefix, { store, log, leaseTtlSeconds: 2, renewMarginMs: 1000, retryAfterFailureMs: 60_000 });
    await m.acquire(vxlanAttrs("198.18.0.13"), AbortSignal.timeout(10_000));
    refuse = true;
    const outcome = await Promise.race([m.lost, new Promise((resolve) => setTimeout(resolve, 15_000, "timeout"))]);
    assert.equal(outcome, "revoked");
    assert.ok(log.find("lease renewal failed; retrying", "warn").length >= 1);
  });

  test("close() stops the keeper: lost never settles and no renewal happens after it", async () => {
    const prefix = await network('{"Network":"10.21.0.0/16","Backend":{"Type":"vxlan"}}');
    const renewals: Lease[] = [];
    const m = await manager(prefix, { leaseTtlSeconds: 3, renewMarginMs: 2000, onLeaseChanged: (l) => renewals.push(l) });
    await m.acquire(vxlanAttrs("198.18.0.14"), AbortSignal.timeout(10_000));
    await m.close();
    const seen = renewals.length;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(renewals.length, seen);
    assert.equal(await Promise.race([m.lost, Promise.resolve("pending")]), "pending");
  });
});

describe("agents as separate processes", () => {
  test("50 processes acquiring at the same moment get 50 distinct subnets", async () => {
    const prefix = await network('{"Network":"10.20.0.0/16","Backend":{"Type":"vxlan"}}');
    const worker = new URL("./acquire-worker.ts", import.meta.url).pathname;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => run([process.execPath, worker, etcd.endpoint, prefix, `198.18.3.${i + 1}`], { timeoutMs: 120_000 })),
    );
    const subnets = results.map((result) => result.stdout.trim());
    for (const subnet of subnets) assert.ok(parseCidr(subnet) !== undefined, `not a subnet: ${subnet}`);
    assert.equal(new Set(subnets).size, 50, `duplicates in ${subnets.join(" ")}`);
    assert.equal((await keysUnder(`${prefix}/subnets`)).length, 50);
  });
});
