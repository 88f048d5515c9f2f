// End to end on a 2-node vxlan lab (etcd mode, --ip-masq): /metrics, scraped over HTTP inside a
// node's namespace, follows what happens to the cluster — a peer lease written to etcd raises the
// peers gauges and the apply counters, its removal lowers them; a route deleted by hand raises the
// repaired-entries counter after a resync; a masquerade rule deleted by hand raises the rules
// counter; the lease's expiry is the one etcd holds.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { waitFor } from "../../deploy/lab/tools/wait.ts";
import { sampleSum, sampleValue, type Exposition } from "../agent/ops/exposition.ts";
import { needsRoot } from "../support/root.ts";
import { buildUnlessInSuite, labEtcd, leaseOf, oneResyncDeadlineMs, readLeases, scrapeMetrics, subnetsPrefix, useTestLab, vxlanDevice } from "./lab-fixture.ts";
import type { LabNode } from "../../deploy/lab/lab.ts";

const fakePeerKey = `${subnetsPrefix}10.244.250.0-24`;
const fakePeerValue = JSON.stringify({ PublicIP: "198.18.0.250", BackendType: "vxlan", BackendData: { VNI: 1, VtepMAC: "0a:58:0a:f4:fa:00" } });

describe("metrics in a vxlan lab", { skip: needsRoot, timeout: 240_000 }, () => {
  before(buildUnlessInSuite);
  const theLab = useTestLab({ nodes: 2, backend: "vxlan", ipMasq: true });

  /** Scrapes `node` until `check` holds (within `timeoutMs`); returns that scrape. */
  async function scrapeUntil(node: LabNode, what: string, check: (m: Exposition) => boolean, timeoutMs = oneResyncDeadlineMs): Promise<Exposition> {
    let last: Exposition | undefined;
    return waitFor(
      async () => {
        last = await scrapeMetrics(node);
        return check(last) ? last : undefined;
      },
      { what: `${what} on ${node.name}`, timeoutMs, intervalMs: 200 },
    ).catch((error: unknown) => {
      const flannel = [...(last ?? new Map()).entries()].filter(([name]) => name.startsWith("flannel_")).map(([name, f]) => `${name} ${JSON.stringify(f.samples)}`);
      throw new Error(`${String(error)}\nlast scrape:\n${flannel.join("\n")}\nflanneld log:\n${node.flanneld.logTail(15)}`);
    });
  }

  test("the lease, the peers and the process are exported once the agent is ready", async () => {
    const lab = theLab();
    const node1 = lab.nodes[0]!;
    const m = await scrapeUntil(node1, "one peer programmed", (s) => sampleValue(s, "flannel_peers_programmed", { backend: "vxlan" }) === 1);
    const own = leaseOf(await readLeases(lab), node1);
    assert.equal(sampleValue(m, "flannel_ready"), 1);
    assert.equal(sampleValue(m, "flannel_lease_held"), 1);
    const expiry = sampleValue(m, "flannel_lease_expiry_timestamp_seconds", { subnet: own.subnet });
    assert.ok(expiry !== undefined && Math.abs(expiry - (Date.now() / 1000 + 24 * 3600)) < 600, `lease expiry ${expiry}: Flannel's leases last 24 h`);
    assert.equal(sampleValue(m, "flannel_peers_known", { backend: "vxlan" }), 1);
    assert.equal(sampleValue(m, "flannel_datastore_watch_following", { watch: "leases" }), 1);
    assert.ok(sampleSum(m, "flannel_reconcile_runs_total", { kind: "full", outcome: "success" }) >= 1);
    assert.ok((sampleValue(m, "process_resident_memory_bytes") ?? 0) > 20 * 1024 * 1024);
  });

  test("a peer lease added to etcd raises the peers gauges and the apply counters; removing it lowers them", async () => {
    const lab = theLab();
    const node1 = lab.nodes[0]!;
    const before = await scrapeMetrics(node1);
    const applies = sampleSum(before, "flannel_reconcile_runs_total", { kind: "apply" });
    const added = sampleSum(before, "flannel_reconcile_entries_total", { change: "added" });
    await labEtcd(lab).etcdctl("put", fakePeerKey, fakePeerValue);
    try {
      const m = await scrapeUntil(node1, "two peers programmed", (s) => sampleValue(s, "flannel_peers_programmed", { backend: "vxlan" }) === 2, 5000);
      assert.equal(sampleValue(m, "flannel_peers_known", { backend: "vxlan" }), 2);
      assert.ok(sampleSum(m, "flannel_reconcile_runs_total", { kind: "apply" }) > applies, "no apply counted");
      // A vxlan peer is a neighbour, an FDB entry and a route.
      assert.ok(sampleSum(m, "flannel_reconcile_entries_total", { change: "added" }) >= added + 3, "the peer's entries were not counted");
      const routes = await node1.ipJson<Array<{ dst: string }>>("route", "show", "dev", vxlanDevice);
      assert.ok(routes.some((route) => route.dst === "10.244.250.0/24"), "the gauge rose but the route is not there");
    } finally {
      await labEtcd(lab).etcdctl("del", fakePeerKey);
    }
    await scrapeUntil(node1, "one peer again", (s) => sampleValue(s, "flannel_peers_known", { backend: "vxlan" }) === 1 && sampleValue(s, "flannel_peers_programmed", { backend: "vxlan" }) === 1, 5000);
  });

  test("a peer route deleted by hand raises the repaired-entries counter within one resync", async () => {
    const lab = theLab();
    const [node1, node2] = [lab.nodes[0]!, lab.nodes[1]!];
    const peer = leaseOf(await readLeases(lab), node2);
    const repairedBefore = sampleSum(await scrapeMetrics(node1), "flannel_reconcile_entries_total", { change: "repaired" });
    await node1.ip("route", "del", peer.subnet, "dev", vxlanDevice);
    const m = await scrapeUntil(node1, "the route counted as repaired", (s) => sampleSum(s, "flannel_reconcile_entries_total", { change: "repaired" }) >= repairedBefore + 1);
    const routes = await node1.ipJson<Array<{ dst: string }>>("route", "show", "dev", vxlanDevice);
    assert.ok(routes.some((route) => route.dst === peer.subnet), "counted as repaired, yet the route is missing");
    assert.equal(sampleValue(m, "flannel_ready"), 1);
  });

  test("a masquerade rule deleted by hand raises the rules-repaired counter within one resync; rule resyncs keep counting", async () => {
    const lab = theLab();
    const node1 = lab.nodes[0]!;
    const before = await scrapeMetrics(node1);
    const repaired = sampleValue(before, "flannel_rules_repaired_total") ?? 0;
    const resyncs = sampleValue(before, "flannel_rule_resyncs_total") ?? 0;
    await node1.exec(["iptables", "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "flanneld masq", "-j", "FLANNEL-POSTRTG"]);
    const m = await scrapeUntil(node1, "the rule counted as repaired", (s) => (sampleValue(s, "flannel_rules_repaired_total") ?? 0) > repaired);
    assert.ok((sampleValue(m, "flannel_rule_resyncs_total") ?? 0) > resyncs);
    const { stdout } = await node1.exec(["iptables", "-t", "nat", "-S", "POSTROUTING"]);
    assert.match(stdout, /-j FLANNEL-POSTRTG/, "counted as repaired, yet the jump is missing");
  });
});
