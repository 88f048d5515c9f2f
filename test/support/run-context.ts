// Identity of one test run: the prefix every namespace (and other named kernel object) of the
// run carries, and a state directory where spawned PIDs are recorded.
//
// The suite runner (scripts/run-tests.ts) sets FLANNEL_TS_RUN_PREFIX so that all test files of a
// run share one prefix and the runner can sweep whatever a crashed file left behind. A test file
// started on its own gets a prefix of its own.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const runPrefixVariable = "FLANNEL_TS_RUN_PREFIX";

function makeRunPrefix(): string {
  // Short: namespace names show up in many `ip` outputs, and pod interface names are derived from them.
  return `ft${randomBytes(3).toString("hex")}-`;
}

export const runPrefix: string = process.env[runPrefixVariable] ?? makeRunPrefix();
process.env[runPrefixVariable] = runPrefix;

/** Where this run records the PIDs it started (one file each), so a sweep can end them by PID. */
export const runStateDir: string = join(tmpdir(), `flannel-ts-${runPrefix.replace(/-$/, "")}`);
mkdirSync(join(runStateDir, "pids"), { recursive: true });

let counter = 0;
/** A name unique within the run: `<prefix><hint><n>`, e.g. `ft1a2b3c-node3`. */
export function uniqueName(hint: string): string {
  counter += 1;
  return `${runPrefix}${hint}${process.pid % 1000}x${counter}`;
}
