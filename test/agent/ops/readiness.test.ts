// The readiness evaluation: each condition alone turns the node unready with a line naming it,
// and the node is ready only when every condition holds.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FlannelError } from "../../../backends/errors.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { createOpsRecord, type OpsRecord } from "../../../agent/ops/ops-record.ts";
import { readinessProblems, type ReadinessOptions } from "../../../agent/ops/readiness.ts";
import type { Lease } from "../../../agent/subnet/manager.ts";

const t0 = Date.parse("2026-12-05T04:00:00Z");
const options: ReadinessOptions = { nearExpiryMs: 30 * 60_000, peerWatch: "leases" };

function lease(extra: Partial<Lease> = {}): Lease {
  return { subnet: parseCidr("10.244.1.0/24")!, attrs: { publicIP: parseIp("198.18.0.1")!, backendType: "vxlan" }, ...extra };
}

/** A record in which every condition holds at t0. */
function readyRecord(clock: { now: number } = { now: t0 }): OpsRecord {
  const record = createOpsRecord({ now: () => clock.now });
  record.leaseAcquired(lease({ expiresAt: new Date(t0 + 24 * 3600_000) }));
  record.subnetEnvWritten();
  record.watchFollowing("leases");
  record.watchFollowing("own-lease");
  record.reconcileRun({ kind: "full", durationMs: 3, report: { added: 4, removed: 0, repaired: 0, errors: [] } }, 2);
  record.devicesChecked(undefined);
  record.rulesChecked(undefined);
  return record;
}

const problems = (record: OpsRecord, now = t0): string[] => readinessProblems(record, options, now);

describe("readiness", () => {
  test("a fresh agent is unready for every condition it has not met, each named on its own line", () => {
    const found = problems(createOpsRecord({ now: () => t0 }));
    assert.deepEqual(found, [
      "lease: not acquired yet",
      "subnet.env: not written yet",
      "datastore watch: the leases watch has not started",
      "reconcile: the data plane has not been reconciled yet",
    ]);
  });

  test("ready when every condition holds", () => {
    assert.deepEqual(problems(readyRecord()), []);
  });

  test("a lease near its expiry, expired or lost makes the node unready; a reservation never expires", () => {
    const record = readyRecord();
    assert.deepEqual(problems(record, t0 + 23.6 * 3600_000), [`lease: expires at ${new Date(t0 + 24 * 3600_000).toISOString()} (in 1440 s) and was not renewed`]);
    assert.match(problems(record, t0 + 25 * 3600_000).join("\n"), /^lease: expired at /);
    record.leaseChanged(lease({ expiresAt: new Date(t0 + 48 * 3600_000) }));
    assert.deepEqual(problems(record, t0 + 23.6 * 3600_000), [], "a renewal moves the expiry");
    record.leaseChanged(lease({ reservation: true }));
    assert.deepEqual(problems(record, t0 + 1000 * 24 * 3600_000), []);
    record.leaseLost();
    assert.deepEqual(problems(record), ["lease: lost"]);
  });

  test("in kube mode the lease's nominal expiry is ignored: nothing renews or expires a podCIDR", () => {
    const record = createOpsRecord({ now: () => t0, leasesExpire: false });
    record.leaseAcquired(lease({ expiresAt: new Date(t0 + 24 * 3600_000) }));
    assert.equal(record.lease?.expiresAt, undefined);
    assert.ok(!problems(record, t0 + 30 * 24 * 3600_000).some((line) => line.startsWith("lease:")));
  });

  test("an interrupted watch makes the node unready until it follows the store again, naming the watch and the error code", () => {
    const clock = { now: t0 };
    const record = readyRecord(clock);
    clock.now = t0 + 5000;
    record.watchInterrupted("leases", "etcd-unavailable");
    record.watchRestarted("leases", "error");
    record.watchInterrupted("leases", "etcd-unavailable"); // each retry fails the same way: the time stays the first one
    assert.deepEqual(problems(record, t0 + 9000), [`datastore watch: leases interrupted since ${new Date(t0 + 5000).toISOString()} (etcd-unavailable), reconnecting`]);
    record.watchFollowing("leases");
    assert.deepEqual(problems(record), []);
  });

  test("the last data-plane run decides: entry errors or a throw make the node unready, a clean run makes it ready again", () => {
    const record = readyRecord();
    const error = new FlannelError("kernel-command-failed", "RTNETLINK answers: Network is unreachable");
    record.reconcileRun({ kind: "resync", durationMs: 2, report: { added: 0, removed: 0, repaired: 0, errors: [error] } }, 2);
    assert.match(problems(record).join("\n"), /^reconcile: the last resync run at .* had entry errors: 1 entry error\(s\), first: RTNETLINK answers: Network is unreachable$/);
    record.reconcileRun({ kind: "full", durationMs: 2, error: new Error("ip exited") }, 2);
    assert.match(problems(record).join("\n"), /^reconcile: the last full run at .* failed: ip exited$/);
    record.reconcileRun({ kind: "apply", durationMs: 1, report: { added: 3, removed: 0, repaired: 0, errors: [] } }, 3);
    assert.deepEqual(problems(record), []);
  });

  test("a missing device and a failed rule check are named", () => {
    const record = readyRecord();
    record.devicesChecked("flannel.1 missing");
    record.rulesChecked("the last check failed: iptables-restore: exit 4");
    assert.deepEqual(problems(record), ["device: flannel.1 missing", "rules: the last check failed: iptables-restore: exit 4"]);
  });
});

