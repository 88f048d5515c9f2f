// The kernel's change feed (`ip monitor`): events are filed under their kind and device, a stamp
// vouches only for what the feed saw while it listened, and anything it cannot vouch for reads
// as "changed" — the resync then reads the kernel as before.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { eventKey, openChangeFeed, type ChangeFeed } from "../../../backends/kernel/change-feed.ts";
import { spawnCoprocess } from "../../../backends/kernel/batch-process.ts";
import { prefixSpawner } from "../../../backends/kernel/command-prefix.ts";
import { isAlive } from "../../../deploy/lab/tools/exit-guard.ts";
import { needsRoot } from "../../support/root.ts";
import { createKernelNode, until, type KernelNode } from "./kernel-fixture.ts";

describe("eventKey", () => {
  test("files routes and neighbours (FDB entries included) under their `dev`", () => {
    assert.equal(eventKey("[ROUTE]10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink "), "ROUTE flannel.1");
    assert.equal(eventKey("[ROUTE]Deleted 10.244.3.0/24 via 198.18.0.3 dev eth0 "), "ROUTE eth0");
    assert.equal(eventKey("[NEIGH]198.18.9.2 dev flannel.1 lladdr 02:00:00:00:00:01 NOARP PERMANENT "), "NEIGH flannel.1");
  });

  test("files links and addresses under the name after the index", () => {
    assert.equal(eventKey("[LINK]4: flannel.1: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue state DOWN"), "LINK flannel.1");
    assert.equal(eventKey("[LINK]Deleted 7: veth1@if3: <BROADCAST> mtu 1500"), "LINK veth1");
    assert.equal(eventKey("[ADDR]4: flannel.1    inet 10.244.1.0/32 scope global flannel.1"), "ADDR flannel.1");
  });

  test("files IPv6 routes apart, and routes outside the main table apart", () => {
    assert.equal(eventKey("[ROUTE]fe80::/64 dev eth0 proto kernel metric 256 pref medium"), "ROUTE6 eth0");
    assert.equal(eventKey("[ROUTE]default via fe80::1 dev eth0 proto ra metric 1024 expires 1799sec pref medium"), "ROUTE6 eth0");
    assert.equal(eventKey("[ROUTE]local fe80::6406:c8ff:feaa:29d9 dev eth0 table local proto kernel metric 0 pref medium"), "ROUTE6 eth0 table local");
    assert.equal(eventKey("[ROUTE]local 10.244.1.0 dev flannel.1 table local proto kernel scope host src 10.244.1.0 "), "ROUTE flannel.1 table local");
    assert.equal(eventKey("[ROUTE]10.244.5.0/24 via inet6 fe80::1 dev eth0 "), "ROUTE6 eth0");
    assert.equal(eventKey("[ROUTE]blackhole 10.244.1.0/24 dev lo "), "ROUTE lo");
  });

  test("cannot file what it does not recognise", () => {
    assert.equal(eventKey("netlink receive error No buffer space available (105)"), undefined);
    assert.equal(eventKey("[NSID]current nsid 0"), undefined);
  });
});

