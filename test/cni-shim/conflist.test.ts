// The standard cbr0 conflist of Flannel's ConfigMap (flannel-reference §9.6: flannel, then portmap
// with the portMappings capability), run as a runtime runs a list: flannel's result becomes
// portmap's prevResult, the runtime's port mappings reach portmap as runtimeConfig, and DEL goes
// through the list in reverse order. Only paths are added to the flannel entry, to keep its state
// in a scratch directory.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../../deploy/lab/tools/command.ts";
import { addConflist, delConflist, flannelCniPlugin, referenceCniDir, type Attachment, type Conflist } from "../../deploy/lab/tools/cni.ts";
import { createNamespace, type Namespace } from "../support/netns.ts";
import { needsRoot } from "../support/root.ts";
import { uniqueName } from "../support/run-context.ts";
import { allocations, ipv4Of, makeScratch, savedFiles, vethsIn, writeSubnetEnv, type Scratch } from "./fixture.ts";

describe("the cbr0 conflist (flannel + portmap)", { skip: needsRoot }, () => {
  let node: Namespace;
  let pod: Namespace;
  let scratch: Scratch;

  before(async () => {
    node = await createNamespace("cnils");
    pod = await createNamespace("pod");
    scratch = makeScratch("conflist");
    writeSubnetEnv(scratch, 40);
  });
  after(async () => {
    await pod?.remove();
    await node?.remove();
    scratch?.remove();
  });

  async function natRules(): Promise<string> {
    return (await run(["ip", "netns", "exec", node.name, "iptables", "-w", "-t", "nat", "-S"])).stdout;
  }

  test("ADD in order with prevResult and portMappings, DEL in reverse: nothing is left", async () => {
    const list: Conflist = {
      name: "cbr0",
      cniVersion: "0.3.1",
      plugins: [
        {
          type: "flannel",
          subnetFile: scratch.subnetFile,
          dataDir: scratch.dataDir,
          ipam: { dataDir: scratch.ipamDir },
          delegate: { hairpinMode: true, isDefaultGateway: true },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    };
    const containerId = uniqueName("ls");
    const attachment: Attachment = {
      node: node.name,
      pod: pod.name,
      containerId,
      plugins: { flannel: flannelCniPlugin, portmap: `${referenceCniDir}/portmap` },
      capabilityArgs: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }] },
    };

    const { result, steps } = await addConflist(list, attachment);
    const [flannel, portmap] = steps;
    assert.equal(flannel!.config.runtimeConfig, undefined, "flannel declares no capability");
    assert.deepEqual(portmap!.config.prevResult, flannel!.reply.json(), "portmap gets flannel's result as prevResult");
    assert.deepEqual(portmap!.config.runtimeConfig, { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }] });
    assert.deepEqual(result, flannel!.reply.json(), "portmap passes the result through");

    const podAddress = (await ipv4Of(pod, "eth0")).addresses[0]!;
    assert.match(podAddress, /^10\.244\.40\.\d+\/24$/);
    const podIp = podAddress.replace("/24", "");
    const rules = await natRules();
    assert.match(rules, new RegExp(`--dport 18080 .*--to-destination ${podIp.replaceAll(".", "\\.")}:80`), `portmap's DNAT for ${podIp}:\n${rules}`);
    assert.equal(savedFiles(scratch).length, 1);

    // The runtime's DEL of a 0.3.1 list: portmap first, then flannel, without prevResult.
    const dels = await delConflist(list, attachment, result);
    assert.deepEqual(dels.map((step) => step.type), ["portmap", "flannel"]);
    assert.equal(dels[1]!.config.prevResult, undefined);
    assert.doesNotMatch(await natRules(), new RegExp(podIp.replaceAll(".", "\\.")), "portmap's rules are gone");
    assert.deepEqual(await vethsIn(node), []);
    assert.equal(allocations(scratch).size, 0);
    assert.deepEqual(savedFiles(scratch), []);
  });
});
