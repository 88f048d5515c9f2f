// A udp node's lease is Flannel's: only the public addresses, no BackendType and no BackendData
// (F:pkg/backend/udp — its LeaseAttrs never set them); in kube mode backend-type is "" and
// backend-data "null". And a udp agent takes such leases as its peers: Flannel's udp backend
// filters no lease by type, so a Flannel udp node (which writes none) must not be ignored.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseIp } from "../../../backends/net/ip.ts";
import { parseNetConf } from "../../../agent/config/net-conf.ts";
import { isPeerOfType, peerChangesForBackend, peersForBackend } from "../../../agent/peers.ts";
import { leaseAttrs } from "../../../agent/startup.ts";
import { decodeLeaseAttrs, encodeLeaseAttrs } from "../../../agent/subnet/lease-json.ts";
import { kubeAnnotations, wantedAnnotations } from "../../../agent/subnet/kube/annotations.ts";
import { nodeFacts, nodeToLease } from "../../../agent/subnet/kube/node-lease.ts";
import type { Lease } from "../../../agent/subnet/manager.ts";
import { parseCidr } from "../../../backends/net/ip.ts";
import { createMemoryLog } from "../../support/memory-log.ts";

const ext = { name: "eth0", index: 2, mtu: 1500, ifaceAddr: parseIp("198.18.0.1")!, extAddr: parseIp("198.18.0.1")! };
const udpConf = parseNetConf(JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "udp", Port: 8285 } }));

describe("a udp node's own lease", () => {
  test("etcd: the value is {PublicIP, PublicIPv6} only, byte for byte as Flannel writes it", () => {
    const attrs = leaseAttrs(udpConf, ext, { mtu: 1472 });
    assert.equal(attrs.backendType, "");
    assert.equal(encodeLeaseAttrs(attrs), '{"PublicIP":"198.18.0.1","PublicIPv6":null}');
  });

  test("kube: backend-type is empty and backend-data null, public-ip as for any backend", () => {
    const names = kubeAnnotations("flannel.alpha.coreos.com");
    const attrs = leaseAttrs(udpConf, ext, { mtu: 1472 });
    assert.deepEqual(wantedAnnotations(names, {}, attrs), {
      "flannel.alpha.coreos.com/backend-type": "",
      "flannel.alpha.coreos.com/backend-data": "null",
      "flannel.alpha.coreos.com/public-ip": "198.18.0.1",
      "flannel.alpha.coreos.com/kube-subnet-manager": "true",
    });
  });

  test("other backends still write their type", () => {
    const vxlanConf = parseNetConf(JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "vxlan" } }));
    assert.equal(leaseAttrs(vxlanConf, ext, { mtu: 1450 }).backendType, "vxlan");
  });
});

describe("a udp agent's peers", () => {
  const flannelUdpValue = '{"PublicIP":"198.18.0.7","PublicIPv6":null}';
  const lease = (subnet: string, value: string): Lease => ({ subnet: parseCidr(subnet)!, attrs: decodeLeaseAttrs(value) });

  test("a Flannel udp node's lease (no BackendType) is a udp peer — Flannel's udp backend filters nothing", () => {
    const log = createMemoryLog();
    const peers = peersForBackend([lease("10.244.7.0/24", flannelUdpValue)], "udp", log, new Set());
    assert.equal(peers.length, 1);
    assert.equal(peers[0]!.publicIP.value, parseIp("198.18.0.7")!.value);
    assert.equal(log.find("another backend type").length, 0);
  });

  test("a Flannel udp node in kube mode (backend-type \"\") is a udp peer too", () => {
    const names = kubeAnnotations("flannel.alpha.coreos.com");
    const facts = nodeFacts(names, {
      metadata: {
        name: "flannel-udp",
        annotations: {
          "flannel.alpha.coreos.com/backend-type": "",
          "flannel.alpha.coreos.com/backend-data": "null",
          "flannel.alpha.coreos.com/public-ip": "198.18.0.7",
          "flannel.alpha.coreos.com/kube-subnet-manager": "true",
        },
      },
      spec: { podCIDR: "10.244.7.0/24" },
    });
    const kubeLease = nodeToLease(names, facts, { ipv4: true, ipv6: false });
    assert.equal(peersForBackend([kubeLease], "udp", createMemoryLog(), new Set()).length, 1);
  });

  test("leases of vxlan or host-gw nodes are left out with a warning, and a typeless lease is no vxlan peer", () => {
    const log = createMemoryLog();
    const vxlanLease = lease("10.244.8.0/24", '{"PublicIP":"198.18.0.8","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:08"}}');
    assert.equal(peersForBackend([vxlanLease], "udp", log, new Set()).length, 0);
    assert.equal(log.find("another backend type", "warn").length, 1);
    assert.equal(isPeerOfType("", "vxlan"), false);
    assert.equal(isPeerOfType("", "host-gw"), false);
  });

  test("lease changes of typeless leases reach a udp backend as additions", () => {
    const changes = peerChangesForBackend([{ kind: "added", lease: lease("10.244.7.0/24", flannelUdpValue) }], "udp", createMemoryLog(), new Set());
    assert.deepEqual(changes.map((change) => change.kind), ["added"]);
  });
});
