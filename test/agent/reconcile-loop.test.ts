// The reconcile loop: one run at a time, triggers during a run coalesced into one follow-up,
// a resync timer, firstSuccess after the first clean run, a failing run retried later; lease
// changes applied incrementally in order, with a full reconcile after an apply that needs one.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import type { Peer, PeerChange, ReconcileReport } from "../../backends/backend.ts";
import { parseCidr, parseIp } from "../../backends/net/ip.ts";
import { FlannelError } from "../../backends/errors.ts";
import { startReconcileLoop } from "../../agent/reconcile-loop.ts";
import { createMemoryLog } from "../support/memory-log.ts";

const clean: ReconcileReport = { added: 0, removed: 0, repaired: 0, errors: [] };

test("triggers during a run are coalesced into one follow-up run; runs never overlap", async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const loop = startReconcileLoop(
    {
      reconcile: async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        runs += 1;
        await sleep(30);
        running -= 1;
        return clean;
      },
      resyncMs: 60_000,
      log: createMemoryLog(),
    },
    new AbortController().signal,
  );
  loop.trigger();
  await sleep(5);
  for (let i = 0; i < 10; i++) loop.trigger();
  await sleep(120);
  await loop.stop();
  assert.equal(runs, 2);
  assert.equal(maxRunning, 1);
});

test("the resync timer runs it without triggers; firstSuccess waits for a run without errors", async () => {
  let runs = 0;
  let succeeded = false;
  const loop = startReconcileLoop(
    {
      reconcile: async () => {
        runs += 1;
        if (runs === 1) throw new Error("kernel busy");
        return runs === 2 ? { ...clean, errors: [new FlannelError("kernel-command-failed", "one entry failed")] } : clean;
      },
      resyncMs: 20,
      log: createMemoryLog(),
    },
    new AbortController().signal,
  );
  void loop.firstSuccess.then(() => (succeeded = true));
  await sleep(150);
  await loop.stop();
  assert.ok(runs >= 3, `only ${runs} runs`);
  assert.ok(succeeded);
});

const peer = (n: number): Peer => ({ subnet: parseCidr(`10.5.${n}.0/24`)!, publicIP: parseIp(`192.0.2.${n}`)!, backendType: "vxlan" });
const subnetsOf = (changes: readonly PeerChange[]): string[] => changes.map((change) => `${change.kind} ${change.peer.subnet?.address}`);

test("submitted changes are applied in order, batched while a run is busy, and never reconcile by themselves", async () => {
  const calls: string[] = [];
  const applied: string[][] = [];
  const loop = startReconcileLoop(
    {
      reconcile: async (_signal, depth) => {
        calls.push(`reconcile ${depth}`);
        await sleep(20);
        return clean;
      },
      apply: async (changes) => {
        calls.push("apply");
        applied.push(subnetsOf(changes));
        await sleep(20);
        return { ...clean, needsReconcile: false };
      },
      resyncMs: 60_000,
      log: createMemoryLog(),
    },
    new AbortController().signal,
  );
  loop.submit([{ kind: "added", peer: peer(1) }]);
  await sleep(5);
  loop.submit([{ kind: "added", peer: peer(2) }]);
  loop.submit([{ kind: "removed", peer: peer(1) }]);
  await sleep(80);
  await loop.stop();
  assert.deepEqual(calls, ["apply", "apply"]);
  assert.deepEqual(applied, [subnetsOf([{ kind: "added", peer: peer(1) }]), subnetsOf([{ kind: "added", peer: peer(2) }, { kind: "removed", peer: peer(1) }])]);
});

