// Peers coming and going: a line per peer while they come slowly (as Flannel logs each subnet), one
// summary line per window for a burst — also when etcd delivers the burst one event at a time —
// so that a node starting into a cluster of thousands does not spend a tenth of its CPU writing
// log lines.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { createPeerChangeLog, perPeerLogLimit } from "../../../agent/ops/peer-change-log.ts";
import type { LeaseChange } from "../../../agent/subnet/lease-set.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { createMemoryLog } from "../../support/memory-log.ts";

function change(kind: "added" | "removed", n: number): LeaseChange {
  return { kind, lease: { subnet: parseCidr(`10.244.${n}.0/24`)!, attrs: { publicIP: parseIp(`198.18.0.${n}`)!, backendType: "vxlan" } } } as LeaseChange;
}

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test("a few changes are logged peer by peer, with subnet and public IP", () => {
  const log = createMemoryLog();
  const peers = createPeerChangeLog(log, { now: manualClock().now });
  peers.record([change("added", 3), change("removed", 4)]);
  assert.deepEqual(
    log.entries.map((entry) => [entry.message, entry.fields]),
    [
      ["peer added", { peer: "10.244.3.0/24", publicIP: "198.18.0.3" }],
      ["peer removed", { peer: "10.244.4.0/24", publicIP: "198.18.0.4" }],
    ],
  );
  peers.close();
  assert.equal(log.entries.length, 2, "nothing was held back, so close() adds no summary");
});

test("a burst delivered one change at a time gets its own lines up to the limit, then one summary with the counts and the first subnets", () => {
  const log = createMemoryLog();
  const clock = manualClock();
  const peers = createPeerChangeLog(log, { now: clock.now, windowMs: 1000 });
  for (let i = 1; i <= 40; i++) {
    peers.record([change("added", i)]);
    clock.advance(5);
  }
  peers.record([change("removed", 200)]);
  assert.equal(log.entries.length, perPeerLogLimit, "the first changes of the window are logged one by one");
  peers.close();
  assert.equal(log.entries.length, perPeerLogLimit + 1);
  assert.deepEqual(log.entries.at(-1), {
    level: "info",
    message: "peers changed",
    fields: {
      added: 40 - perPeerLogLimit,
      removed: 1,
      firstAdded: ["10.244.11.0/24", "10.244.12.0/24", "10.244.13.0/24", "10.244.14.0/24", "10.244.15.0/24"],
      firstRemoved: ["10.244.200.0/24"],
    },
  });
});

test("a new window logs peer by peer again, after the last window's summary", () => {
  const log = createMemoryLog();
  const clock = manualClock();
  const peers = createPeerChangeLog(log, { now: clock.now, windowMs: 1000 });
  peers.record(Array.from({ length: perPeerLogLimit + 3 }, (_, i) => change("added", i + 1)));
  clock.advance(1000);
  peers.record([change("removed", 1)]);
  assert.deepEqual(
    log.entries.slice(perPeerLogLimit).map((entry) => entry.message),
    ["peers changed", "peer removed"],
  );
  assert.equal(log.entries[perPeerLogLimit]?.fields?.added, 3);
  peers.close();
});

test("a held summary is logged when its window ends, without waiting for another change", async () => {
  const log = createMemoryLog();
  const peers = createPeerChangeLog(log, { windowMs: 50 });
  peers.record(Array.from({ length: perPeerLogLimit + 2 }, (_, i) => change("added", i + 1)));
  assert.equal(log.entries.length, perPeerLogLimit);
  await sleep(200);
  assert.equal(log.entries.length, perPeerLogLimit + 1);
  assert.equal(log.entries.at(-1)?.message, "peers changed");
  peers.close();
  assert.equal(log.entries.length, perPeerLogLimit + 1, "close() after the summary logs nothing more");
});
