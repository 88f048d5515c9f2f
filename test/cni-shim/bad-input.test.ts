// Every bad input gets its CNI error code from dist/bin/flannel (with the real bridge and
// host-local behind it) and leaves nothing behind: no veth in the node namespace, no interface in
// the pod, no host-local reservation, no saved delegate config.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { callCni, flannelCniPlugin, type CniCall } from "../../deploy/lab/tools/cni.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { allocations, flannelConf, linksIn, makeScratch, savedFiles, vethsIn, writeSubnetEnv, type Scratch } from "./fixture.ts";

interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

interface Case {
  readonly name: string;
  readonly code: number;
  readonly msg?: RegExp;
  /** Prepare the scratch dir and return the call's config and overrides. */
  readonly arrange: (scratch: Scratch) => { config: unknown; call?: Partial<CniCall> };
}

const cases: Case[] = [
  { name: "malformed JSON", code: 6, arrange: () => ({ config: '{"cniVersion":"0.3.1","name":' }) },
  { name: "a JSON array instead of an object", code: 6, arrange: () => ({ config: "[]" }) },
  { name: "missing CNI_NETNS", code: 4, msg: /\[CNI_NETNS\]/, arrange: (s) => ({ config: flannelConf(s), call: { env: { CNI_NETNS: undefined } } }) },
  { name: "missing CNI_CONTAINERID", code: 4, msg: /\[CNI_CONTAINERID\]/, arrange: (s) => ({ config: flannelConf(s), call: { env: { CNI_CONTAINERID: undefined } } }) },
  { name: "missing CNI_IFNAME", code: 4, msg: /\[CNI_IFNAME\]/, arrange: (s) => ({ config: flannelConf(s), call: { env: { CNI_IFNAME: undefined } } }) },
  { name: "a container ID with a path in it", code: 4, arrange: (s) => ({ config: flannelConf(s), call: { containerId: "../../etc/x" } }) },
  { name: "an unknown cniVersion", code: 1, msg: /^incompatible CNI versions$/, arrange: (s) => ({ config: flannelConf(s, { cniVersion: "2.0.0" }) }) },
  {
    name: "an unreadable subnet.env (a directory)",
    code: 5,
    msg: /^failed to load flannel 'subnet\.env' file: EISDIR/,
    arrange: (s) => {
      mkdirSync(`${s.dir}/subnet-dir`);
      return { config: flannelConf(s, { subnetFile: `${s.dir}/subnet-dir` }) };
    },
  },
  {
    name: "a subnet.env without FLANNEL_SUBNET",
    code: 7,
    msg: /^failed to load flannel 'subnet\.env' file: .* is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET\. Check the flannel pod log for this node\.$/,
    arrange: (s) => {
      writeFileSync(s.subnetFile, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
      return { config: flannelConf(s) };
    },
  },
  {
    name: "no subnet.env and no wait",
    code: 11,
    msg: /^the flannel agent is not ready on this node: .*\/absent\.env does not exist$/,
    arrange: (s) => ({ config: flannelConf(s, { subnetFile: `${s.dir}/absent.env`, subnetFileWaitSeconds: 0 }) }),
  },
  { name: "a delegate with a name", code: 7, msg: /must not have 'name' field/, arrange: (s) => ({ config: flannelConf(s, { delegate: { name: "x" } }) }) },
  { name: "a delegate with an ipam", code: 7, msg: /must not have 'ipam' field/, arrange: (s) => ({ config: flannelConf(s, { delegate: { ipam: {} } }) }) },
  { name: "a delegate with a non-string type", code: 7, msg: /must have \(string\) 'type' field/, arrange: (s) => ({ config: flannelConf(s, { delegate: { type: 42 } }) }) },
  { name: "a delegate that is not a dictionary", code: 7, arrange: (s) => ({ config: flannelConf(s, { delegate: "bridge" }) }) },
  { name: "ipam routes Go cannot decode", code: 7, arrange: (s) => ({ config: flannelConf(s, { ipam: { dataDir: s.ipamDir, routes: [{ dst: "x" }] } }) }) },
  { name: "no network name", code: 7, arrange: (s) => ({ config: { ...flannelConf(s), name: undefined } }) },
];

describe("bad input to ADD", { skip: needsRoot }, () => {
  let node: Namespace;
  let pod: Namespace;
  const scratches: Scratch[] = [];

  before(async () => {
    node = await createNamespace("cnibad");
    pod = await createNamespace("pod");
  });
  after(async () => {
    await pod?.remove();
    await node?.remove();
    for (const scratch of scratches) scratch.remove();
  });

  async function assertNothingLeft(scratch: Scratch, what: string): Promise<void> {
    assert.deepEqual(await vethsIn(node), [], `${what}: a veth in the node namespace`);
    assert.deepEqual((await linksIn(pod)).map((link) => link.ifname), ["lo"], `${what}: an interface in the pod`);
    assert.equal(allocations(scratch).size, 0, `${what}: a host-local reservation`);
    assert.deepEqual(savedFiles(scratch), [], `${what}: a saved delegate config`);
  }

  for (const [index, badCase] of cases.entries()) {
    test(`${badCase.name}: code ${badCase.code}, nothing left behind`, async () => {
      const scratch = makeScratch(`bad${index}`);
      scratches.push(scratch);
      writeSubnetEnv(scratch, 60);
      const { config, call } = badCase.arrange(scratch);
      const reply = await callCni({ node: node.name, plugin: flannelCniPlugin, command: "ADD", config, containerId: `bad-${index}`, pod: pod.name, ...call });
      assert.equal(reply.code, 1, `exit status for ${badCase.name}: ${reply.stdout}${reply.stderr}`);
      const error = reply.json<CniErrorResult>();
      assert.equal(error.code, badCase.code, `${badCase.name}: ${reply.stdout}`);
      assert.equal(typeof error.cniVersion, "string");
      if (badCase.msg !== undefined) assert.match(error.msg, badCase.msg);
      await assertNothingLeft(scratch, badCase.name);
    });
  }

  test("the delegate failing (CNI_NETNS is not a namespace): bridge's error passes through, nothing left", async () => {
    const scratch = makeScratch("badnetns");
    scratches.push(scratch);
    writeSubnetEnv(scratch, 61);
    const reply = await callCni({
      node: node.name,
      plugin: flannelCniPlugin,
      command: "ADD",
      config: flannelConf(scratch),
      containerId: "bad-netns",
      env: { CNI_NETNS: scratch.subnetFile },
    });
    assert.notEqual(reply.code, 0);
    assert.match(reply.json<CniErrorResult>().msg, /netns/);
    await assertNothingLeft(scratch, "bridge failure");
  });
});
