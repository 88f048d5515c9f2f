// flanneld: wiring only. Flannel's start-up sequence (F:main.go; reference §2.4) — config →
// interface/public IP → backend prepare → lease → rules → subnet.env → watch → reconcile — with
// renewal in the background, health endpoints (/healthz, /readyz evaluated continuously, /metrics),
// and a clean stop on SIGTERM/SIGINT that leaves the data plane in place so running pods keep
// their connectivity. Every part reports what happens to the operational record
// (ops/ops-record.ts), which /readyz and /metrics read.
import { existsSync } from "node:fs";
import type { Peer } from "../backends/backend.ts";
import { FlannelError } from "../backends/errors.ts";
import { spawnCoprocess } from "../backends/kernel/batch-process.ts";
import { openKernel } from "../backends/kernel/kernel.ts";
import { createLinkQuery } from "../backends/kernel/link-query.ts";
import { startRuleKeeper } from "../backends/kernel/rules/rule-keeper.ts";
import { readSysctl } from "../backends/kernel/sysctl.ts";
import { ensureBlackholeRoute } from "../backends/kernel/blackhole.ts";
import { formatCidr, formatIp } from "../backends/net/ip.ts";
import { createBackend } from "../backends/registry.ts";
import { snapshotFileBeside } from "../backends/udp/data-plane-snapshot.ts";
import type { FlanneldOptions } from "./config/flag-table.ts";
import { selectExternalInterface } from "./config/interface.ts";
import { enabledFamilies } from "./config/net-conf-check.ts";
import { readPreviousSubnetEnv, writeSubnetEnv } from "./config/subnet-env.ts";
import { expectedDevices, programmedPeersOf, trafficCountersOf } from "./ops/backend-hooks.ts";
import { startHealthServer } from "./ops/health.ts";
import type { Log } from "./ops/log.ts";
import type { MetricSources, MetricsEndpoint } from "./ops/metrics.ts";
import { createOpsRecord } from "./ops/ops-record.ts";
import { repeatEvery } from "./ops/periodic.ts";
import { createPeerChangeLog } from "./ops/peer-change-log.ts";
import { createReadiness } from "./ops/readiness.ts";
import { startReadinessMonitor } from "./ops/readiness-monitor.ts";
import { peerChangesForBackend, peersForBackend } from "./peers.ts";
import { startReconcileLoop } from "./reconcile-loop.ts";
import { leaseAttrs, localNode, ownSubnets, ruleFamilies, subnetEnvContent } from "./startup.ts";
import { errorCode } from "./subnet/datastore-observer.ts";
import { createLeaseSet } from "./subnet/lease-set.ts";
import type { Lease } from "./subnet/manager.ts";
import { openSubnetManager } from "./subnet/open-manager.ts";

/** Why the daemon returned, and the exit code Flannel gives for it. */
export interface DaemonOutcome {
  readonly exitCode: number;
  readonly reason: "stopped" | "lease-revoked";
}

