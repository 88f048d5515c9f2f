// The lease set: Flannel's LeaseWatcher normalisation (F:pkg/lease/lease.go Reset/Update,
// reference §3.8) plus the level state peers() that our backends reconcile against.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr } from "../../../backends/net/ip.ts";
import { createLeaseSet } from "../../../agent/subnet/lease-set.ts";
import type { Lease, LeaseEvent } from "../../../agent/subnet/manager.ts";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(parsed !== undefined, `bad test CIDR ${text}`);
  return parsed;
}

/** A vxlan lease; `mac` tells versions of the same lease apart. Subnets "a&b" are dual-stack, "&b" IPv6-only. */
function lease(subnets: string, publicIP = "192.168.0.9", mac = "aa:aa:aa:aa:aa:aa"): Lease {
  const [v4 = "", v6 = ""] = subnets.split("&");
  return {
    ...(v4 === "" ? {} : { subnet: cidr(v4) }),
    ...(v6 === "" ? {} : { subnetV6: cidr(v6) }),
    attrs: { publicIP: parseIp(publicIP)!, backendType: "vxlan", backendData: { VNI: 1, VtepMAC: mac } },
  };
}

/** What an etcd delete event carries: the subnets from the key, no attributes. */
function deletedKey(subnets: string): Lease {
  return { ...lease(subnets), attrs: { publicIP: parseIp("0.0.0.0")!, backendType: "" } };
}

/** A lease in one line: subnets, public IP and VTEP MAC. */
function describeLease(l: Lease): string {
  const subnets = [l.subnet, l.subnetV6].flatMap((c) => (c === undefined ? [] : [formatCidr(c)])).join("&");
  const data = l.attrs.backendData as { VtepMAC?: string } | undefined;
  return `${subnets} ${formatIp(l.attrs.publicIP)} ${data?.VtepMAC ?? "-"}`;
}

function describeEvents(events: readonly LeaseEvent[]): string[] {
  return events.map((event) => (event.kind === "snapshot" ? "snapshot" : `${event.kind} ${describeLease(event.lease)}`));
}

const own = { subnet: cidr("10.5.1.0/24") };