describe("the operational record", () => {
  test("peers programmed: every peer after a clean full run, moved by applies, a lower bound after entry errors", () => {
    const record = createOpsRecord();
    const report = (errors = 0) => ({ added: 1, removed: 0, repaired: 0, errors: Array.from({ length: errors }, () => new FlannelError("kernel-command-failed", "x")) });
    record.reconcileRun({ kind: "full", durationMs: 1, report: report() }, 5);
    assert.equal(record.peersProgrammed, 5);
    record.reconcileRun({ kind: "apply", durationMs: 1, report: report() }, 6);
    assert.equal(record.peersProgrammed, 6);
    record.reconcileRun({ kind: "apply", durationMs: 1, report: report(1) }, 7);
    assert.equal(record.peersProgrammed, 6);
    record.reconcileRun({ kind: "resync", durationMs: 1, report: report(2) }, 7);
    assert.equal(record.peersProgrammed, 5);
    record.reconcileRun({ kind: "full", durationMs: 1, error: new Error("boom") }, 7);
    assert.equal(record.peersProgrammed, 5, "a run that threw says nothing about the kernel");
    record.reconcileRun({ kind: "resync", durationMs: 1, report: report() }, 7);
    assert.equal(record.peersProgrammed, 7);
  });

  test("counts runs by kind and outcome, entries by change, and kernel errors by code", () => {
    const record = createOpsRecord();
    record.reconcileRun({ kind: "resync", durationMs: 1, report: { added: 0, removed: 1, repaired: 2, errors: [new FlannelError("kernel-command-failed", "x")] } }, 1);
    record.reconcileRun({ kind: "full", durationMs: 1, error: new FlannelError("kernel-output-invalid", "y") }, 1);
    assert.equal(record.reconcileRuns.get({ kind: "resync", outcome: "entry-errors" }), 1);
    assert.equal(record.reconcileRuns.get({ kind: "full", outcome: "failed" }), 1);
    assert.equal(record.reconcileEntries.get({ kind: "resync", change: "repaired" }), 2);
    assert.equal(record.reconcileEntries.get({ kind: "resync", change: "removed" }), 1);
    assert.equal(record.kernelErrors.get({ component: "dataplane", code: "kernel-command-failed" }), 1);
    assert.equal(record.kernelErrors.get({ component: "dataplane", code: "kernel-output-invalid" }), 1);
  });
});
