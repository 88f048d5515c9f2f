// The bookkeeping both change feeds share: what a stamp vouches for, and when it stops vouching.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EventLedger } from "../../../backends/kernel/event-ledger.ts";

test("a trusted stamp vouches for keys nothing was filed under since, while the same monitor listens", () => {
  const ledger = new EventLedger();
  ledger.nextGeneration();
  ledger.file("ROUTE eth0");
  const stamp = ledger.stamp(true);
  assert.equal(ledger.changedSince(stamp, ["ROUTE eth0", "NEIGH flannel.1"], true), false, "an event before the stamp is not a change after it");
  ledger.file("ROUTE cni0");
  assert.equal(ledger.changedSince(stamp, ["ROUTE eth0"], true), false, "another key's event");
  ledger.file("ROUTE eth0");
  assert.equal(ledger.changedSince(stamp, ["ROUTE eth0"], true), true);
  assert.equal(ledger.changedSince(ledger.stamp(true), ["ROUTE eth0"], true), false, "a newer stamp is past it");
});

test("a stamp stops vouching on an unfiled event, a new monitor, or a monitor not listening; an untrusted one never vouches", () => {
  const ledger = new EventLedger();
  ledger.nextGeneration();
  const stamp = ledger.stamp(true);
  assert.equal(ledger.changedSince(stamp, ["LINK eth0"], false), true, "not listening");
  assert.equal(ledger.changedSince(ledger.stamp(false), ["LINK eth0"], true), true, "untrusted");
  assert.equal(ledger.changedSince(undefined, ["LINK eth0"], true), true, "no stamp");
  ledger.file(undefined);
  assert.equal(ledger.changedSince(stamp, [], true), true, "a line that could not be filed changes every key");
  const later = ledger.stamp(true);
  assert.equal(ledger.changedSince(later, ["LINK eth0"], true), false);
  ledger.nextGeneration();
  assert.equal(ledger.changedSince(later, ["LINK eth0"], true), true, "a stamp of the previous monitor");
});
