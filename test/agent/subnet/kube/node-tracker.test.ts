// Node events → lease events with Flannel's filters: unmanaged nodes ignored, updates only when
// published lease attributes change, deletes remove.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatCidr, formatIp } from "../../../../backends/net/ip.ts";
import { kubeAnnotations } from "../../../../agent/subnet/kube/annotations.ts";
import { nodeFacts, type NodeFacts } from "../../../../agent/subnet/kube/node-lease.ts";
import { createNodeTracker } from "../../../../agent/subnet/kube/node-tracker.ts";
import type { LeaseEvent } from "../../../../agent/subnet/manager.ts";
import { createMemoryLog } from "../../../support/memory-log.ts";

const names = kubeAnnotations("flannel.alpha.coreos.com");
const p = names.prefix;

function flannelNode(name: string, index: number, extra: Record<string, string> = {}, rv = "1"): NodeFacts {
  return nodeFacts(names, {
    metadata: {
      name,
      resourceVersion: rv,
      annotations: {
        [`${p}kube-subnet-manager`]: "true",
        [`${p}backend-type`]: "vxlan",
        [`${p}backend-data`]: `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:0${index}"}`,
        [`${p}public-ip`]: `192.168.1.${index}`,
        ...extra,
      },
    },
    spec: { podCIDR: `10.244.${index}.0/24`, podCIDRs: [`10.244.${index}.0/24`] },
  });
}

function describeEvent(event: LeaseEvent | undefined): string {
  if (event === undefined) return "none";
  if (event.kind === "snapshot") return `snapshot ${event.leases.map((l) => formatCidr(l.subnet!)).join(",")}`;
  return `${event.kind} ${formatCidr(event.lease.subnet!)} ${formatIp(event.lease.attrs.publicIP)}`;
}

describe("node tracker", () => {
  const v4 = { ipv4: true, ipv6: false };

  test("a snapshot holds only flannel nodes whose lease reads", () => {
    const tracker = createNodeTracker(names, v4, createMemoryLog());
    const unmanaged = nodeFacts(names, { metadata: { name: "x", annotations: {} }, spec: { podCIDR: "10.244.9.0/24" } });
    const broken = flannelNode("bad", 8, { [`${p}public-ip`]: "nope" });
    assert.equal(describeEvent(tracker.reset([flannelNode("a", 1), unmanaged, broken, flannelNode("b", 2)])), "snapshot 10.244.1.0/24,10.244.2.0/24");
    assert.equal(tracker.size, 2);
  });

  test("a status-only update (kubelet heartbeat) is no event; a new public-ip is an addition", () => {
    const tracker = createNodeTracker(names, v4, createMemoryLog());
    tracker.reset([flannelNode("a", 1)]);
    assert.equal(tracker.apply("MODIFIED", flannelNode("a", 1, {}, "2")), undefined);
    assert.equal(tracker.apply("MODIFIED", flannelNode("a", 1, { "other/annotation": "x" }, "3")), undefined);
    assert.equal(describeEvent(tracker.apply("MODIFIED", flannelNode("a", 1, { [`${p}public-ip`]: "192.168.1.77" }, "4"))), "added 10.244.1.0/24 192.168.1.77");
  });

  test("a node that becomes a flannel node is added; unmanaged nodes never produce events", () => {
    const tracker = createNodeTracker(names, v4, createMemoryLog());
    tracker.reset([]);
    const plain = nodeFacts(names, { metadata: { name: "c", annotations: {} }, spec: { podCIDR: "10.244.3.0/24" } });
    assert.equal(tracker.apply("ADDED", plain), undefined);
    assert.equal(tracker.apply("DELETED", plain), undefined);
    assert.equal(describeEvent(tracker.apply("MODIFIED", flannelNode("c", 3))), "added 10.244.3.0/24 192.168.1.3");
  });

  test("a deleted node is removed with the lease it had", () => {
    const tracker = createNodeTracker(names, v4, createMemoryLog());
    tracker.reset([flannelNode("a", 1)]);
    assert.equal(describeEvent(tracker.apply("DELETED", flannelNode("a", 1))), "removed 10.244.1.0/24 192.168.1.1");
    assert.equal(tracker.size, 0);
  });

  test("dual-stack: a v4-only change is reported (Flannel would drop it: its v6 trio is unchanged)", () => {
    const tracker = createNodeTracker(names, { ipv4: true, ipv6: true }, createMemoryLog());
    const dual = (ip: string) =>
      nodeFacts(names, {
        metadata: {
          name: "d",
          annotations: {
            [`${p}kube-subnet-manager`]: "true",
            [`${p}backend-type`]: "vxlan",
            [`${p}public-ip`]: ip,
            [`${p}public-ipv6`]: "fd00::4",
          },
        },
        spec: { podCIDR: "10.244.4.0/24", podCIDRs: ["10.244.4.0/24", "fd00:10:244:4::/64"] },
      });
    tracker.reset([dual("192.168.1.4")]);
    assert.equal(describeEvent(tracker.apply("MODIFIED", dual("192.168.1.40"))), "added 10.244.4.0/24 192.168.1.40");
  });

  test("an update that no longer reads keeps the last good lease, so the deletion still removes it", () => {
    const log = createMemoryLog();
    const tracker = createNodeTracker(names, v4, log);
    tracker.reset([flannelNode("a", 1)]);
    assert.equal(tracker.apply("MODIFIED", flannelNode("a", 1, { [`${p}public-ip`]: "garbage" })), undefined);
    assert.equal(tracker.apply("MODIFIED", flannelNode("a", 1, { [`${p}public-ip`]: "garbage" }, "9")), undefined);
    assert.equal(log.find("skipping a node", "warn").length, 1, "a broken node is reported once, not at each heartbeat");
    assert.equal(describeEvent(tracker.apply("DELETED", flannelNode("a", 1, { [`${p}public-ip`]: "garbage" }))), "removed 10.244.1.0/24 192.168.1.1");
  });
});
