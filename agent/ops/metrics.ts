// /metrics: the operational record (ops-record.ts) in the Prometheus text format. The only file
// that imports prom-client, loaded (dynamic import) only when the health port is on. Every value
// is read from the record when scraped — nothing here counts on its own — except the reconcile
// duration histogram, which observes each run as the record reports it. Names and meanings are
// documented in README.md ("Metrics and health"); prom-client's default process_* and nodejs_*
// metrics are kept (memory, CPU, file descriptors, event loop, GC).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { TxChecksumOffloadReport } from "../../backends/backend.ts";
import type { RuleKeeperStats } from "../../backends/kernel/rules/rule-keeper.ts";
import type { TrafficCounters } from "./backend-hooks.ts";
import type { LabelledCounts } from "./labelled-counts.ts";
import type { ProbeStats } from "./probes/prober.ts";
import type { OpsRecord } from "./ops-record.ts";
import type { Readiness } from "./readiness.ts";

/** What the data plane answers once the backend runs. */
export interface DataPlaneSource {
  readonly backend: string;
  peersKnown(): number;
  peersProgrammed(): number;
  readonly traffic?: (() => TrafficCounters | undefined) | undefined;
}

/** The metrics' inputs; `dataPlane` and `rules` are filled in by the daemon as those parts start. */
export interface MetricSources {
  readonly record: OpsRecord;
  readonly readiness: Readiness;
  readonly datastore: "etcd" | "kube";
  dataPlane?: DataPlaneSource | undefined;
  rules?: (() => RuleKeeperStats) | undefined;
  /** vxlan: the TX checksum-offload decision taken at start. */
  txChecksumOffload?: (() => TxChecksumOffloadReport | undefined) | undefined;
}

export interface MetricsEndpoint {
  readonly contentType: string;
  render(): Promise<string>;
  /**
   * Exports the peer probes' results from now on (the daemon calls it once the prober runs, so
   * an agent without probes shows no probe metrics at all). Once only.
   */
  attachProbes(probes: ProbeStats): void;
}