describe("the change feed in a namespace", { skip: needsRoot }, () => {
  let node: KernelNode;
  let feed: ChangeFeed;
  before(async () => {
    node = await createKernelNode();
    feed = openChangeFeed(prefixSpawner(node.prefix, spawnCoprocess));
    await node.ns.ip("link", "add", "dev0", "type", "veth", "peer", "name", "dev0p");
    await node.ns.ip("link", "set", "dev0", "up");
    await node.ns.ip("link", "set", "dev0p", "up");
  });
  after(async () => {
    await feed?.close();
    await node?.remove();
  });

  test("a stamp taken before the monitor listens vouches for nothing", () => {
    const early = feed.stamp();
    assert.equal(early.trusted, false);
    assert.equal(feed.changedSince(early, ["ROUTE dev0"]), true);
  });

  test("once listening, a route change on a device is seen under that device only", async () => {
    assert.equal(await feed.ready(), true);
    const stamp = feed.stamp();
    assert.equal(stamp.trusted, true);
    assert.equal(feed.changedSince(stamp, ["ROUTE dev0", "NEIGH dev0"]), false);
    await node.ns.ip("route", "replace", "10.9.0.0/24", "dev", "dev0");
    await until(() => feed.changedSince(stamp, ["ROUTE dev0"]));
    assert.equal(feed.changedSince(stamp, ["NEIGH dev0", "ROUTE dev0p", "LINK dev0"]), false);
  });

  test("a change before a stamp does not count against it, yet still counts against an older one", async () => {
    await feed.ready();
    const older = feed.stamp();
    await node.ns.ip("route", "replace", "10.9.3.0/24", "dev", "dev0");
    await feed.drain();
    const newer = feed.stamp();
    assert.equal(feed.changedSince(newer, ["ROUTE dev0"]), false);
    assert.equal(feed.changedSince(older, ["ROUTE dev0"]), true);
  });

  test("a neighbour, an address and a link change are each seen under their device", async () => {
    const stamp = feed.stamp();
    await node.ns.ip("neigh", "replace", "10.9.0.7", "lladdr", "02:00:00:00:00:07", "dev", "dev0", "nud", "permanent");
    await until(() => feed.changedSince(stamp, ["NEIGH dev0"]));
    const second = feed.stamp();
    await node.ns.ip("address", "add", "10.9.9.1/32", "dev", "dev0p");
    await until(() => feed.changedSince(second, ["ADDR dev0p"]));
    const third = feed.stamp();
    await node.ns.ip("link", "set", "dev0", "down");
    await until(() => feed.changedSince(third, ["LINK dev0"]));
    await node.ns.ip("link", "set", "dev0", "up");
  });

  test("a monitor that died leaves every older stamp untrusted, and the next stamp starts a new one", async () => {
    await feed.ready();
    const stamp = feed.stamp();
    const monitor = await monitorPid();
    process.kill(monitor, "SIGKILL");
    await until(() => !isAlive(monitor));
    await sleep(50);
    assert.equal(feed.changedSince(stamp, ["ROUTE dev0"]), true);
    feed.stamp();
    assert.equal(await feed.ready(), true);
    const fresh = feed.stamp();
    assert.equal(feed.changedSince(fresh, ["ROUTE dev0"]), false);
    assert.equal(feed.changedSince(stamp, ["ROUTE dev0"]), true);
  });

  test("suspend() ends the monitor for a burst: older stamps are untrusted, a burst's changes cost no monitor, the next stamp starts a new one", async () => {
    assert.equal(await feed.ready(), true);
    const stamp = feed.stamp();
    const monitor = await monitorPid();
    await feed.suspend();
    assert.equal(isAlive(monitor), false, "the monitor process is gone");
    assert.deepEqual(await monitorPids(), [], "and no other monitor took its place");
    assert.equal(feed.changedSince(stamp, ["ROUTE dev0"]), true, "a suspended feed cannot vouch for the time it was off");
    await node.ns.ip("route", "replace", "10.9.5.0/24", "dev", "dev0");
    assert.deepEqual(await monitorPids(), [], "changes made while suspended start nothing");
    feed.stamp();
    assert.equal(await feed.ready(), true);
    const restarted = await monitorPid();
    assert.notEqual(restarted, monitor);
    const fresh = feed.stamp();
    assert.equal(fresh.trusted, true);
    assert.equal(feed.changedSince(fresh, ["ROUTE dev0"]), false);
    await node.ns.ip("route", "replace", "10.9.6.0/24", "dev", "dev0");
    await until(() => feed.changedSince(fresh, ["ROUTE dev0"]));
    await feed.suspend();
    await feed.suspend(); // idempotent
  });

  test("close() ends the monitor; stamps after it vouch for nothing", async () => {
    const other = openChangeFeed(prefixSpawner(node.prefix, spawnCoprocess));
    assert.equal(await other.ready(), true);
    const monitors = await monitorPids();
    await other.close();
    const left = await monitorPids();
    assert.equal(monitors.length - left.length, 1);
    const stamp = other.stamp();
    assert.equal(other.changedSince(stamp, []), true);
  });
});

/** PIDs of the `ip monitor` children of this process (`ip netns exec` execs, so they are ours). */
async function monitorPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").slice(0, 3).join(" ") !== "ip monitor label") continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (/^PPid:\s+(\d+)$/m.exec(status)?.[1] === String(process.pid)) pids.push(Number(entry));
  }
  return pids;
}

async function monitorPid(): Promise<number> {
  const [pid] = await monitorPids();
  if (pid === undefined) throw new Error("no ip monitor child");
  return pid;
}
