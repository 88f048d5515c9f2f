// The lab's bash probes must not depend on the operator's shell start-up files: under `npm run`
// (SHLVL=0) bash treats Node's socketpair stdin as a remote shell and sources ~/.bashrc, and a
// stuck rc file once made every lab readiness probe time out.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { bashScript, run } from "../../../../deploy/lab/tools/command.ts";

test("a bash script run by the lab tools does not source ~/.bashrc, even at SHLVL 0 with a socket on stdin", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "flannel-ts-bashrc-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(join(home, ".bashrc"), "echo SOURCED-BASHRC\n");
  const env = { ...process.env, HOME: home, SHLVL: "0" };
  // The condition the helper guards against is real on this machine's bash: without --norc the rc file runs.
  const plain = await run(["bash", "-c", 'echo "body $0 $1"', "probe", "arg"], { env });
  assert.equal(plain.stdout, "SOURCED-BASHRC\nbody probe arg\n");
  const guarded = await run(bashScript('echo "body $0 $1"', "probe", "arg"), { env });
  assert.equal(guarded.stdout, "body probe arg\n");
});