describe("createLeaseSet normalises watch events as Flannel's LeaseWatcher", () => {
  test("an added lease is passed on and becomes a peer", () => {
    const set = createLeaseSet(own);
    assert.deepEqual(describeEvents(set.apply([{ kind: "added", lease: lease("10.5.2.0/24", "192.168.0.2") }])), [
      "added 10.5.2.0/24 192.168.0.2 aa:aa:aa:aa:aa:aa",
    ]);
    assert.deepEqual(set.peers().map(describeLease), ["10.5.2.0/24 192.168.0.2 aa:aa:aa:aa:aa:aa"]);
  });

  test("the node's own lease is dropped from additions, removals and snapshots", () => {
    const set = createLeaseSet(own);
    const events: LeaseEvent[] = [
      { kind: "added", lease: lease("10.5.1.0/24") },
      { kind: "removed", lease: deletedKey("10.5.1.0/24") },
      { kind: "snapshot", leases: [lease("10.5.1.0/24")] },
    ];
    assert.deepEqual(set.apply(events), []);
    assert.deepEqual(set.peers(), []);
  });

  test("a dual-stack node drops a v4-only lease with its IPv4 subnet (Flannel compares the incoming lease's families)", () => {
    const set = createLeaseSet({ subnet: cidr("10.5.1.0/24"), subnetV6: cidr("fd00:0:0:1::/64") });
    assert.deepEqual(set.apply([{ kind: "added", lease: lease("10.5.1.0/24") }]), []);
    assert.deepEqual(set.apply([{ kind: "added", lease: lease("&fd00:0:0:1::/64") }]), []);
    assert.deepEqual(set.peers(), []);
  });

  test("a lease sharing any one subnet with the node is dropped (deviation: Flannel would route our subnet to it)", () => {
    const set = createLeaseSet({ subnet: cidr("10.5.1.0/24"), subnetV6: cidr("fd00:0:0:1::/64") });
    assert.deepEqual(set.apply([{ kind: "added", lease: lease("10.5.1.0/24&fd00:0:0:9::/64") }]), []);
    assert.deepEqual(set.apply([{ kind: "added", lease: lease("10.5.9.0/24&fd00:0:0:1::/64") }]), []);
    assert.equal(set.apply([{ kind: "added", lease: lease("10.5.9.0/24&fd00:0:0:9::/64") }]).length, 1);
  });

  test("an added lease with known subnets replaces the cached one in place and is passed on", () => {
    const set = createLeaseSet(own);
    set.apply([
      { kind: "added", lease: lease("10.5.2.0/24", "192.168.0.2") },
      { kind: "added", lease: lease("10.5.3.0/24", "192.168.0.3") },
    ]);
    const changes = set.apply([{ kind: "added", lease: lease("10.5.2.0/24", "192.168.0.22", "bb:bb:bb:bb:bb:bb") }]);
    assert.deepEqual(describeEvents(changes), ["added 10.5.2.0/24 192.168.0.22 bb:bb:bb:bb:bb:bb"]);
    assert.deepEqual(set.peers().map(describeLease), [
      "10.5.2.0/24 192.168.0.22 bb:bb:bb:bb:bb:bb",
      "10.5.3.0/24 192.168.0.3 aa:aa:aa:aa:aa:aa",
    ]);
  });

  test("a removal carrying only the subnets is passed on with the cached lease's attributes", () => {
    const set = createLeaseSet(own);
    set.apply([{ kind: "added", lease: lease("10.5.2.0/24", "192.168.0.2", "cc:cc:cc:cc:cc:cc") }]);
    const changes = set.apply([{ kind: "removed", lease: deletedKey("10.5.2.0/24") }]);
    assert.deepEqual(describeEvents(changes), ["removed 10.5.2.0/24 192.168.0.2 cc:cc:cc:cc:cc:cc"]);
    assert.deepEqual(set.peers(), []);
  });

  test("an unknown removal is passed on as received and reported", () => {
    const unknown: Lease[] = [];
    const set = createLeaseSet(own, { onUnknownRemoval: (l) => unknown.push(l) });
    set.apply([{ kind: "added", lease: lease("10.5.2.0/24") }]);
    const removal = deletedKey("10.5.7.0/24");
    const changes = set.apply([{ kind: "removed", lease: removal }]);
    assert.deepEqual(changes, [{ kind: "removed", lease: removal }]);
    assert.deepEqual(unknown, [removal]);
    assert.deepEqual(set.peers().map(describeLease), ["10.5.2.0/24 192.168.0.9 aa:aa:aa:aa:aa:aa"]);
  });

  test("an unknown removal without a callback is still passed on", () => {
    const set = createLeaseSet(own);
    assert.deepEqual(describeEvents(set.apply([{ kind: "removed", lease: deletedKey("10.5.7.0/24") }])), ["removed 10.5.7.0/24 0.0.0.0 -"]);
  });

  test("a first snapshot adds every lease but the node's own", () => {
    const set = createLeaseSet(own);
    const changes = set.apply([
      { kind: "snapshot", leases: [lease("10.5.2.0/24", "192.168.0.2"), lease("10.5.1.0/24"), lease("10.5.3.0/24", "192.168.0.3")] },
    ]);
    assert.deepEqual(describeEvents(changes), [
      "added 10.5.2.0/24 192.168.0.2 aa:aa:aa:aa:aa:aa",
      "added 10.5.3.0/24 192.168.0.3 aa:aa:aa:aa:aa:aa",
    ]);
    assert.equal(set.peers().length, 2);
  });

  test("a later snapshot adds the new, removes the missing (with cached attributes) and keeps the rest quiet", () => {
    const set = createLeaseSet(own);
    set.apply([
      {
        kind: "snapshot",
        leases: [lease("10.5.2.0/24", "192.168.0.2", "02:02:02:02:02:02"), lease("10.5.3.0/24", "192.168.0.3", "03:03:03:03:03:03")],
      },
    ]);
    const changes = set.apply([
      {
        kind: "snapshot",
        leases: [lease("10.5.3.0/24", "192.168.0.3", "03:03:03:03:03:03"), lease("10.5.4.0/24", "192.168.0.4", "04:04:04:04:04:04")],
      },
    ]);
    assert.deepEqual(describeEvents(changes), [
      "added 10.5.4.0/24 192.168.0.4 04:04:04:04:04:04",
      "removed 10.5.2.0/24 192.168.0.2 02:02:02:02:02:02",
    ]);
    assert.deepEqual(set.peers().map(describeLease), [
      "10.5.3.0/24 192.168.0.3 03:03:03:03:03:03",
      "10.5.4.0/24 192.168.0.4 04:04:04:04:04:04",
    ]);
  });

  test("a snapshot with changed attributes emits nothing for that lease (Flannel) but peers() has the new attributes", () => {
    const set = createLeaseSet(own);
    set.apply([{ kind: "added", lease: lease("10.5.2.0/24", "192.168.0.2", "02:02:02:02:02:02") }]);
    const changes = set.apply([{ kind: "snapshot", leases: [lease("10.5.2.0/24", "192.168.0.20", "20:20:20:20:20:20")] }]);
    assert.deepEqual(changes, []);
    assert.deepEqual(set.peers().map(describeLease), ["10.5.2.0/24 192.168.0.20 20:20:20:20:20:20"]);
  });

  test("the node's own lease in two snapshots is never announced as removed (Flannel's cache would hold it)", () => {
    const set = createLeaseSet(own);
    set.apply([{ kind: "snapshot", leases: [lease("10.5.1.0/24"), lease("10.5.2.0/24")] }]);
    assert.deepEqual(set.apply([{ kind: "snapshot", leases: [lease("10.5.1.0/24"), lease("10.5.2.0/24")] }]), []);
  });

  test("a snapshot naming the same subnets twice keeps one peer with the later attributes", () => {
    const set = createLeaseSet(own);
    const changes = set.apply([
      { kind: "snapshot", leases: [lease("10.5.2.0/24", "192.168.0.2"), lease("10.5.2.0/24", "192.168.0.22")] },
    ]);
    assert.deepEqual(describeEvents(changes), ["added 10.5.2.0/24 192.168.0.22 aa:aa:aa:aa:aa:aa"]);
    assert.deepEqual(set.peers().map(describeLease), ["10.5.2.0/24 192.168.0.22 aa:aa:aa:aa:aa:aa"]);
  });

  test("a batch is applied in order: events before a snapshot count against it", () => {
    const set = createLeaseSet(own);
    const changes = set.apply([
      { kind: "added", lease: lease("10.5.2.0/24", "192.168.0.2") },
      { kind: "snapshot", leases: [lease("10.5.3.0/24", "192.168.0.3")] },
      { kind: "removed", lease: deletedKey("10.5.3.0/24") },
    ]);
    assert.deepEqual(describeEvents(changes), [
      "added 10.5.2.0/24 192.168.0.2 aa:aa:aa:aa:aa:aa",
      "added 10.5.3.0/24 192.168.0.3 aa:aa:aa:aa:aa:aa",
      "removed 10.5.2.0/24 192.168.0.2 aa:aa:aa:aa:aa:aa",
      "removed 10.5.3.0/24 192.168.0.3 aa:aa:aa:aa:aa:aa",
    ]);
    assert.deepEqual(set.peers(), []);
  });

  test("leases are identified by their exact subnets: a v4-only and a dual-stack key are two leases", () => {
    const set = createLeaseSet(own);
    set.apply([
      { kind: "added", lease: lease("10.5.2.0/24", "192.168.0.2", "02:02:02:02:02:02") },
      { kind: "added", lease: lease("10.5.2.0/24&fd00:0:0:2::/64", "192.168.0.2", "22:22:22:22:22:22") },
    ]);
    assert.equal(set.peers().length, 2);
    const changes = set.apply([{ kind: "removed", lease: deletedKey("10.5.2.0/24") }]);
    assert.deepEqual(describeEvents(changes), ["removed 10.5.2.0/24 192.168.0.2 02:02:02:02:02:02"]);
    assert.deepEqual(set.peers().map(describeLease), ["10.5.2.0/24&fd00:0:0:2::/64 192.168.0.2 22:22:22:22:22:22"]);
  });

  test("IPv6-only leases (kube) are tracked by their IPv6 subnet", () => {
    const set = createLeaseSet({ subnetV6: cidr("fd00:0:0:1::/64") });
    set.apply([
      { kind: "added", lease: lease("&fd00:0:0:2::/64", "192.168.0.2") },
      { kind: "added", lease: lease("&fd00:0:0:3::/64", "192.168.0.3") },
      { kind: "added", lease: lease("&fd00:0:0:1::/64", "192.168.0.1") },
    ]);
    const changes = set.apply([{ kind: "removed", lease: deletedKey("&fd00:0:0:2::/64") }]);
    assert.deepEqual(describeEvents(changes), ["removed fd00:0:0:2::/64 192.168.0.2 aa:aa:aa:aa:aa:aa"]);
    assert.deepEqual(set.peers().map(describeLease), ["fd00:0:0:3::/64 192.168.0.3 aa:aa:aa:aa:aa:aa"]);
  });

  test("peers() cannot be changed by a caller, and is the same array until the set changes", () => {
    const set = createLeaseSet(own);
    set.apply([{ kind: "added", lease: lease("10.5.2.0/24") }]);
    const first = set.peers();
    assert.throws(() => ((first as Lease[]).length = 0), TypeError);
    assert.equal(set.peers().length, 1);
    assert.equal(set.peers(), first, "nothing changed: the very same array (an idle resync copies nothing)");
    set.apply([{ kind: "added", lease: lease("10.5.3.0/24") }]);
    const second = set.peers();
    assert.notEqual(second, first);
    assert.equal(second.length, 2);
    assert.equal(first.length, 1, "an array handed out earlier keeps what it held");
    set.apply([{ kind: "removed", lease: lease("10.5.2.0/24") }]);
    assert.notEqual(set.peers(), second);
    set.apply([{ kind: "snapshot", leases: [lease("10.5.3.0/24")] }]);
    assert.deepEqual(set.peers().map(describeLease), second.slice(1).map(describeLease));
  });
});
