// `npm run lab` through its CLI entry, on the pinned Node: `--once` builds a 3-node cluster (real
// etcd, real flanneld, real pods), finds every pod reaching every other pod, exits 0 and leaves
// nothing behind; `down` removes a lab whose process was killed with SIGKILL mid-run; and Ctrl-C
// tears a lab down even when nobody reads its output any more.
// Lab names carry the run's prefix, so the suite's leftover sweep would also catch a leak.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { run } from "../../deploy/lab/tools/command.ts";
import { listRunNamespaces } from "../support/netns.ts";
import { spawnProcess, waitFor } from "../support/process.ts";
import { needsRoot } from "../support/root.ts";
import { uniqueName } from "../support/run-context.ts";
import { defaultStateRoot } from "../../deploy/lab/layout.ts";

const projectRoot = resolve(import.meta.dirname, "../..");
const pinnedNode = join(projectRoot, "node_modules/node/bin/node");
const labMain = join(projectRoot, "deploy/lab/main.ts");

function labNamespaces(name: string): string[] {
  return listRunNamespaces(`${name}-`);
}

/** Processes whose command line names the lab's state directory (etcd's data dir, flanneld's subnet file). */
function labProcesses(name: string): number[] {
  const marker = `${join(defaultStateRoot, name)}/`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function assertNothingLeft(name: string): void {
  assert.deepEqual(labNamespaces(name), [], "namespaces of the lab are left");
  assert.deepEqual(labProcesses(name), [], "processes of the lab are left");
  assert.equal(existsSync(join(defaultStateRoot, name)), false, "the lab's state directory is left");
}

describe("npm run lab", { skip: needsRoot }, () => {
  const names: string[] = [];
  after(async () => {
    // Whatever a failed test left: `down` removes it from the record (a no-op when all is gone).
    for (const name of names) await run([pinnedNode, labMain, "down", "--name", name], { allowFailure: true, timeoutMs: 120_000 });
  });

  test("--once: a 3-node vxlan lab where every pod reaches every other pod, then nothing of it remains", { timeout: 240_000 }, async () => {
    const name = uniqueName("lab");
    names.push(name);
    const result = await run([pinnedNode, labMain, "--once", "--nodes", "3", "--name", name], { allowFailure: true, timeoutMs: 200_000 });
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 0, output);

    // The matrix: 6 pods (2 per node), one row each, ✓ everywhere but the diagonal.
    const rows = result.stdout.split("\n").filter((line) => /^n\d+p\d+\s/.test(line));
    assert.equal(rows.length, 6, output);
    for (const row of rows) {
      assert.equal((row.match(/✓/g) ?? []).length, 5, `row ${row}\n${output}`);
      assert.doesNotMatch(row, /✗/);
    }
    assert.match(result.stdout, /30\/30 pod pairs reachable/);
    // The status table: every node has its subnet, both peers programmed, and is ready.
    const nodeRows = result.stdout.split("\n").filter((line) => /^node\d+\s/.test(line));
    assert.equal(nodeRows.length, 3, output);
    for (const row of nodeRows) assert.match(row, /^node\d\s+198\.18\.0\.\d\s+10\.244\.\d+\.1\/24\s+vxlan\s+2\/2\s+yes$/, output);
    assert.match(result.stdout, /removed everything/);

    assertNothingLeft(name);
  });

  test("--once --kube: the same cluster on the lab's API server with agents in kube mode; kubectl shows flannel's annotations", { timeout: 240_000 }, async () => {
    const name = uniqueName("lab");
    names.push(name);
    const result = await run([pinnedNode, labMain, "--once", "--kube", "--nodes", "3", "--name", name], { allowFailure: true, timeoutMs: 200_000 });
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 0, output);
    assert.match(result.stdout, /30\/30 pod pairs reachable/);
    // Kube mode leases are the nodes' podCIDRs, handed out in order: node1 10.244.0.0/24, …
    // The lab's status table (public IP second; kubectl's rows below have STATUS or POD-CIDR there).
    const nodeRows = result.stdout.split("\n").filter((line) => /^node\d+\s+198\.18\./.test(line));
    assert.deepEqual(
      nodeRows.map((row) => row.split(/\s+/).slice(0, 6).join(" ")),
      [1, 2, 3].map((i) => `node${i} 198.18.0.${i} 10.244.${i - 1}.1/24 vxlan 2/2 yes`),
      output,
    );
    // The real kubectl's view: -o wide, then the annotations each agent wrote on its Node.
    assert.match(result.stdout, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP/m);
    for (let i = 1; i <= 3; i++) {
      assert.match(result.stdout, new RegExp(`^node${i}\\s+10\\.244\\.${i - 1}\\.0/24\\s+198\\.18\\.0\\.${i}\\s+vxlan\\s+\\{"VNI":1,"VtepMAC":"([0-9a-f]{2}:){5}[0-9a-f]{2}"\\}\\s+true$`, "m"), output);
    }
    assert.match(result.stdout, /removed everything/);
    assertNothingLeft(name);
  });

  test("down removes a lab whose process was killed with SIGKILL mid-run", { timeout: 240_000 }, async () => {
    const name = uniqueName("lab");
    names.push(name);
    const lab = spawnProcess([pinnedNode, labMain, "--nodes", "2", "--name", name]);
    await waitFor(() => /pod pairs reachable/.test(lab.output()), { what: "the lab's first status", timeoutMs: 120_000, intervalMs: 200, process: lab });
    await lab.stop("SIGKILL");

    // Killed without a chance to clean up: its namespaces, etcd and agents are still there.
    assert.ok(labNamespaces(name).length >= 3, `expected the lab's namespaces to survive SIGKILL: ${labNamespaces(name).join(" ")}`);
    assert.ok(labProcesses(name).length >= 3, "expected etcd and the agents to survive SIGKILL");

    const down = await run([pinnedNode, labMain, "down", "--name", name], { allowFailure: true, timeoutMs: 120_000 });
    assert.equal(down.code, 0, down.stdout + down.stderr);
    assert.match(down.stdout, new RegExp(`${name}: removed`));
    assertNothingLeft(name);
  });

  test("Ctrl-C tears the lab down even when its output pipe is gone (`npm run lab | tee log`: the same Ctrl-C ends tee)", { timeout: 240_000 }, async () => {
    const name = uniqueName("lab");
    names.push(name);
    const lab = spawnProcess([pinnedNode, labMain, "--nodes", "2", "--name", name]);
    await waitFor(() => /pod pairs reachable/.test(lab.output()), { what: "the lab's first status", timeoutMs: 120_000, intervalMs: 200, process: lab });
    // Close our ends of its stdout and stderr: every write the lab makes from now on fails with EPIPE.
    lab.child.stdout?.destroy();
    lab.child.stderr?.destroy();
    const exit = await lab.stop("SIGINT", 90_000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assertNothingLeft(name);
  });
});
