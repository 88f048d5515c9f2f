// While the agent starts, subnet.env does not exist yet. ADD waits for it (bounded by
// subnetFileWaitSeconds) instead of failing the pod at once as Flannel does, and gives up with
// code 11 "try again later"; STATUS answers code 50 meanwhile. Run through dist/bin/flannel with
// the real bridge and host-local.
import assert from "node:assert/strict";
import { renameSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { callCni, flannelCniPlugin } from "../../deploy/lab/tools/cni.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { allocations, flannelConf, ipv4Of, makeScratch, savedFiles, subnetEnvText, vethsIn, type Scratch } from "./fixture.ts";

describe("waiting for the agent", { skip: needsRoot }, () => {
  let node: Namespace;
  const namespaces: Namespace[] = [];
  const scratches: Scratch[] = [];

  before(async () => {
    node = await createNamespace("cniwait");
  });
  after(async () => {
    for (const ns of namespaces) await ns.remove();
    await node?.remove();
    for (const scratch of scratches) scratch.remove();
  });

  async function fresh(hint: string): Promise<{ pod: Namespace; scratch: Scratch }> {
    const pod = await createNamespace("pod");
    namespaces.push(pod);
    const scratch = makeScratch(hint);
    scratches.push(scratch);
    return { pod, scratch };
  }

  /** Written as the agent writes it: whole, then renamed into place. */
  function agentWritesSubnetEnv(scratch: Scratch, third: number): void {
    writeFileSync(`${scratch.subnetFile}.tmp`, subnetEnvText(third));
    renameSync(`${scratch.subnetFile}.tmp`, scratch.subnetFile);
  }

  test("subnet.env appearing 2 s after ADD started: ADD waits and succeeds", async () => {
    const { pod, scratch } = await fresh("late");
    const conf = flannelConf(scratch, { delegate: { bridge: "cni70" } });
    const adding = callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId: "late-1", pod: pod.name });
    await sleep(2000);
    agentWritesSubnetEnv(scratch, 70);
    const add = await adding;
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.ok(add.elapsedMs >= 2000, `returned after ${add.elapsedMs} ms, before subnet.env existed`);
    assert.ok(add.elapsedMs < 2000 + 3000, `took ${add.elapsedMs} ms after subnet.env appeared`);
    assert.match((await ipv4Of(pod, "eth0")).addresses[0]!, /^10\.244\.70\.\d+\/24$/);
    const del = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId: "late-1", pod: pod.name });
    assert.equal(del.code, 0, del.stdout + del.stderr);
  });

  test("subnet.env never appearing: code 11 once subnetFileWaitSeconds (1) is over, nothing left", async () => {
    const { pod, scratch } = await fresh("never");
    const add = await callCni({
      node: node.name,
      plugin: flannelCniPlugin,
      command: "ADD",
      config: flannelConf(scratch, { subnetFileWaitSeconds: 1 }),
      containerId: "never-1",
      pod: pod.name,
    });
    assert.equal(add.code, 1);
    const error = add.json<{ code: number; msg: string; details: string }>();
    assert.equal(error.code, 11);
    assert.equal(error.msg, `the flannel agent is not ready on this node: ${scratch.subnetFile} does not exist`);
    assert.match(error.details, /waited 1 s/);
    assert.ok(add.elapsedMs >= 1000, `gave up after ${add.elapsedMs} ms, before the bound`);
    assert.ok(add.elapsedMs < 1000 + 2000, `gave up after ${add.elapsedMs} ms, long after the bound`);
    assert.deepEqual(await vethsIn(node), []);
    assert.equal(allocations(scratch).size, 0);
    assert.deepEqual(savedFiles(scratch), []);
  });

  test("STATUS: code 50 while subnet.env is missing or invalid, success once the agent wrote it", async () => {
    const { scratch } = await fresh("status");
    const conf = flannelConf(scratch, { cniVersion: "1.1.0" });
    const status = (config: unknown = conf) => callCni({ node: node.name, plugin: flannelCniPlugin, command: "STATUS", config });

    const missing = await status();
    assert.equal(missing.code, 1);
    assert.equal(missing.json().code, 50);
    assert.match(String(missing.json().msg), /^the flannel agent is not ready on this node: .* does not exist$/);

    writeFileSync(scratch.subnetFile, "FLANNEL_MTU=1450\n");
    const invalid = await status();
    assert.equal(invalid.json().code, 50);
    assert.match(String(invalid.json().msg), /is missing FLANNEL_NETWORK/);

    agentWritesSubnetEnv(scratch, 71);
    const ready = await status();
    assert.equal(ready.code, 0, ready.stdout + ready.stderr);
    assert.equal(ready.stdout, "");

    const old = await status({ ...conf, cniVersion: "1.0.0" });
    assert.equal(old.json().code, 1, "STATUS needs cniVersion 1.1.0");
  });
});
