// End to end, per backend, on a 3-node lab (real etcd, flanneld, CNI plugins, kernel objects, all
// inside namespaces): every pod reaches every other pod, and what the agents left behind is
// Flannel's, field by field — the vxlan device, neighbours, FDB entries and routes (host-gw: the
// routes via each peer's public IP), subnet.env byte for byte, the lease JSON in etcd and, with
// --ip-masq, the masquerade rules and their effect: pod → underlay is masqueraded, pod → pod not.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { describe, test } from "node:test";
import type { Lab } from "../../deploy/lab/lab.ts";
import { unreachablePairs } from "../../deploy/lab/status.ts";
import { needsRoot } from "../support/root.ts";
import {
  flannelHostGwRoutes,
  flannelMasqRules,
  flannelSubnetEnv,
  flannelVxlanState,
  peerRoutes,
  leaseOf,
  natMasqRules,
  readLeases,
  udpSourceSeen,
  useTestLab,
  vxlanState,
} from "./lab-fixture.ts";

function describeUnreachable(lab: Lab, matrix: Awaited<ReturnType<Lab["pingMatrix"]>>): string {
  return unreachablePairs(matrix).map(({ from, to }) => `${from.name} (${from.ip}) ✗ ${to.name} (${to.ip})`).join("\n") || "(none)";
}

describe("vxlan lab of 3 nodes with --ip-masq", { skip: needsRoot, timeout: 120_000 }, () => {
  const theLab = useTestLab({ nodes: 3, backend: "vxlan", ipMasq: true });

  test("every pod reaches every other pod", async () => {
    const matrix = await theLab().waitConverged({ timeoutMs: 20_000 });
    assert.equal(matrix.pods.length, 6);
    assert.deepEqual(unreachablePairs(matrix), [], describeUnreachable(theLab(), matrix));
  });

  test("the vxlan device, neighbours, FDB entries and routes on each node are Flannel's, field by field", async () => {
    const leases = await readLeases(theLab());
    assert.equal(leases.size, 3, JSON.stringify([...leases.values()]));
    for (const node of theLab().nodes) {
      assert.deepEqual(await vxlanState(node), flannelVxlanState(theLab().nodes, node, leases), `kernel objects on ${node.name}`);
      const acceptRa = await node.exec(["cat", "/proc/sys/net/ipv6/conf/flannel.1/accept_ra"]);
      assert.equal(acceptRa.stdout.trim(), "0", `accept_ra of flannel.1 on ${node.name}`);
    }
  });

  test("each node's lease in etcd is Flannel's JSON, with the node's VTEP MAC", async () => {
    const leases = await readLeases(theLab());
    for (const node of theLab().nodes) {
      const lease = leaseOf(leases, node);
      const [link] = await node.ipJson<Array<{ address: string }>>("link", "show", "flannel.1");
      assert.match(lease.key, /^10\.244\.\d+\.0-24$/);
      assert.equal(
        lease.raw,
        `{"PublicIP":"${node.publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${link?.address}"}}`,
      );
    }
    const subnets = new Set([...leases.values()].map((lease) => lease.subnet));
    assert.equal(subnets.size, 3, "every node has a subnet of its own");
  });

  test("subnet.env of each node is Flannel's format byte for byte (MTU 1450, IPMASQ true), mode 0644", async () => {
    const leases = await readLeases(theLab());
    for (const node of theLab().nodes) {
      const file = node.flanneld.subnetFile;
      assert.equal(readFileSync(file, "utf8"), flannelSubnetEnv("10.244.0.0/16", leaseOf(leases, node), 1450, true), `${file}`);
      assert.equal(statSync(file).mode & 0o777, 0o644, `mode of ${file}`);
    }
  });

  test("the nat table holds Flannel's masquerade rules for the node's subnet, in order", async () => {
    const leases = await readLeases(theLab());
    for (const node of theLab().nodes) {
      assert.deepEqual(await natMasqRules(node), flannelMasqRules("10.244.0.0/16", leaseOf(leases, node).subnet), node.name);
      // FLANNEL_IPMASQ=true → the bridge delegate gets ipMasq false: the masquerading is flanneld's alone.
      const postrouting = (await node.exec(["iptables", "-t", "nat", "-S", "POSTROUTING"])).stdout;
      assert.doesNotMatch(postrouting, /-j CNI-/, postrouting);
    }
  });

  test("pod → underlay address is masqueraded to the node's public IP; pod → pod keeps the pod's IP", async () => {
    const lab = theLab();
    const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
    const sender = node1.pods[0]!;
    const receiverPod = node2.pods[0]!;
    // The fabric (198.18.0.254) and another node's eth0 are only on the underlay.
    assert.equal(await udpSourceSeen(lab.fabricNs, sender.ns, "198.18.0.254", 40001), node1.publicIP, "pod → fabric");
    assert.equal(await udpSourceSeen(node2.ns, sender.ns, node2.publicIP, 40002), node1.publicIP, "pod → node2's eth0");
    assert.equal(await udpSourceSeen(receiverPod.ns, sender.ns, receiverPod.ip, 40003), sender.ip, "pod → pod on another node");
  });
});

