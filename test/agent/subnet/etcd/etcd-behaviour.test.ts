// The subnet manager behaviour suite (test/agent/subnet/manager-behaviour.ts) run against the
// etcd manager and a real etcd: the same expectations the kube manager meets.
import { after, before, describe } from "node:test";
import { encodeLeaseAttrs } from "../../../../agent/subnet/lease-json.ts";
import { createEtcdSubnetManager } from "../../../../agent/subnet/etcd/etcd-manager.ts";
import { connectEtcdStore } from "../../../../agent/subnet/etcd/store.ts";
import { parseCidr, parseIp } from "../../../../backends/net/ip.ts";
import { startEtcd, type EtcdServer } from "../../../support/etcd.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";
import { defineManagerBehaviour, type ManagerFixture } from "../manager-behaviour.ts";

let etcd: EtcdServer;
let networks = 0;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.dispose();
});

async function etcdFixture(): Promise<ManagerFixture> {
  networks += 1;
  const prefix = `/behaviour${networks}/network`;
  await etcd.etcdctl("put", `${prefix}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  const store = await connectEtcdStore({ endpoints: [etcd.endpoint], requestTimeoutMs: 3000 });
  const manager = createEtcdSubnetManager({ store, prefix, log: createMemoryLog(), configRetryMs: 50 });
  const peerKey = (index: number): string => `${prefix}/subnets/10.244.${100 + index}.0-24`;
  return {
    manager,
    network: parseCidr("10.244.0.0/16")!,
    async addPeer(index) {
      // As another Flannel node writes its lease (a reservation-style put is enough for the watch).
      const value = encodeLeaseAttrs({ publicIP: parseIp(`192.0.2.${index}`)!, backendType: "vxlan", backendData: { VNI: 1, VtepMAC: `02:00:00:00:00:0${index}` } });
      await etcd.etcdctl("put", peerKey(index), value);
      return parseCidr(`10.244.${100 + index}.0/24`)!;
    },
    async removePeer(index) {
      await etcd.etcdctl("del", peerKey(index));
    },
    async close() {
      await manager.close();
    },
  };
}

describe("etcd subnet manager behaviour", () => {
  defineManagerBehaviour("etcd", etcdFixture);
});
