// Leases to peers: the backend sees only leases of its own type; a foreign lease is reported
// once (Flannel warns on each event), not on every reconcile.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCidr, parseIp } from "../../backends/net/ip.ts";
import { peerChangesForBackend, peersForBackend } from "../../agent/peers.ts";
import type { Lease } from "../../agent/subnet/manager.ts";
import { createMemoryLog } from "../support/memory-log.ts";

const lease = (subnet: string, backendType: string, backendData?: unknown): Lease => ({
  subnet: parseCidr(subnet)!,
  attrs: { publicIP: parseIp("198.18.0.9")!, backendType, ...(backendData === undefined ? {} : { backendData }) },
});

test("only leases of the backend's type become peers, with their data; others warn once", () => {
  const log = createMemoryLog();
  const warned = new Set<string>();
  const leases = [lease("10.244.1.0/24", "vxlan", { VNI: 1, VtepMAC: "02:00:00:00:00:01" }), lease("10.244.2.0/24", "host-gw")];
  for (let i = 0; i < 3; i++) {
    const peers = peersForBackend(leases, "vxlan", log, warned);
    assert.equal(peers.length, 1);
    assert.deepEqual(peers[0]!.backendData, { VNI: 1, VtepMAC: "02:00:00:00:00:01" });
    assert.equal(peers[0]!.publicIP.value, parseIp("198.18.0.9")!.value);
  }
  const warnings = log.find("another backend type", "warn");
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.fields.subnet, "10.244.2.0/24");
});

test("lease changes become peer changes; a lease that switched to another backend type is a removal", () => {
  const log = createMemoryLog();
  const warned = new Set<string>();
  const changes = peerChangesForBackend(
    [
      { kind: "added", lease: lease("10.244.1.0/24", "vxlan", { VNI: 1, VtepMAC: "02:00:00:00:00:01" }) },
      { kind: "removed", lease: lease("10.244.3.0/24", "vxlan") },
      { kind: "added", lease: lease("10.244.2.0/24", "host-gw") },
    ],
    "vxlan",
    log,
    warned,
  );
  assert.deepEqual(
    changes.map((change) => [change.kind, change.peer.subnet?.address === parseCidr("10.244.1.0/24")!.address ? "1" : "other"]),
    [["added", "1"], ["removed", "other"], ["removed", "other"]],
  );
  assert.equal(log.find("another backend type", "warn").length, 1);
});