describe("host-gw lab of 3 nodes", { skip: needsRoot, timeout: 120_000 }, () => {
  const theLab = useTestLab({ nodes: 3, backend: "host-gw" });

  test("every pod reaches every other pod", async () => {
    const matrix = await theLab().waitConverged({ timeoutMs: 20_000 });
    assert.equal(matrix.pods.length, 6);
    assert.deepEqual(unreachablePairs(matrix), [], describeUnreachable(theLab(), matrix));
  });

  test("each node routes every peer subnet via the peer's public IP on eth0, and has no vxlan device", async () => {
    const leases = await readLeases(theLab());
    assert.equal(leases.size, 3);
    for (const node of theLab().nodes) {
      assert.deepEqual(await peerRoutes(node, "10.244.0.0/16"), flannelHostGwRoutes(theLab(), node, leases), `routes on ${node.name}`);
      const vxlan = await node.exec(["ip", "link", "show", "flannel.1"], { allowFailure: true });
      assert.notEqual(vxlan.code, 0, `flannel.1 exists on ${node.name}`);
    }
  });

  test("each node's lease in etcd is Flannel's host-gw JSON, without BackendData", async () => {
    const leases = await readLeases(theLab());
    for (const node of theLab().nodes) {
      assert.equal(leaseOf(leases, node).raw, `{"PublicIP":"${node.publicIP}","PublicIPv6":null,"BackendType":"host-gw"}`);
    }
  });

  test("subnet.env of each node is Flannel's format byte for byte (MTU 1500, IPMASQ false)", async () => {
    const leases = await readLeases(theLab());
    for (const node of theLab().nodes) {
      assert.equal(readFileSync(node.flanneld.subnetFile, "utf8"), flannelSubnetEnv("10.244.0.0/16", leaseOf(leases, node), 1500, false));
    }
  });

  // Flannel's CNI plugin gives the bridge delegate ipMasq = !FLANNEL_IPMASQ (reference §9.3): with
  // flanneld not masquerading, the bridge plugin's own CNI-… chain does it instead.
  test("without --ip-masq flanneld adds no masquerade rule and the bridge plugin masquerades pod → underlay", async () => {
    const lab = theLab();
    const node1 = lab.nodes[0]!;
    for (const node of lab.nodes) assert.deepEqual(await natMasqRules(node), [], node.name);
    const nat = (await node1.exec(["iptables", "-t", "nat", "-S", "POSTROUTING"])).stdout;
    assert.match(nat, /^-A POSTROUTING -s 10\.244\.\d+\.\d+\/32 .*-j CNI-/m, nat);
    const sender = node1.pods[0]!;
    assert.equal(await udpSourceSeen(lab.fabricNs, sender.ns, "198.18.0.254", 40004), node1.publicIP);
  });
});
