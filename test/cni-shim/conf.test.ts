// Reading an invocation, pure parts: the CNI_* variables and the network config as the Go skel
// checks them (with the spec's codes), the flannel plugin's fields and defaults, Flannel's checks
// on `delegate`, subnet.env loading and the bounded wait for it, and the VERSION answer.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { checkDelegateDictionary, defaultDataDir, defaultSubnetFile, defaultSubnetFileWaitSeconds, parseFlannelNetConf } from "../../cni-shim/conf.ts";
import { CniError, formatCniError } from "../../cni-shim/errors.ts";
import type { JsonObject } from "../../cni-shim/go-json.ts";
import { decodeNetworkConfig, parseJsonObject, readCniEnvironment } from "../../cni-shim/request.ts";
import { loadSubnetEnv, subnetFilePollMs, waitForSubnetEnv, type WaitClock } from "../../cni-shim/subnet-file.ts";
import { formatVersionResult, supportedCniVersions } from "../../cni-shim/versions.ts";

const scratch = mkdtempSync(join(tmpdir(), "flannel-ts-cni-conf-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function codeOf(run: () => unknown): { code: number; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof CniError) return { code: error.code, message: error.message };
    throw error;
  }
  assert.fail("expected a CniError");
}

const addEnv = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "abc", CNI_NETNS: "/var/run/netns/p", CNI_IFNAME: "eth0", CNI_PATH: "/usr/lib/cni" };

describe("CNI_* variables (skel rules, code 4)", () => {
  test("a complete ADD environment is accepted; CNI_PATH is split at ':'", () => {
    const env = readCniEnvironment({ ...addEnv, CNI_PATH: "/a::/b" });
    assert.deepEqual(env, { command: "ADD", containerId: "abc", netns: "/var/run/netns/p", ifname: "eth0", cniPath: ["/a", "/b"] });
  });

  test("each missing variable is named", () => {
    for (const name of ["CNI_NETNS", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]) {
      const result = codeOf(() => readCniEnvironment({ ...addEnv, [name]: undefined }));
      assert.deepEqual(result, { code: 4, message: `required env variables [${name}] missing` });
    }
    assert.equal(codeOf(() => readCniEnvironment({})).message, "required env variables [CNI_COMMAND] missing");
    assert.equal(codeOf(() => readCniEnvironment({ CNI_COMMAND: "FROB" })).message, "unknown CNI_COMMAND: FROB");
  });

  test("DEL does not need CNI_NETNS; GC and STATUS need only CNI_PATH; VERSION nothing", () => {
    assert.doesNotThrow(() => readCniEnvironment({ ...addEnv, CNI_COMMAND: "DEL", CNI_NETNS: undefined }));
    assert.doesNotThrow(() => readCniEnvironment({ CNI_COMMAND: "GC", CNI_PATH: "/x" }));
    assert.doesNotThrow(() => readCniEnvironment({ CNI_COMMAND: "STATUS", CNI_PATH: "/x" }));
    assert.doesNotThrow(() => readCniEnvironment({ CNI_COMMAND: "VERSION" }));
  });

  test("a container ID that is not a spec identifier is refused (it also names a file in dataDir)", () => {
    for (const id of ["../etc", "a/b", ".hidden", "-x", "a b"]) {
      assert.equal(codeOf(() => readCniEnvironment({ ...addEnv, CNI_CONTAINERID: id })).code, 4, id);
    }
    assert.doesNotThrow(() => readCniEnvironment({ ...addEnv, CNI_CONTAINERID: "default-Pod_1.a" }));
  });

  test("interface names follow Linux's rules", () => {
    for (const name of ["a23456789012345x", ".", "..", "a/b", "a:b", "a b"]) {
      assert.equal(codeOf(() => readCniEnvironment({ ...addEnv, CNI_IFNAME: name })).code, 4, name);
    }
  });
});

describe("the network config (skel rules)", () => {
  test("not JSON, or not an object: code 6", () => {
    for (const text of ["{", "", "[1]", '"x"']) assert.equal(codeOf(() => parseJsonObject(text, "network config")).code, 6, text);
  });

  test("every supported cniVersion is accepted; none means 0.1.0", () => {
    for (const version of supportedCniVersions) {
      assert.equal(decodeNetworkConfig({ cniVersion: version, name: "n" }).cniVersion, version);
    }
    assert.equal(decodeNetworkConfig({ name: "n" }).cniVersion, "0.1.0");
  });

  test("an unknown cniVersion is code 1, naming what is supported", () => {
    for (const version of ["1.2.0", "0.3", "v1.0.0"]) {
      const result = codeOf(() => decodeNetworkConfig({ cniVersion: version, name: "n" }));
      assert.equal(result.code, 1, version);
      assert.equal(result.message, "incompatible CNI versions");
    }
  });

  test("a missing or invalid network name is code 7", () => {
    assert.deepEqual(codeOf(() => decodeNetworkConfig({ cniVersion: "1.0.0" })), { code: 7, message: "missing network name" });
    assert.equal(codeOf(() => decodeNetworkConfig({ cniVersion: "1.0.0", name: "a/b" })).code, 7);
  });

  test("the error result carries the config's cniVersion, code, msg and details", () => {
    const error = new CniError(11, "try later", { details: "more" });
    assert.deepEqual(JSON.parse(formatCniError(error, "0.4.0")), { cniVersion: "0.4.0", code: 11, msg: "try later", details: "more" });
  });
});

