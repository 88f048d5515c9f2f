// Peers coming and going: a line per peer for small batches (as Flannel logs each subnet), one
// summary line for a burst, so that a node starting into a cluster of thousands does not spend a
// tenth of its CPU writing log lines.
import assert from "node:assert/strict";
import { test } from "node:test";
import { logPeerChanges, perPeerLogLimit } from "../../../agent/ops/peer-change-log.ts";
import type { LeaseChange } from "../../../agent/subnet/lease-set.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { createMemoryLog } from "../../support/memory-log.ts";

function change(kind: "added" | "removed", n: number): LeaseChange {
  return { kind, lease: { subnet: parseCidr(`10.244.${n}.0/24`)!, attrs: { publicIP: parseIp(`198.18.0.${n}`)!, backendType: "vxlan" } } } as LeaseChange;
}

test("a small batch is logged peer by peer, with subnet and public IP", () => {
  const log = createMemoryLog();
  logPeerChanges(log, [change("added", 3), change("removed", 4)]);
  assert.deepEqual(
    log.entries.map((entry) => [entry.message, entry.fields]),
    [
      ["peer added", { peer: "10.244.3.0/24", publicIP: "198.18.0.3" }],
      ["peer removed", { peer: "10.244.4.0/24", publicIP: "198.18.0.4" }],
    ],
  );
});

test("a burst is one line with the counts and the first subnets", () => {
  const log = createMemoryLog();
  const burst = [...Array.from({ length: 40 }, (_, i) => change("added", i + 1)), change("removed", 200)];
  assert.ok(burst.length > perPeerLogLimit);
  logPeerChanges(log, burst);
  assert.equal(log.entries.length, 1);
  assert.deepEqual(log.entries[0]?.fields, {
    added: 40,
    removed: 1,
    firstAdded: ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24", "10.244.5.0/24"],
    firstRemoved: ["10.244.200.0/24"],
  });
});
