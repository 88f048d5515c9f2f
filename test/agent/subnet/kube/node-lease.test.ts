// Node → lease: pod CIDRs (own node: last per family wins; peers: first — Flannel's own
// inconsistency), Flannel's error texts, the Network check, and nodeToLease for peers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isFlannelError } from "../../../../backends/errors.ts";
import { formatCidr, formatIp } from "../../../../backends/net/ip.ts";
import { parseNetConf } from "../../../../agent/config/net-conf.ts";
import { kubeAnnotations } from "../../../../agent/subnet/kube/annotations.ts";
import { nodeFacts, nodeToLease, ownLeaseSubnets, podSubnets, type NodeFacts } from "../../../../agent/subnet/kube/node-lease.ts";

const names = kubeAnnotations("flannel.alpha.coreos.com");
const p = names.prefix;

function node(podCIDRs: string[], annotations: Record<string, string> = {}, podCIDR = podCIDRs[0] ?? ""): NodeFacts {
  return nodeFacts(names, { metadata: { name: "n1", resourceVersion: "7", annotations }, spec: { podCIDR, podCIDRs } });
}

const v4conf = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
const dualConf = parseNetConf('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}');

describe("pod subnets", () => {
  test("spec.podCIDR is used when podCIDRs is empty", () => {
    assert.equal(formatCidr(podSubnets(node([], {}, "10.244.1.0/24"), "first").subnet!), "10.244.1.0/24");
  });

  test("dual-stack podCIDRs give one subnet per family", () => {
    const s = podSubnets(node(["10.244.1.0/24", "fd00:10:244:1::/64"]), "first");
    assert.equal(formatCidr(s.subnet!), "10.244.1.0/24");
    assert.equal(formatCidr(s.subnetV6!), "fd00:10:244:1::/64");
  });

  test("two IPv4 entries: the own node takes the last, peers the first (as Flannel)", () => {
    const n = node(["10.244.1.0/24", "10.244.2.0/24"]);
    assert.equal(formatCidr(podSubnets(n, "last").subnet!), "10.244.2.0/24");
    assert.equal(formatCidr(podSubnets(n, "first").subnet!), "10.244.1.0/24");
  });

  test("more than two podCIDRs is Flannel's error", () => {
    assert.throws(
      () => podSubnets(node(["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]), "first"),
      (error) => isFlannelError(error, "kube-node-invalid") && error.message === 'node "n1" pod cidrs should be IPv4/IPv6 only or dualstack',
    );
  });

  test("a node without podCIDR: Flannel's 'pod cidr not assigned'", () => {
    assert.throws(() => ownLeaseSubnets(node([]), v4conf), (error) => isFlannelError(error, "kube-node-invalid") && error.message === 'node "n1" pod cidr not assigned');
  });
});

describe("own lease subnets against net-conf.json", () => {
  test("an IPv4 podCIDR inside Network is the lease's subnet", () => {
    const s = ownLeaseSubnets(node(["10.244.3.0/24"]), v4conf);
    assert.equal(formatCidr(s.subnet!), "10.244.3.0/24");
    assert.equal(s.subnetV6, undefined);
  });

  test("dual-stack gives both subnets", () => {
    const s = ownLeaseSubnets(node(["10.244.3.0/24", "fd00:10:244:3::/64"]), dualConf);
    assert.equal(formatCidr(s.subnetV6!), "fd00:10:244:3::/64");
  });

  test("a podCIDR outside Network is Flannel's error", () => {
    assert.throws(
      () => ownLeaseSubnets(node(["10.99.3.0/24"]), v4conf),
      (error) =>
        isFlannelError(error, "kube-node-invalid") &&
        error.message === 'subnet "10.244.0.0/16" specified in the flannel net config doesn\'t contain "10.99.3.0/24" PodCIDR of the "n1" node',
    );
  });

  test("a podCIDR larger than Network is outside it", () => {
    assert.throws(() => ownLeaseSubnets(node(["10.0.0.0/8"]), v4conf), (error) => isFlannelError(error, "kube-node-invalid"));
  });

  test("an IPv6 podCIDR outside IPv6Network is refused the same way", () => {
    assert.throws(
      () => ownLeaseSubnets(node(["10.244.3.0/24", "fd99::/64"]), dualConf),
      (error) => isFlannelError(error, "kube-node-invalid") && error.message.startsWith('subnet "fd00:10:244::/56" specified in the flannel net config') && error.details.field === "IPv6Network",
    );
  });

  test("IPv6 enabled but the node has no IPv6 podCIDR", () => {
    assert.throws(() => ownLeaseSubnets(node(["10.244.3.0/24"]), dualConf), (error) => isFlannelError(error, "kube-node-invalid") && /Missing IPv6 address/.test(error.message));
  });
});

describe("peer leases", () => {
  const published = {
    [`${p}kube-subnet-manager`]: "true",
    [`${p}backend-type`]: "vxlan",
    [`${p}backend-data`]: '{"VNI":1,"VtepMAC":"12:c6:65:89:b4:e3"}',
    [`${p}public-ip`]: "192.168.1.2",
  };

  test("a peer's lease carries its public IP, backend type and data", () => {
    const lease = nodeToLease(names, node(["10.244.2.0/24"], published), { ipv4: true, ipv6: false });
    assert.equal(formatCidr(lease.subnet!), "10.244.2.0/24");
    assert.equal(formatIp(lease.attrs.publicIP), "192.168.1.2");
    assert.equal(lease.attrs.backendType, "vxlan");
    assert.deepEqual(lease.attrs.backendData, { VNI: 1, VtepMAC: "12:c6:65:89:b4:e3" });
  });

  test("host-gw's backend-data null is no data", () => {
    const lease = nodeToLease(names, node(["10.244.2.0/24"], { ...published, [`${p}backend-type`]: "host-gw", [`${p}backend-data`]: "null" }), { ipv4: true, ipv6: false });
    assert.equal(lease.attrs.backendData, undefined);
  });

  test("a peer with a bad public-ip cannot be read", () => {
    assert.throws(() => nodeToLease(names, node(["10.244.2.0/24"], { ...published, [`${p}public-ip`]: "x" }), { ipv4: true, ipv6: false }), (error) => isFlannelError(error, "kube-node-invalid"));
  });

  test("dual-stack peers need public-ipv6 and give backend-v6-data", () => {
    const lease = nodeToLease(
      names,
      node(["10.244.2.0/24", "fd00:10:244:2::/64"], { ...published, [`${p}public-ipv6`]: "fd00::2", [`${p}backend-v6-data`]: '{"VNI":1,"VtepMAC":"22:aa:bb:cc:dd:ee"}' }),
      { ipv4: true, ipv6: true },
    );
    assert.equal(formatCidr(lease.subnetV6!), "fd00:10:244:2::/64");
    assert.equal(formatIp(lease.attrs.publicIPv6!), "fd00::2");
    assert.deepEqual(lease.attrs.backendV6Data, { VNI: 1, VtepMAC: "22:aa:bb:cc:dd:ee" });
  });

  test("only flannel's annotations are kept per node", () => {
    const facts = node(["10.244.2.0/24"], { ...published, "node.alpha.kubernetes.io/ttl": "0" });
    assert.deepEqual(Object.keys(facts.annotations).sort(), Object.keys(published).sort());
  });
});