test("an apply that needs the safety net, or throws, is followed by a full reconcile; the timer asks for cheap resyncs", async () => {
  const calls: string[] = [];
  let applies = 0;
  const loop = startReconcileLoop(
    {
      reconcile: async (_signal, depth) => {
        calls.push(`reconcile ${depth}`);
        return clean;
      },
      apply: async () => {
        applies += 1;
        calls.push("apply");
        if (applies === 2) throw new Error("writer gone");
        return { ...clean, needsReconcile: applies === 1 };
      },
      resyncMs: 40,
      log: createMemoryLog(),
    },
    new AbortController().signal,
  );
  loop.submit([{ kind: "added", peer: peer(1) }]);
  await sleep(10);
  loop.submit([{ kind: "added", peer: peer(2) }]);
  await sleep(10);
  assert.deepEqual(calls, ["apply", "reconcile full", "apply", "reconcile full"]);
  await sleep(60);
  await loop.stop();
  assert.ok(calls.slice(4).includes("reconcile resync"), calls.join(", "));
  assert.ok(!calls.slice(4).includes("reconcile full"), calls.join(", "));
});

test("onRun reports every run — completed or thrown — with its kind, its report or error, and how long it took", async () => {
  const runs: { kind: string; durationMs: number; errors?: number; threw?: string }[] = [];
  const peer: Peer = { subnet: parseCidr("10.244.9.0/24")!, publicIP: parseIp("198.18.0.9")!, backendType: "vxlan" };
  let reconciles = 0;
  const loop = startReconcileLoop(
    {
      reconcile: async (_signal, depth) => {
        reconciles += 1;
        await sleep(15);
        if (reconciles === 1) throw new Error("kernel busy");
        return depth === "full" ? clean : { ...clean, errors: [new FlannelError("kernel-command-failed", "x")] };
      },
      apply: async () => ({ ...clean, added: 3, needsReconcile: false }),
      resyncMs: 60_000,
      log: createMemoryLog(),
      onRun: (run) =>
        runs.push({
          kind: run.kind,
          durationMs: run.durationMs,
          ...(run.report === undefined ? {} : { errors: run.report.errors.length }),
          ...(run.error === undefined ? {} : { threw: (run.error as Error).message }),
        }),
    },
    new AbortController().signal,
  );
  loop.trigger();
  await sleep(40);
  loop.trigger();
  await sleep(40);
  loop.submit([{ kind: "added", peer }]);
  await sleep(20);
  await loop.stop();
  assert.deepEqual(runs.map(({ durationMs: _, ...rest }) => rest), [
    { kind: "full", threw: "kernel busy" },
    { kind: "full", errors: 0 },
    { kind: "apply", errors: 0 },
  ]);
  assert.ok(runs[0]!.durationMs >= 10 && runs[1]!.durationMs >= 10, `durations ${runs.map((r) => r.durationMs)}`);
});

test("a resync tick waits while lease changes flow, but never more than two ticks in a row", async () => {
  const kinds: string[] = [];
  const loop = startReconcileLoop(
    {
      reconcile: async (_signal, depth) => {
        kinds.push(depth);
        return clean;
      },
      apply: async () => {
        kinds.push("apply");
        return { ...clean, needsReconcile: false };
      },
      resyncMs: 40,
      log: createMemoryLog(),
    },
    new AbortController().signal,
  );
  const peer: Peer = { subnet: parseCidr("10.244.9.0/24")!, publicIP: parseIp("198.18.0.9")!, backendType: "vxlan" };
  // A change every 5 ms for 400 ms: ten resync periods, each within half a period of an apply.
  const until = performance.now() + 400;
  while (performance.now() < until) {
    loop.submit([{ kind: "added", peer }]);
    await sleep(5);
  }
  const resyncsDuringChurn = kinds.filter((kind) => kind === "resync").length;
  // Quiet again: every tick resyncs.
  const before = kinds.length;
  await sleep(200);
  await loop.stop();
  const resyncsWhenQuiet = kinds.slice(before).filter((kind) => kind === "resync").length;
  assert.ok(kinds.filter((kind) => kind === "apply").length > 20);
  // Ten ticks: without postponing about ten resyncs, with it one in three (three or four).
  assert.ok(resyncsDuringChurn >= 2 && resyncsDuringChurn <= 5, `resyncs during churn: ${resyncsDuringChurn}`);
  assert.ok(resyncsWhenQuiet >= 3, `resyncs when quiet: ${resyncsWhenQuiet}`);
});
