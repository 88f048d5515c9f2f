// /metrics scraped with a real HTTP GET from the health server and parsed as the Prometheus text
// format: every flannel_ metric is declared with HELP and TYPE, follows the naming conventions
// (counters end in _total, durations in _seconds), and carries the values the record holds.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FlannelError } from "../../../backends/errors.ts";
import { parseCidr, parseIp } from "../../../backends/net/ip.ts";
import { startHealthServer } from "../../../agent/ops/health.ts";
import { createMetrics, type MetricSources, type MetricsEndpoint } from "../../../agent/ops/metrics.ts";
import { createOpsRecord } from "../../../agent/ops/ops-record.ts";
import { createReadiness } from "../../../agent/ops/readiness.ts";
import { parseExposition, sampleValue, type Exposition } from "./exposition.ts";

const valueOf = sampleValue;

async function scrape(sources: MetricSources, endpoint: MetricsEndpoint = createMetrics(sources)): Promise<Exposition> {
  await using server = await startHealthServer("127.0.0.1", 0, sources.readiness, endpoint);
  const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

function sources() {
  const record = createOpsRecord();
  const readiness = createReadiness(record, { nearExpiryMs: 60_000, peerWatch: "leases" });
  const metricSources: MetricSources = { record, readiness, datastore: "etcd" };
  return { record, readiness, metricSources };
}

describe("/metrics", () => {
  test("every flannel_ metric has HELP and TYPE and follows the naming conventions; process metrics are kept", async () => {
    const { metricSources } = sources();
    const families = await scrape(metricSources);
    const ours = [...families.entries()].filter(([name]) => name.startsWith("flannel_"));
    assert.ok(ours.length >= 15, `only ${ours.length} flannel_ metrics`);
    for (const [name, family] of ours) {
      assert.ok(family.help !== undefined && family.help.length > 10, `${name} has no HELP`);
      assert.ok(["counter", "gauge", "histogram"].includes(family.type ?? ""), `${name} type ${family.type}`);
      assert.equal(family.type === "counter", name.endsWith("_total"), `${name}: counters, and only counters, end in _total`);
      if (name.includes("duration") || name.includes("timestamp")) assert.match(name, /_seconds$/);
    }
    for (const kept of ["process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "nodejs_heap_size_used_bytes"]) {
      assert.ok(families.has(kept), `${kept} missing`);
    }
  });

  test("values follow the record: lease, peers, runs and durations, entries, errors, watches, rules, udp traffic", async () => {
    const { record, metricSources } = sources();
    const endpoint = createMetrics(metricSources); // before the runs: the histogram observes each as it ends
    const expiresAt = new Date(Date.now() + 3600_000);
    record.leaseAcquired({ subnet: parseCidr("10.244.1.0/24")!, attrs: { publicIP: parseIp("198.18.0.1")!, backendType: "vxlan" }, expiresAt });
    record.subnetEnvWritten();
    record.watchFollowing("leases");
    record.watchInterrupted("own-lease", "etcd-unavailable");
    record.watchRestarted("own-lease", "error");
    record.requestFailed("put", "etcd-unavailable");
    record.requestFailed("put", "etcd-unavailable");
    record.reconcileRun({ kind: "full", durationMs: 30, report: { added: 6, removed: 0, repaired: 0, errors: [] } }, 2);
    record.reconcileRun({ kind: "resync", durationMs: 3, report: { added: 0, removed: 1, repaired: 2, errors: [new FlannelError("kernel-command-failed", "x")] } }, 2);
    record.kernelError("blackhole", "kernel-command-failed");
    metricSources.dataPlane = {
      backend: "udp",
      peersKnown: () => 2,
      peersProgrammed: () => record.peersProgrammed,
      traffic: () => ({ packets: { tx: 10, rx: 7 }, bytes: { tx: 1000, rx: 700 }, drops: { "unknown-peer": 3 } }),
    };
    metricSources.rules = () => ({ checks: 4, repairs: 1, repairedDifferences: 2, lastError: undefined });
    const m = await scrape(metricSources, endpoint);

    assert.equal(valueOf(m, "flannel_lease_held"), 1);
    assert.equal(valueOf(m, "flannel_lease_expiry_timestamp_seconds", { subnet: "10.244.1.0/24" }), expiresAt.getTime() / 1000);
    assert.equal(valueOf(m, "flannel_peers_known", { backend: "udp" }), 2);
    assert.equal(valueOf(m, "flannel_peers_programmed", { backend: "udp" }), 1);
    assert.equal(valueOf(m, "flannel_reconcile_runs_total", { kind: "full", outcome: "success" }), 1);
    assert.equal(valueOf(m, "flannel_reconcile_runs_total", { kind: "resync", outcome: "entry-errors" }), 1);
    assert.equal(valueOf(m, "flannel_reconcile_duration_seconds_count", { kind: "full" }), 1);
    assert.equal(valueOf(m, "flannel_reconcile_duration_seconds_sum", { kind: "full" }), 0.03);
    assert.equal(valueOf(m, "flannel_reconcile_duration_seconds_bucket", { kind: "full", le: "0.025" }), 0);
    assert.equal(valueOf(m, "flannel_reconcile_duration_seconds_bucket", { kind: "full", le: "0.05" }), 1);
    assert.equal(valueOf(m, "flannel_reconcile_entries_total", { kind: "full", change: "added" }), 6);
    assert.equal(valueOf(m, "flannel_reconcile_entries_total", { kind: "resync", change: "repaired" }), 2);
    assert.equal(valueOf(m, "flannel_kernel_errors_total", { component: "dataplane", code: "kernel-command-failed" }), 1);
    assert.equal(valueOf(m, "flannel_kernel_errors_total", { component: "blackhole", code: "kernel-command-failed" }), 1);
    assert.equal(valueOf(m, "flannel_datastore_errors_total", { datastore: "etcd", operation: "put", code: "etcd-unavailable" }), 2);
    assert.equal(valueOf(m, "flannel_datastore_watch_following", { watch: "leases" }), 1);
    assert.equal(valueOf(m, "flannel_datastore_watch_following", { watch: "own-lease" }), 0);
    assert.equal(valueOf(m, "flannel_datastore_watch_restarts_total", { watch: "own-lease", reason: "error" }), 1);
    assert.equal(valueOf(m, "flannel_rule_resyncs_total"), 4);
    assert.equal(valueOf(m, "flannel_rules_repaired_total"), 2);
    assert.equal(valueOf(m, "flannel_backend_packets_total", { backend: "udp", direction: "tx" }), 10);
    assert.equal(valueOf(m, "flannel_backend_bytes_total", { backend: "udp", direction: "rx" }), 700);
    assert.equal(valueOf(m, "flannel_backend_drops_total", { backend: "udp", reason: "unknown-peer" }), 3);
    assert.equal(valueOf(m, "flannel_ready"), 0, "the resync had entry errors");
  });

  test("a counter never goes backwards between scrapes, and metrics of parts not started are absent", async () => {
    const { record, metricSources } = sources();
    const endpoint = createMetrics(metricSources);
    const before = parseExposition(await endpoint.render());
    assert.equal(before.get("flannel_peers_known")?.samples.length, 0);
    assert.equal(before.get("flannel_lease_expiry_timestamp_seconds")?.samples.length, 0);
    assert.equal(before.get("flannel_backend_packets_total")?.samples.length, 0);
    record.requestFailed("list", "etcd-unavailable");
    const first = valueOf(parseExposition(await endpoint.render()), "flannel_datastore_errors_total", { code: "etcd-unavailable" });
    record.requestFailed("list", "etcd-unavailable");
    const second = valueOf(parseExposition(await endpoint.render()), "flannel_datastore_errors_total", { code: "etcd-unavailable" });
    assert.deepEqual([first, second], [1, 2]);
  });

  test("peer probes are exported only once attached: totals that never go backwards, an RTT histogram, and the peers unreachable now", async () => {
    const { metricSources } = sources();
    const endpoint = createMetrics(metricSources);
    assert.equal(parseExposition(await endpoint.render()).has("flannel_peer_probes_sent_total"), false, "no prober, no probe metrics");
    const peer = (name: string, sent: number, lost: number, unreachableSinceMs?: number) => ({ peer: name, address: `${name}-vtep`, family: 4 as const, sent, lost, rttSeconds: 0.001, unreachableSinceMs });
    let peers = [peer("10.244.1.0/24", 10, 1), peer("10.244.2.0/24", 5, 5, 1_700_000_000_000)];
    let rttListener: ((peer: string, seconds: number) => void) | undefined;
    endpoint.attachProbes({ peers: () => peers, onRtt: (listener) => void (rttListener = listener) });
    rttListener?.("10.244.1.0/24", 0.0004);
    rttListener?.("10.244.1.0/24", 0.002);
    let m = parseExposition(await endpoint.render());
    assert.equal(sampleValue(m, "flannel_peer_probes_sent_total"), 15);
    assert.equal(sampleValue(m, "flannel_peer_probes_lost_total"), 6);
    assert.equal(sampleValue(m, "flannel_peer_probe_rtt_seconds_count"), 2);
    assert.equal(sampleValue(m, "flannel_peer_probe_rtt_seconds_bucket", { le: "0.0005" }), 1);
    assert.equal(sampleValue(m, "flannel_peer_unreachable_since_timestamp_seconds", { peer: "10.244.2.0/24" }), 1_700_000_000);
    assert.equal(sampleValue(m, "flannel_peer_unreachable_since_timestamp_seconds", { peer: "10.244.1.0/24" }), undefined);
    peers = [peer("10.244.1.0/24", 12, 1)]; // the unreachable peer left the cluster
    m = parseExposition(await endpoint.render());
    assert.equal(sampleValue(m, "flannel_peer_probes_sent_total"), 17, "a departed peer's probes still count");
    assert.equal(m.get("flannel_peer_unreachable_since_timestamp_seconds")?.samples.length, 0);
  });
});