export async function runDaemon(
  options: FlanneldOptions,
  log: Log,
  outerSignal: AbortSignal,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<DaemonOutcome> {
  // Everything below stops when the caller aborts (SIGTERM) or the own lease is revoked.
  const stop = new AbortController();
  const signal = AbortSignal.any([outerSignal, stop.signal]);
  await using cleanup = new AsyncDisposableStack();
  // udp: this process is the data plane. Before anything else, forward again with the previous
  // run's table (backends/udp/resume.ts); the backend adopts that data plane once it knows its
  // options are the same. The module (and the addon) load only where the previous run saved one.
  const snapshotFile = snapshotFileBeside(options.subnetFile);
  const resumed = existsSync(snapshotFile) ? (await import("../backends/udp/resume.ts")).resumeDataPlane(snapshotFile, log.child({ backend: "udp" })) : undefined;
  cleanup.defer(() => resumed?.plane.close());
  const record = createOpsRecord({ leasesExpire: !options.kubeSubnetMgr });
  const readiness = createReadiness(record, {
    // Flannel renews --subnet-lease-renew-margin before expiry: half of it gone unrenewed is trouble.
    nearExpiryMs: (options.subnetLeaseRenewMargin * 60_000) / 2,
    peerWatch: options.kubeSubnetMgr ? "nodes" : "leases",
  });
  const resyncMs = options.iptablesResync * 1000;

  const previous = await readPreviousSubnetEnv(options.subnetFile);
  const manager = await openSubnetManager(options, { log, env, previous, signal, observer: record });
  cleanup.defer(() => manager.close());

  // prom-client is loaded only when the health port is on (and only then costs its memory).
  // `metrics.attachProbes(probes)` exports the peer probes once they run.
  let metricSources: MetricSources | undefined;
  let metrics: MetricsEndpoint | undefined;
  if (options.healthzPort > 0) {
    const { createMetrics } = await import("./ops/metrics.ts");
    metricSources = { record, readiness, datastore: options.kubeSubnetMgr ? "kube" : "etcd" };
    metrics = createMetrics(metricSources);
    const health = await startHealthServer(options.healthzIp, options.healthzPort, readiness, metrics);
    cleanup.defer(() => health.close());
    log.info("serving health endpoints", { address: `${options.healthzIp}:${health.port}` });
  }

  const conf = await manager.networkConfig(signal);
  const families = enabledFamilies(conf);
  const kernel = openKernel();
  cleanup.defer(() => kernel.close());
  if (!conf.enableNFTables) {
    // Flannel refuses to run without br_netfilter in iptables mode (pod traffic crossing cni0
    // would bypass the FORWARD rules).
    for (const family of families) {
      const leaf = family === 4 ? "bridge-nf-call-iptables" : "bridge-nf-call-ip6tables";
      if ((await readSysctl(kernel.runner, ["net", "bridge", leaf], signal)) === undefined) {
        throw new FlannelError("host-unsuitable", `Failed to check br_netfilter: /proc/sys/net/bridge/${leaf} does not exist (load the br_netfilter module)`, {
          details: { sysctl: `net/bridge/${leaf}` },
        });
      }
    }
  }

  // Kube mode: the node's node-public-ip[v6] annotations replace --public-ip[v6] (Flannel's
  // GetStoredPublicIP), and its backend-data keeps the VTEP MAC across restarts.
  const hints = await manager.nodeHints(signal);
  const publicIps = {
    ...(hints.publicIP === undefined ? {} : { publicIp: formatIp(hints.publicIP) }),
    ...(hints.publicIPv6 === undefined ? {} : { publicIpv6: formatIp(hints.publicIPv6) }),
  };
  if (Object.keys(publicIps).length > 0) log.info("public IP taken from the node's annotations", publicIps);
  const links = createLinkQuery(kernel.runner);
  const ext = await selectExternalInterface(
    { ...options, ...publicIps, enableIPv4: conf.ipv4.enabled, enableIPv6: conf.ipv6.enabled },
    links,
    { signal, log },
  );
  const backendLog = log.child({ backend: conf.backendType });
  const backend = createBackend(conf.backendType, { kernel, log: backendLog, udp: { snapshotFile, resumed } });
  cleanup.defer(() => backend.close());
  if (resumed !== undefined && backend.type !== "udp") {
    await resumed.plane.close();
    log.info(`the udp data plane resumed at start is closed: the backend is now ${backend.type}`);
  }
  const vtepMACs = {
    ...(hints.vtepMAC === undefined ? {} : { vtepMAC: hints.vtepMAC }),
    ...(hints.vtepMACv6 === undefined ? {} : { vtepMACv6: hints.vtepMACv6 }),
  };
  const prepared = await backend.prepare({ ...localNode(conf, ext, vtepMACs), txChecksumOffload: options.vxlanTxChecksumOffload }, signal);
  if (metricSources !== undefined && backend.txChecksumOffload !== undefined) metricSources.txChecksumOffload = backend.txChecksumOffload;

  const lease = await manager.acquire(leaseAttrs(conf, ext, prepared), signal);
  record.leaseAcquired(lease);
  const own = ownSubnets(lease);
  log.info("lease acquired", {
    subnet: lease.subnet === undefined ? undefined : formatCidr(lease.subnet),
    subnetV6: lease.subnetV6 === undefined ? undefined : formatCidr(lease.subnetV6),
    ...(lease.expiresAt === undefined ? { reservation: true } : { expiresAt: lease.expiresAt.toISOString() }),
  });
  await backend.configure(own, signal);

  const rules = await startRuleKeeper(
    {
      runner: kernel.runner,
      spawner: spawnCoprocess, // `nft monitor`: an idle resync reads no table (quiet-rules.ts)
      mode: conf.enableNFTables ? "nftables" : "iptables",
      families: ruleFamilies(conf, lease, previous),
      masquerade: options.ipMasq,
      forward: options.iptablesForwardRules,
      randomFullyDisable: options.ipMasqFullyRandomDisable,
      resyncMs,
      log: log.child({ component: "rules" }),
    },
    signal,
  );
  cleanup.defer(() => rules.close());
  if (metricSources !== undefined) metricSources.rules = () => rules.stats();

  if (options.ipBlackholeRoute) {
    // Flannel re-checks every --iptables-resync seconds; a failure is logged, never fatal.
    const subnets = [own.subnet, own.subnetV6].flatMap((subnet) => (subnet === undefined ? [] : [subnet]));
    // One round at a time: a slow kernel must not pile rounds up behind each other.
    const ensureBlackholes = async (): Promise<void> => {
      for (const subnet of subnets) {
        try {
          const outcome = await ensureBlackholeRoute(kernel.runner, subnet, signal);
          if (outcome === "added") log.info("blackhole route added", { subnet: formatCidr(subnet) });
        } catch (error) {
          if (signal.aborted) return;
          record.kernelError("blackhole", errorCode(error));
          log.warn("blackhole route failed", { subnet: formatCidr(subnet), error: String(error) });
        }
      }
    };
    const blackholes = repeatEvery(resyncMs, ensureBlackholes, signal, true);
    cleanup.defer(() => blackholes.stop());
  }

  await writeSubnetEnv(options.subnetFile, subnetEnvContent(conf, lease, prepared.mtu, options.ipMasq));
  record.subnetEnvWritten();
  log.info("wrote subnet.env", { file: options.subnetFile, mtu: prepared.mtu });
  // Kube: NetworkUnavailable=False. Failures are the manager's to log; it never blocks the start.
  const markingReady = manager.markNetworkReady(signal).catch((error: unknown) => log.warn("could not mark the node's network ready", { error: String(error) }));

  // Peers → data plane. Each lease event writes only its peer's entries (backend.apply); the full
  // reconcile (level-triggered: the whole set against what the kernel holds) runs at start, on
  // every snapshot, after a failed or undecidable apply, and — cheaply while nothing changed —
  // on every resync tick.
  const leaseSet = createLeaseSet(own, { onUnknownRemoval: (removed) => log.warn("removal of a lease that was never seen", { subnet: removed.subnet === undefined ? "" : formatCidr(removed.subnet) }) });
  const warned = new Set<string>();
  // The backend's peers, worked out again only when the lease set changed (leaseSet.peers() is
  // then a new array): a resync tick hands the backend the very array of the last run and
  // allocates nothing. Rebuilding 5000 peers every tick kept an idle agent's garbage collector busy.
  let backendPeers: { readonly from: readonly Lease[]; readonly peers: readonly Peer[] } | undefined;
  const currentPeers = (): readonly Peer[] => {
    const leases = leaseSet.peers();
    if (backendPeers?.from !== leases) backendPeers = { from: leases, peers: peersForBackend(leases, conf.backendType, log, warned) };
    return backendPeers.peers;
  };
  // The peers handed to the backend, by the backend's own rule (a udp node's peers write no BackendType).
  const peersKnown = (): number => currentPeers().length;
  if (metricSources !== undefined) {
    metricSources.dataPlane = {
      backend: conf.backendType,
      peersKnown,
      peersProgrammed: programmedPeersOf(backend) ?? (() => record.peersProgrammed),
      traffic: trafficCountersOf(backend),
    };
  }
  const loop = startReconcileLoop(
    {
      reconcile: (runSignal, depth) => backend.reconcile(currentPeers(), runSignal, depth),
      apply: (changes, runSignal) => backend.apply(changes, runSignal),
      // One period for every repair loop: Flannel's --iptables-resync (host-gw alone uses 10 s there).
      resyncMs,
      log: backendLog,
      onRun: (run) => record.reconcileRun(run, peersKnown()),
      onReport: (report, kind) => {
        if (kind !== "apply" && report.added + report.removed + report.repaired > 0) {
          backendLog.info("data plane reconciled", { added: report.added, removed: report.removed, repaired: report.repaired, peers: leaseSet.peers().length });
        }
        for (const error of report.errors) backendLog.error("data plane entry failed", { error: error.message });
      },
    },
    signal,
  );
  cleanup.defer(() => loop.stop());
  const monitor = startReadinessMonitor(
    { record, readiness, links, devices: expectedDevices(backend, conf), rules: () => rules.stats(), periodMs: resyncMs, log: log.child({ component: "readiness" }) },
    signal,
  );
  cleanup.defer(() => monitor.close());
  await startProbes();

  /** Peer reachability probes (agent/ops/probes/, loaded only when on); a failure to start them is not fatal. */
  async function startProbes(): Promise<void> {
    if (options.peerProbeInterval <= 0) return;
    try {
      const { startPeerProbes } = await import("./ops/probes/start.ts");
      const probes = await startPeerProbes(
        {
          backend: backend.type,
          intervalMs: options.peerProbeInterval,
          unreachableAfterMs: options.peerProbeUnreachableAfter,
          log: log.child({ component: "probes" }),
          peers: currentPeers,
        },
        signal,
      );
      cleanup.defer(() => probes.close());
      metrics?.attachProbes(probes);
    } catch (error) {
      log.warn("peer probes are off", { error: error instanceof Error ? error.message : String(error) });
    }
  }

  const peerChangeLog = createPeerChangeLog(log);
  const watching = (async () => {
    for await (const batch of manager.watchLeases(signal)) {
      const changes = leaseSet.apply(batch);
      peerChangeLog.record(changes);
      // A snapshot (the first list, a re-list) is the store's whole truth: reconcile against it.
      if (batch.some((event) => event.kind === "snapshot")) loop.trigger();
      else loop.submit(peerChangesForBackend(changes, conf.backendType, log, warned));
    }
  })();

  const outcome = await Promise.race([manager.lost.then(() => "lease-revoked" as const), watching.then(() => "stopped" as const)]);
  if (outcome === "lease-revoked") record.leaseLost();
  stop.abort();
  await Promise.allSettled([watching, markingReady]);
  peerChangeLog.close();
  log.info(outcome === "lease-revoked" ? "shutting down: the lease was revoked" : "shutting down; the data plane stays in place");
  // Flannel exits 0 when its lease is revoked: the shutdown is orderly, and its supervisor
  // (a DaemonSet, or systemd with Restart=always) starts it again to acquire a new lease.
  return { exitCode: 0, reason: outcome };
}
