// What dist/bin/flannel promises around its delegate, observed with a stand-in `bridge` that
// records what it is given (CNI_PATH points at it): Flannel's exact delegate bytes, no saved
// config after a failed ADD or when the result cannot be delivered, DEL from the saved bytes
// only, and — unlike Flannel — a saved config that outlives a failed DEL so a retry can finish.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { callCni, flannelCniPlugin, type CniCall } from "../../deploy/lab/tools/cni.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { makeFakeDelegate, makeScratch, savedConf, savedFiles, writeSubnetEnv, type FakeDelegate, type Scratch } from "./fixture.ts";

describe("the hand-off to the delegate, through the built plugin", { skip: needsRoot }, () => {
  let node: Namespace;
  let scratch: Scratch;
  let delegate: FakeDelegate;
  let round = 0;
  const scratches: Scratch[] = [];

  before(async () => {
    node = await createNamespace("cnifk");
  });
  after(async () => {
    await node?.remove();
  });
  beforeEach(() => {
    round += 1;
    scratch = makeScratch(`fake${round}`);
    scratches.push(scratch);
    delegate = makeFakeDelegate(join(scratch.dir, "bin"));
    writeSubnetEnv(scratch, 50);
  });
  after(() => {
    for (const each of scratches) each.remove();
  });

  // The stand-in touches no network; CNI_NETNS (required for ADD) just names the node's own.
  function call(command: string, config: unknown, extra: Partial<CniCall> = {}) {
    return callCni({ node: node.name, plugin: flannelCniPlugin, command, config, containerId: "ctr-1", pod: node.name, cniPath: delegate.dir, ...extra });
  }

  test("Flannel's test input: the saved file and the delegate's stdin are Flannel's expected bytes", async () => {
    writeFileSync(scratch.subnetFile, "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n");
    const conf = { name: "cni-flannel", type: "flannel", subnetFile: scratch.subnetFile, dataDir: scratch.dataDir };
    const add = await call("ADD", conf);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const expected =
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"}],"type":"host-local"},' +
      '"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}';
    assert.equal(savedConf(scratch, "ctr-1"), expected);
    assert.equal(delegate.stdin("ADD"), expected);
    assert.equal(add.stdout, '{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.244.1.2/24"}]}\n', "the delegate's result, unchanged");
    assert.deepEqual(savedFiles(scratch), ["ctr-1"], "no temporary file left beside it");
  });

  test("a failed delegate ADD: its error and exit status reach the runtime, no saved config stays", async () => {
    delegate.fail("ADD", '{"code":999,"msg":"failed to allocate for range 0"}');
    const add = await call("ADD", { cniVersion: "1.0.0", name: "cbr0", dataDir: scratch.dataDir, subnetFile: scratch.subnetFile });
    assert.equal(add.code, 7);
    assert.deepEqual(add.json(), { code: 999, msg: "failed to allocate for range 0" });
    assert.deepEqual(savedFiles(scratch), []);
  });

  test("a result that cannot be written (/dev/full): the ADD is undone with DEL, no saved config stays", async () => {
    const add = await call("ADD", { cniVersion: "1.0.0", name: "cbr0", dataDir: scratch.dataDir, subnetFile: scratch.subnetFile }, { stdoutTo: "/dev/full" });
    assert.equal(add.code, 1);
    assert.deepEqual(delegate.calls(), ["ADD", "DEL"]);
    assert.equal(delegate.stdin("DEL"), delegate.stdin("ADD"));
    assert.deepEqual(savedFiles(scratch), []);
  });

  test("DEL hands the delegate the saved bytes, not a config rebuilt from the request or subnet.env", async () => {
    const conf = { cniVersion: "1.0.0", name: "cbr0", dataDir: scratch.dataDir, subnetFile: scratch.subnetFile };
    assert.equal((await call("ADD", conf)).code, 0);
    const saved = savedConf(scratch, "ctr-1");
    writeSubnetEnv(scratch, 51, { mtu: 9000 }); // the agent restarted with another lease
    const del = await call("DEL", { ...conf, delegate: { type: "ptp" }, runtimeConfig: { x: 1 } });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.equal(delegate.stdin("DEL"), saved);
    assert.deepEqual(savedFiles(scratch), []);
  });

  test("a failed delegate DEL keeps the saved config (Flannel removes it) so the runtime's retry can finish", async () => {
    const conf = { cniVersion: "1.0.0", name: "cbr0", dataDir: scratch.dataDir, subnetFile: scratch.subnetFile };
    assert.equal((await call("ADD", conf)).code, 0);
    delegate.fail("DEL", '{"code":11,"msg":"netlink busy"}');
    const failed = await call("DEL", conf);
    assert.equal(failed.code, 7);
    assert.deepEqual(failed.json(), { code: 11, msg: "netlink busy" });
    assert.deepEqual(savedFiles(scratch), ["ctr-1"], "kept for the retry");
    delegate.succeed("DEL");
    const retry = await call("DEL", conf);
    assert.equal(retry.code, 0, retry.stdout + retry.stderr);
    assert.deepEqual(savedFiles(scratch), []);
    assert.deepEqual(delegate.calls(), ["ADD", "DEL", "DEL"]);
  });

  test("an unparsable saved config: DEL succeeds, says so on stderr, keeps the file, calls no delegate", async () => {
    const conf = { cniVersion: "1.0.0", name: "cbr0", dataDir: scratch.dataDir, subnetFile: scratch.subnetFile };
    assert.equal((await call("ADD", conf)).code, 0);
    writeFileSync(join(scratch.dataDir, "ctr-1"), "{not json");
    const del = await call("DEL", conf);
    assert.equal(del.code, 0, del.stdout);
    assert.equal(del.stdout, "");
    assert.match(del.stderr, /does not parse/);
    assert.ok(existsSync(join(scratch.dataDir, "ctr-1")));
    assert.deepEqual(delegate.calls(), ["ADD"]);
  });

  test("a delegate missing from CNI_PATH: code 4 naming the directories searched, nothing saved", async () => {
    const add = await call("ADD", { cniVersion: "1.0.0", name: "cbr0", dataDir: scratch.dataDir, subnetFile: scratch.subnetFile, delegate: { type: "nosuch" } }, {
      cniPath: `${delegate.dir}:/nonexistent`,
    });
    assert.equal(add.code, 1);
    const error = add.json<{ code: number; msg: string }>();
    assert.equal(error.code, 4);
    assert.equal(error.msg, `failed to find plugin "nosuch" in CNI_PATH [${delegate.dir} /nonexistent]`);
    assert.deepEqual(savedFiles(scratch), []);
  });
});
