// The reconcile loop: one run at a time, triggers during a run coalesced into one follow-up,
// a resync timer, firstSuccess after the first clean run, a failing run retried later.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import type { ReconcileReport } from "../../backends/backend.ts";
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