describe("flannel's own fields", () => {
  test("defaults: Flannel's subnetFile and dataDir; subnetFileWaitSeconds 10", () => {
    const conf = parseFlannelNetConf({ name: "cbr0", type: "flannel" }, "cbr0");
    assert.equal(conf.subnetFile, "/run/flannel/subnet.env");
    assert.equal(conf.subnetFile, defaultSubnetFile);
    assert.equal(conf.dataDir, "/var/lib/cni/flannel");
    assert.equal(conf.dataDir, defaultDataDir);
    assert.equal(conf.subnetFileWaitSeconds, 10);
    assert.equal(defaultSubnetFileWaitSeconds, 10);
  });

  test("fields are matched case-insensitively, as Go's decoder does", () => {
    const conf = parseFlannelNetConf({ name: "n", SubnetFile: "/s", DATADIR: "/d", Delegate: { hairpinMode: true } }, "n");
    assert.equal(conf.subnetFile, "/s");
    assert.equal(conf.dataDir, "/d");
    assert.deepEqual(conf.delegate, { hairpinMode: true });
  });

  test("subnetFileWaitSeconds: 0 is allowed (do not wait), negatives and strings are not", () => {
    assert.equal(parseFlannelNetConf({ name: "n", subnetFileWaitSeconds: 0 }, "n").subnetFileWaitSeconds, 0);
    assert.equal(parseFlannelNetConf({ name: "n", subnetFileWaitSeconds: 2.5 }, "n").subnetFileWaitSeconds, 2.5);
    for (const value of [-1, "10"]) assert.equal(codeOf(() => parseFlannelNetConf({ name: "n", subnetFileWaitSeconds: value }, "n")).code, 7);
  });

  test("fields of the wrong type are an invalid config (code 7)", () => {
    const bads: JsonObject[] = [{ delegate: "bridge" }, { ipam: [] }, { runtimeConfig: 1 }, { subnetFile: 3 }, { dataDir: "" }];
    for (const bad of bads) {
      assert.equal(codeOf(() => parseFlannelNetConf({ name: "n", ...bad }, "n")).code, 7, JSON.stringify(bad));
    }
  });

  test("Flannel's checks on the delegate dictionary, with its messages", () => {
    assert.deepEqual(codeOf(() => checkDelegateDictionary({ type: 1 })), { code: 7, message: "'delegate' dictionary, if present, must have (string) 'type' field" });
    assert.deepEqual(codeOf(() => checkDelegateDictionary({ name: "x" })), { code: 7, message: "'delegate' dictionary must not have 'name' field, it'll be set by flannel" });
    assert.deepEqual(codeOf(() => checkDelegateDictionary({ ipam: {} })), { code: 7, message: "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel" });
    assert.equal(codeOf(() => checkDelegateDictionary({ type: "../../bin/sh" })).code, 7);
    assert.doesNotThrow(() => checkDelegateDictionary({ type: "ptp", hairpinMode: true }));
    assert.doesNotThrow(() => checkDelegateDictionary(undefined));
  });
});

describe("subnet.env for ADD", () => {
  test("missing: undefined (the one transient case)", () => {
    assert.equal(loadSubnetEnv(join(scratch, "nope.env")), undefined);
  });

  test("without FLANNEL_SUBNET: code 7 with Flannel's text", () => {
    const file = join(scratch, "no-subnet.env");
    writeFileSync(file, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
    assert.deepEqual(codeOf(() => loadSubnetEnv(file)), {
      code: 7,
      message: `failed to load flannel 'subnet.env' file: ${file} is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET. Check the flannel pod log for this node.`,
    });
  });

  test("unreadable (a directory): code 5", () => {
    const dir = join(scratch, "dir.env");
    mkdirSync(dir);
    const result = codeOf(() => loadSubnetEnv(dir));
    assert.equal(result.code, 5);
    assert.match(result.message, /^failed to load flannel 'subnet\.env' file: EISDIR/);
  });

  test("the wait polls every 50 ms until the file appears", () => {
    const file = join(scratch, "later.env");
    let now = 0;
    const sleeps: number[] = [];
    const clock: WaitClock = {
      now: () => now,
      sleep: (ms) => {
        sleeps.push(ms);
        now += ms;
        if (now >= 300) writeFileSync(file, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
      },
    };
    const env = waitForSubnetEnv(file, 10, clock);
    assert.equal(env.mtu, 1450);
    assert.deepEqual(sleeps, Array(6).fill(subnetFilePollMs));
  });

  test("the wait is bounded: code 11 after subnetFileWaitSeconds, naming the file and the agent", () => {
    let now = 0;
    const clock: WaitClock = { now: () => now, sleep: (ms) => void (now += ms) };
    const file = join(scratch, "never.env");
    const result = codeOf(() => waitForSubnetEnv(file, 1, clock));
    assert.equal(result.code, 11);
    assert.equal(result.message, `the flannel agent is not ready on this node: ${file} does not exist`);
    assert.equal(now, 1000, "gave up exactly at the bound");
  });

  test("subnetFileWaitSeconds 0 fails at once, still with code 11", () => {
    const clock: WaitClock = { now: () => 0, sleep: () => assert.fail("must not sleep") };
    assert.equal(codeOf(() => waitForSubnetEnv(join(scratch, "never.env"), 0, clock)).code, 11);
  });
});

describe("VERSION", () => {
  test("echoes a supported requested version (spec ≥ 1.0.0), else answers in 1.1.0", () => {
    for (const version of supportedCniVersions) {
      assert.deepEqual(JSON.parse(formatVersionResult(version)), { cniVersion: version, supportedVersions: [...supportedCniVersions] });
    }
    assert.equal(JSON.parse(formatVersionResult(undefined)).cniVersion, "1.1.0");
    assert.equal(JSON.parse(formatVersionResult("7.0.0")).cniVersion, "1.1.0");
  });
});
