// Runs last in `npm test` (scripts/run-tests.ts puts it there): every test file must have
// removed the namespaces and processes it created. The runner sweeps leftovers after this check,
// so a failure here is the only trace a leak leaves — it must not pass silently.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../deploy/lab/tools/command.ts";
import { isAlive } from "../../deploy/lab/tools/exit-guard.ts";
import { listRunNamespaces } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { runPrefix, runStateDir } from "../support/run-context.ts";

test("no namespace with the run's prefix survives the suite", { skip: needsRoot }, () => {
  assert.deepEqual(listRunNamespaces(), [], `namespaces of run ${runPrefix} left behind`);
});

test("no process recorded by the run is still alive", () => {
  const recorded = readdirSync(join(runStateDir, "pids")).map(Number);
  assert.deepEqual(recorded.filter(isAlive), [], "processes started by the tests are still running");
});

test("the root namespace has the same links as before the suite", { skip: process.env.FLANNEL_TS_ROOT_LINKS === undefined && "only under the suite runner" }, async () => {
  const { stdout } = await run(["ip", "-o", "link", "show"]);
  const now = stdout.split("\n").flatMap((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? []).sort();
  assert.deepEqual(now, (process.env.FLANNEL_TS_ROOT_LINKS ?? "").split(",").filter(Boolean), "a test created or removed a link in the root namespace");
});
