// VERSION for every spec version, and GC (spec 1.1.0): this network's saved delegate configs of
// containers the runtime no longer lists are removed; listed ones, other networks' and unreadable
// ones are kept. Through dist/bin/flannel, in a node
// namespace, with the real bridge and host-local for the ADDs.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { callCni, flannelCniPlugin } from "../../deploy/lab/tools/cni.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { flannelConf, makeScratch, savedFiles, writeSubnetEnv, type Scratch } from "./fixture.ts";

const allVersions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

describe("VERSION and GC", { skip: needsRoot }, () => {
  let node: Namespace;
  const pods: Namespace[] = [];
  let scratch: Scratch;

  before(async () => {
    node = await createNamespace("cnigc");
    scratch = makeScratch("gc");
    writeSubnetEnv(scratch, 80);
  });
  after(async () => {
    for (const pod of pods) await pod.remove();
    await node?.remove();
    scratch?.remove();
  });

  test("VERSION lists every supported version and answers in the requested one", async () => {
    for (const version of allVersions) {
      const reply = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "VERSION", config: { cniVersion: version } });
      assert.equal(reply.code, 0, reply.stdout + reply.stderr);
      assert.deepEqual(reply.json(), { cniVersion: version, supportedVersions: allVersions }, version);
    }
    // No input at all (spec < 1.0.0 sends none): the latest.
    const bare = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "VERSION" });
    assert.deepEqual(bare.json(), { cniVersion: "1.1.0", supportedVersions: allVersions });
  });

  test("GC removes the saved configs of containers not in cni.dev/valid-attachments, keeps the others", async () => {
    const conf = flannelConf(scratch, { cniVersion: "1.1.0" });
    const ids = ["gc-keep", "gc-stale-1", "gc-stale-2"];
    for (const containerId of ids) {
      const pod = await createNamespace("pod");
      pods.push(pod);
      const add = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config: conf, containerId, pod: pod.name });
      assert.equal(add.code, 0, add.stdout + add.stderr);
    }
    // Another flannel network sharing the (default) dataDir, and a file nobody can read.
    writeFileSync(join(scratch.dataDir, "other-net-ctr"), '{"name":"othernet","type":"bridge"}');
    writeFileSync(join(scratch.dataDir, "garbled"), "{");
    const before = [...ids, "garbled", "other-net-ctr"].sort();
    assert.deepEqual(savedFiles(scratch), before);

    const gc = (config: Record<string, unknown>) => callCni({ node: node.name, plugin: flannelCniPlugin, command: "GC", config });

    const old = await gc({ ...conf, cniVersion: "1.0.0", "cni.dev/valid-attachments": [] });
    assert.equal(old.json().code, 1, "GC needs cniVersion 1.1.0");
    const noList = await gc(conf);
    assert.equal(noList.json().code, 7, "no list is refused, not read as 'nothing is valid'");
    assert.deepEqual(savedFiles(scratch), before, "refused GCs removed nothing");

    const reply = await gc({ ...conf, "cni.dev/valid-attachments": [{ containerID: "gc-keep", ifname: "eth0" }, { containerID: "elsewhere", ifname: "eth0" }] });
    assert.equal(reply.code, 0, reply.stdout + reply.stderr);
    assert.equal(reply.stdout, "");
    assert.deepEqual(savedFiles(scratch), ["garbled", "gc-keep", "other-net-ctr"], "only this network's stale configs are removed");

    const keep = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "DEL", config: conf, containerId: "gc-keep", pod: pods[0]!.name });
    assert.equal(keep.code, 0, keep.stdout + keep.stderr);
    assert.deepEqual(savedFiles(scratch), ["garbled", "other-net-ctr"]);
  });
});
