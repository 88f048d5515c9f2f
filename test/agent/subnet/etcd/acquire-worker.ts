// One "agent" as its own process, for the concurrent-acquire test: connects to etcd, acquires a
// lease for the PublicIP given, prints the subnet and exits.
//   node acquire-worker.ts <endpoint> <prefix> <publicIP>
import { parseIp, formatCidr } from "../../../../backends/net/ip.ts";
import { createEtcdSubnetManager } from "../../../../agent/subnet/etcd/etcd-manager.ts";
import { connectEtcdStore } from "../../../../agent/subnet/etcd/store.ts";
import { silentLog } from "../../../../agent/ops/log.ts";

const [endpoint, prefix, publicIP] = process.argv.slice(2);
if (endpoint === undefined || prefix === undefined || publicIP === undefined) throw new Error("usage: acquire-worker.ts <endpoint> <prefix> <publicIP>");
const store = await connectEtcdStore({ endpoints: [endpoint], requestTimeoutMs: 10_000 });
// close() stops the manager's lease keeper and closes the store.
const manager = createEtcdSubnetManager({ store, prefix, log: silentLog });
try {
  const lease = await manager.acquire({ publicIP: parseIp(publicIP)!, backendType: "vxlan", backendData: { VNI: 1, VtepMAC: "02:00:00:00:00:01" } }, AbortSignal.timeout(60_000));
  process.stdout.write(`${formatCidr(lease.subnet!)}\n`);
} finally {
  await manager.close();
}
