// The own lease while the datastore is unreachable: renewals fail, nothing is revoked, the keeper
// keeps going — and says so loudly: one error when the lease will run out before it can be
// renewed, naming the expiry, one when the expiry passes; retries come sooner near the end.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { keepLease, type OwnLeaseEvent, type OwnLeaseSource } from "../../../../agent/subnet/etcd/lease-keeper.ts";
import type { Lease } from "../../../../agent/subnet/manager.ts";
import { parseCidr, parseIp } from "../../../../backends/net/ip.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";

function lease(expiresInMs: number): Lease {
  return { subnet: parseCidr("10.244.7.0/24")!, attrs: { publicIP: parseIp("198.18.0.7")!, backendType: "vxlan" }, expiresAt: new Date(Date.now() + expiresInMs) } as Lease;
}

/** A store that cannot be reached: every renewal fails, the watch yields nothing until stopped. */
function unreachable(): OwnLeaseSource & { renewals: number } {
  const source = {
    renewals: 0,
    async renew(): Promise<Lease> {
      source.renewals += 1;
      throw new Error("etcd-unavailable: connect ECONNREFUSED");
    },
    async *watchOwnLease(_lease: Lease, signal: AbortSignal): AsyncIterable<OwnLeaseEvent> {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
  };
  return source;
}

test("an unrenewable lease: an error naming its expiry before it runs out, another when it passes; the keeper stays", async () => {
  const log = createMemoryLog();
  const source = unreachable();
  const own = lease(2500);
  const stop = new AbortController();
  const keeping = keepLease({ source, lease: own, renewMarginMs: 2000, retryAfterFailureMs: 60_000, log }, stop.signal);
  let outcome: string | undefined;
  void keeping.then((result) => (outcome = result));
  await sleep(1500);
  const soon = log.entries.filter((entry) => entry.level === "error" && entry.message.includes("expires soon"));
  assert.equal(soon.length, 1);
  assert.equal(soon[0]?.fields?.expiresAt, own.expiresAt!.toISOString());
  await sleep(1700);
  const expired = log.entries.filter((entry) => entry.level === "error" && entry.message.includes("expired unrenewed"));
  assert.equal(expired.length, 1);
  assert.equal(expired[0]?.fields?.expiresAt, own.expiresAt!.toISOString());
  // Retried well within the minute a healthy failure would wait, and never stopped meanwhile.
  assert.ok(source.renewals >= 2, `renewals: ${source.renewals}`);
  assert.equal(outcome, undefined);
  assert.equal(log.entries.filter((entry) => entry.message.includes("expires soon")).length, 1);
  stop.abort();
  assert.equal(await keeping, "stopped");
});

test("a failed renewal far from expiry is a warning only", async () => {
  const log = createMemoryLog();
  const stop = new AbortController();
  const keeping = keepLease({ source: unreachable(), lease: lease(3_600_000), renewMarginMs: 3_599_800, retryAfterFailureMs: 60_000, log }, stop.signal);
  await sleep(600);
  assert.equal(log.entries.filter((entry) => entry.level === "error").length, 0);
  assert.equal(log.find("lease renewal failed", "warn").length, 1);
  stop.abort();
  await keeping;
});
