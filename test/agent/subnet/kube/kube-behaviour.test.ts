// The subnet manager behaviour suite (test/agent/subnet/manager-behaviour.ts) run against the
// kube manager and the lab API server.
import { describe } from "node:test";
import { parseCidr } from "../../../../backends/net/ip.ts";
import { createKubeSubnetManager } from "../../../../agent/subnet/kube/kube-manager.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";
import { defineManagerBehaviour, type ManagerFixture } from "../manager-behaviour.ts";
import { flannelAnnotations, nodeFixture, startKubeLab } from "./kube-lab.ts";

async function kubeFixture(): Promise<ManagerFixture> {
  const lab = await startKubeLab();
  try {
    const netConf = await lab.writeNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
    lab.api.store.create(nodeFixture("self", ["10.244.0.0/24"]));
    const manager = await createKubeSubnetManager(lab.options("self", netConf), createMemoryLog());
    return {
      manager,
      network: parseCidr("10.244.0.0/16")!,
      async addPeer(index) {
        const subnet = `10.244.${100 + index}.0/24`;
        lab.api.store.create(nodeFixture(`peer-${index}`, [subnet], flannelAnnotations(index)));
        return parseCidr(subnet)!;
      },
      async removePeer(index) {
        lab.api.store.delete("Node", `peer-${index}`);
      },
      async close() {
        await manager.close();
        await lab.close();
      },
    };
  } catch (error) {
    await lab.close();
    throw error;
  }
}

describe("kube subnet manager behaviour", () => {
  defineManagerBehaviour("kube", kubeFixture);
});