/** Reconcile runs take from a millisecond (an apply) to seconds (thousands of peers at start). */
const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(sources: MetricSources): MetricsEndpoint {
  const registry = new Registry();
  // Event-loop delay sampled every second rather than prom-client's 10 ms: measured on the
  // interpreter-only agent, 10 ms cost 1 % of a core when idle, 100 ms 0.1–0.2 %, 1 s nothing
  // measurable; stalls long enough to matter to a node agent still show.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  const { record } = sources;
  const registers = [registry];

  const gauge = (name: string, help: string, labelNames: readonly string[], collect: (g: Gauge) => void): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        collect(this);
      },
    });
  };
  /** A counter whose value is always the record's count (reset, then set from the table). */
  const counterFrom = (name: string, help: string, table: () => LabelledCounts | undefined, extra: Readonly<Record<string, string>> = {}): void => {
    const labels = table()?.labelNames ?? [];
    new Counter({
      name,
      help,
      labelNames: [...Object.keys(extra), ...labels],
      registers,
      collect() {
        this.reset();
        for (const entry of table()?.entries() ?? []) this.inc({ ...extra, ...entry.labels }, entry.value);
      },
    });
  };
  /** A counter set from a map of totals (the backend's traffic counters). */
  const counterFromMap = (name: string, help: string, label: string, read: (c: TrafficCounters) => Readonly<Record<string, number>> | undefined): void => {
    new Counter({
      name,
      help,
      labelNames: ["backend", label],
      registers,
      collect() {
        this.reset();
        const plane = sources.dataPlane;
        const counters = plane?.traffic?.();
        if (plane === undefined || counters === undefined) return;
        for (const [value, count] of Object.entries(read(counters) ?? {})) {
          if (Number.isFinite(count) && count >= 0) this.inc({ backend: plane.backend, [label]: value }, count);
        }
      },
    });
  };

  gauge("flannel_ready", "1 while /readyz answers 200.", [], (g) => g.set(sources.readiness.problems().length === 0 ? 1 : 0));
  gauge("flannel_lease_held", "1 while this node holds its subnet lease.", [], (g) => g.set(record.lease?.held === true ? 1 : 0));
  gauge("flannel_lease_expiry_timestamp_seconds", "When the own lease runs out unless renewed (absent for a reservation or a kube lease).", ["subnet"], (g) => {
    const lease = record.lease;
    if (lease?.held === true && lease.expiresAt !== undefined) g.set({ subnet: lease.subnet }, lease.expiresAt.getTime() / 1000);
  });
  gauge("flannel_peers_known", "Peers (other nodes' leases of this backend type) the agent knows.", ["backend"], (g) => {
    const plane = sources.dataPlane;
    if (plane !== undefined) g.set({ backend: plane.backend }, plane.peersKnown());
  });
  gauge("flannel_peers_programmed", "Peers whose entries are in the data plane (a lower bound after a run with entry errors).", ["backend"], (g) => {
    const plane = sources.dataPlane;
    if (plane !== undefined) g.set({ backend: plane.backend }, plane.peersProgrammed());
  });
  counterFrom("flannel_reconcile_runs_total", "Data-plane runs by kind (apply, resync, full) and outcome (success, entry-errors, failed).", () => record.reconcileRuns);
  const durations = new Histogram({
    name: "flannel_reconcile_duration_seconds",
    help: "How long each data-plane run took, by kind.",
    labelNames: ["kind"],
    buckets: durationBuckets,
    registers,
  });
  record.onRun((run) => durations.observe({ kind: run.kind }, run.durationMs / 1000));
  counterFrom("flannel_reconcile_entries_total", "Kernel entries (routes, neighbours, FDB entries) changed by data-plane runs: added, removed, or repaired (drift put back).", () => record.reconcileEntries);
  counterFrom("flannel_kernel_errors_total", "Kernel operations that failed, by component (dataplane, rules, blackhole) and error code.", () => record.kernelErrors);
  counterFrom("flannel_datastore_errors_total", "Datastore requests that failed, by operation and error code.", () => record.datastoreErrors, { datastore: sources.datastore });
  gauge("flannel_datastore_watch_following", "1 while the watch follows the datastore, 0 while it is interrupted and retrying.", ["watch"], (g) => {
    for (const [watch, state] of record.watches) g.set({ watch }, state.following ? 1 : 0);
  });
  counterFrom("flannel_datastore_watch_restarts_total", "Watches opened again, by reason (error, compacted, expired, overflow).", () => record.watchRestarts);
  new Counter({
    name: "flannel_rule_resyncs_total",
    help: "Checks of the masquerade and forward rules against the kernel (start-up and every --iptables-resync).",
    registers,
    collect() {
      this.reset();
      const stats = sources.rules?.();
      if (stats !== undefined) this.inc(stats.checks);
    },
  });
  new Counter({
    name: "flannel_rules_repaired_total",
    help: "Rule differences found by a check and repaired.",
    registers,
    collect() {
      this.reset();
      const stats = sources.rules?.();
      if (stats !== undefined) this.inc(stats.repairedDifferences);
    },
  });
  gauge(
    "flannel_vxlan_tx_checksum_offload_workaround",
    "1 when TX checksum offload was turned off on the VXLAN devices (the workaround), 0 when left on; basis: flag, kernel, driver or none (--vxlan-tx-checksum-offload).",
    ["setting", "basis"],
    (g) => {
      const report = sources.txChecksumOffload?.();
      if (report !== undefined) g.set({ setting: report.setting, basis: report.basis }, report.workaround ? 1 : 0);
    },
  );
  counterFromMap("flannel_backend_packets_total", "Packets through a userspace data plane (udp), by direction (tx: to peers, rx: from peers).", "direction", (c) => c.packets);
  counterFromMap("flannel_backend_bytes_total", "Bytes through a userspace data plane (udp), by direction.", "direction", (c) => c.bytes);
  counterFromMap("flannel_backend_drops_total", "Packets a userspace data plane (udp) dropped, by reason.", "reason", (c) => c.drops);

  let probesAttached = false;
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    attachProbes(probes) {
      if (probesAttached) throw new Error("peer probes are already exported");
      probesAttached = true;
      registerProbeMetrics(registers, probes);
    },
  };
}

/**
 * Per-peer series would grow with the cluster (5000 peers, 5000 series each): the totals and the
 * RTT histogram carry no peer label; only peers that are unreachable now are named.
 */
function registerProbeMetrics(registers: Registry[], probes: ProbeStats): void {
  // The prober counts per current target; a peer that leaves takes its counts along, so they are
  // carried here to keep the totals monotonic.
  const total = (name: string, help: string, field: "sent" | "lost"): void => {
    const last = new Map<string, number>();
    let departed = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = new Map<string, number>(probes.peers().map((peer) => [`${peer.peer} ${peer.address}`, peer[field]]));
        for (const [key, value] of last) if (!now.has(key)) departed += value;
        last.clear();
        let sum = departed;
        for (const [key, value] of now) {
          last.set(key, value);
          sum += value;
        }
        this.reset();
        this.inc(sum);
      },
    });
  };
  total("flannel_peer_probes_sent_total", "ICMP echo requests sent to peers' backend addresses.", "sent");
  total("flannel_peer_probes_lost_total", "Peer probes not answered within the probe timeout, or refused by the kernel.", "lost");
  const rtt = new Histogram({
    name: "flannel_peer_probe_rtt_seconds",
    help: "Round-trip time of answered peer probes.",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  probes.onRtt((_peer, seconds) => rtt.observe(seconds));
  new Gauge({
    name: "flannel_peer_unreachable_since_timestamp_seconds",
    help: "For each peer unreachable now: when its probes stopped being answered.",
    labelNames: ["peer", "address"],
    registers,
    collect() {
      this.reset();
      for (const peer of probes.peers()) {
        if (peer.unreachableSinceMs !== undefined) this.set({ peer: peer.peer, address: peer.address }, peer.unreachableSinceMs / 1000);
      }
    },
  });
}
