// `npm run bench -- udp`: pod → pod TCP throughput through our udp backend against kernel vxlan,
// the userspace tunnels from Debian and Flannel's one-packet-per-syscall design, in one run
// (udp-configs.ts sets them up side by side; ours also with Backend.Queues 2). iperf3 (iperf.ts), 1 stream and -P 4,
// BENCH_REPS × BENCH_SECONDS (default 7 × 10 s); every rep runs every configuration at both
// stream counts back to back, the starting configuration rotating from rep to rep. Reported per
// configuration: median Gbit/s, min–max and spread, retransmits, CPU per Gbit/s (cpu-time.ts);
// then ours against kernel vxlan (target ≥ 0.8 single stream), the best userspace peer (≥ 3) and
// the floor (≥ 10), as ratios of medians and per rep; then, for one stream of ours, the ceilings
// this machine's CPU allows (describeCeilings). Nothing is asserted.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { cleanup, interrupted, onCleanup } from "./cleanup.ts";
import { diffWithFlannel } from "./flannel-rules.ts";
import { iperfOnce } from "./iperf.ts";
import { round, writeResults } from "./stats.ts";
import { describeRatio, ratio, summarizeSeries, type Outcome, type SeriesSummary } from "./throughput-series.ts";
import { describeSettings, throughputSettings } from "./throughput-settings.ts";
import { checkCarries, setupFloor, setupOurs, setupPeer, setupVxlan, type Config, type ConfigKey } from "./udp-configs.ts";
import { ensurePeerPackages, peerKinds } from "./userspace-peers.ts";

const out = (text: string): void => void process.stdout.write(`${text}\n`);
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const cpuMethod =
  "CPU: 'data plane' = utime+stime of the data-plane processes on both nodes (flanneld for ours, the tunnel daemons, the floor loop; " +
  "none for kernel vxlan, whose work runs in softirq) from /proc/PID/stat; 'machine' = busy time of the whole VM from /proc/stat " +
  "(user+nice+system+irq+softirq, steal excluded) — iperf3 on both ends, veth/bridge forwarding, encapsulation, everything. " +
  "Both are read just before and after each iperf3 client run and given in cores (of 2); 'per Gbit/s' = cores / Gbit/s of that run, median over reps.";
const mtuNote =
  "Pod MTU is each configuration's own: udp (ours and the floor) 1500 − 28 = 1472 as Flannel's udp backend sets it; kernel vxlan 1450; " +
  "openvpn, fastd and tinc 1450, the set-up testbed.md measured (not tuned further here; 1.5 % less payload per packet than 1472).";

// What this machine allows ours on one stream, from its own CPU figures (throughput-series.ts):
// the ceiling if the data plane's own code cost nothing, and the one with a core per thread.
function describeCeilings(ours: readonly Outcome[], vxlan: readonly Outcome[]): Record<string, number | null> {
  const s = summarizeSeries(ours);
  const kernel = summarizeSeries(vxlan).medianGbps;
  const of = (gbps: number | null): number | null => (gbps === null || !(kernel > 0) ? null : round(gbps / kernel, 3));
  const fmt = (value: number | null): string => (value === null ? "–" : value.toFixed(2));
  out("\n  ours, 1 stream: what this machine allows (median over reps; CPU from /proc, cpu-time.ts)");
  out(`    data plane ${fmt(s.processCores)} cores, of which its own code (utime) ${fmt(s.processUserCores)}; the rest is the kernel's work on its behalf`);
  out(`    if that own code cost nothing and all ${availableParallelism()} cores were busy: ${fmt(s.zeroUserCostCeilingGbps)} Gbit/s = ${fmt(of(s.zeroUserCostCeilingGbps))}× kernel vxlan`);
  out(`    with a core for each data-plane thread (larger machines; not measurable here): ${fmt(s.threadPerCoreCeilingGbps)} Gbit/s = ${fmt(of(s.threadPerCoreCeilingGbps))}× kernel vxlan`);
  return {
    dataPlaneCores: s.processCores,
    dataPlaneUserCores: s.processUserCores,
    zeroUserCostCeilingGbps: s.zeroUserCostCeilingGbps,
    zeroUserCostCeilingVsKernelVxlan: of(s.zeroUserCostCeilingGbps),
    threadPerCoreCeilingGbps: s.threadPerCoreCeilingGbps,
    threadPerCoreCeilingVsKernelVxlan: of(s.threadPerCoreCeilingGbps),
  };
}

try {
  const settings = throughputSettings();
  out(`udp: ${describeSettings(settings)}`);
  const tag = randomBytes(2).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), "flannel-ts-bench-udp-"));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const installedPackages = await ensurePeerPackages(peerKinds, out);

  const configs: Config[] = [];
  const unavailable: Partial<Record<ConfigKey, string>> = {};
  const notes: Record<string, unknown> = {};
  const attempt = async (key: ConfigKey, setup: () => Promise<Config>): Promise<void> => {
    try {
      const config = await setup();
      await checkCarries(config);
      configs.push(config);
      out(`  ${config.label.padEnd(24)} ${config.endpoints.srcPod} → ${config.endpoints.dstIp} via ${config.device}, pod MTU ${config.podMtu}: carries traffic`);
    } catch (error) {
      if (interrupted.aborted) throw error;
      unavailable[key] = message(error);
      out(`  ${key.padEnd(24)} NOT AVAILABLE: ${message(error)}`);
    }
  };
  out("setting up (every configuration must route through its device and pass a ping before it is measured):");
  await attempt("ours", async () => {
    const { config, lab } = await setupOurs(`ud${tag}-udp`, interrupted);
    const diffs = await Promise.all(lab.nodes.map(async (node) => [node.name, await diffWithFlannel(node.ns, lab.options.network, node.subnet() ?? "")] as const));
    notes.agentRulesVsFlannel = Object.fromEntries(diffs);
    const differing = diffs.flatMap(([node, diff]) => [...diff.missing.map((r) => `${node} lacks ${r}`), ...diff.extra.map((r) => `${node} extra ${r}`)]);
    out(`  ours: agent's netfilter rules ${differing.length === 0 ? "identical to Flannel's (§8.1 + §8.2)" : `differ from Flannel's:\n    ${differing.join("\n    ")}`}`);
    return config;
  });
  // Backend.Queues 2: reported beside ours, against no target (a multi-queue flannel0 is for
  // nodes with cores to spare; these have 2).
  await attempt("ours-q2", async () => (await setupOurs(`ud${tag}-uq`, interrupted, 2)).config);
  await attempt("vxlan", () => setupVxlan(`ud${tag}-vx`));
  for (const kind of peerKinds) await attempt(kind, () => setupPeer(kind, `ud${tag}-${kind.slice(0, 4)}`, dir));
  await attempt("floor", () => setupFloor(`ud${tag}-fl`, dir));
  if (configs.length === 0) throw new Error("no configuration could be set up");

  const outcomes = new Map<string, Outcome[]>();
  const record = (key: string, outcome: Outcome): void => void outcomes.set(key, [...(outcomes.get(key) ?? []), outcome]);
  for (let rep = 0; rep < settings.reps; rep++) {
    const order = configs.map((_, i) => configs[(i + rep) % configs.length]!);
    for (const streams of [1, 4]) {
      for (const config of order) {
        const label = `  rep ${rep + 1} P${streams} ${config.label.padEnd(24)}`;
        interrupted.throwIfAborted();
        try {
          const sample = await iperfOnce(config.endpoints, { streams, seconds: settings.seconds, cpuPids: config.dataPlanePids() });
          record(`${config.key}|${streams}`, sample);
          const dataPlane =
            sample.cpu.processCores === undefined
              ? ""
              : `, data plane ${sample.cpu.processCores.toFixed(2)} cores (user ${sample.cpu.processUserCores?.toFixed(2)}, busiest thread ${sample.cpu.busiestThreadCores?.toFixed(2)})`;
          out(`${label}: ${sample.gbps.toFixed(2).padStart(6)} Gbit/s (retr ${sample.retransmits}, machine ${sample.cpu.machineCores.toFixed(2)} cores${dataPlane})`);
        } catch (error) {
          record(`${config.key}|${streams}`, { failed: message(error) });
          out(`${label}: FAILED ${message(error)}`);
        }
      }
    }
  }

  out(`\nudp: median of ${describeSettings(settings)}.\n${cpuMethod}\n${mtuNote}`);
  const summaries: Record<string, Record<string, unknown>> = {};
  const fmt = (value: number | null, digits = 2): string => (value === null || Number.isNaN(value) ? "–" : value.toFixed(digits));
  for (const streams of [1, 4]) {
    out(`\n  ${streams === 1 ? "1 stream" : "-P 4"}   ${"median".padStart(7)} ${"min–max".padStart(13)} spread  retr  data-plane cores (per Gbit/s)  machine cores (per Gbit/s)  MTU`);
    for (const config of configs) {
      const list = outcomes.get(`${config.key}|${streams}`) ?? [];
      const s: SeriesSummary = summarizeSeries(list);
      out(
        `  ${config.label.padEnd(24)} ${fmt(s.medianGbps).padStart(6)} ${`${fmt(s.minGbps)}–${fmt(s.maxGbps)}`.padStart(13)} ${`${s.spreadPercent}%`.padStart(6)} ${fmt(s.medianRetransmits, 0).padStart(5)}` +
          `  ${`${fmt(s.processCores)} (${fmt(s.processCoresPerGbps, 3)})`.padStart(28)}  ${`${fmt(s.machineCores)} (${fmt(s.machineCoresPerGbps, 3)})`.padStart(26)}  ${config.podMtu}` +
          (s.failures.length > 0 ? `  ${s.failures.length} FAILED: ${s.failures[0]}` : ""),
      );
      (summaries[config.key] ??= { label: config.label, podMtu: config.podMtu })[streams === 1 ? "oneStream" : "fourStreams"] = s;
    }
  }

  const comparisons: Record<string, unknown>[] = [];
  const ours = configs.find((config) => config.key === "ours");
  if (ours !== undefined) {
    out("\n  ours against (ratio of medians; per rep: median, min–max):");
    for (const streams of [1, 4]) {
      const series = (key: ConfigKey): Outcome[] => outcomes.get(`${key}|${streams}`) ?? [];
      const peers = configs.filter((config) => (peerKinds as readonly string[]).includes(config.key));
      const best = peers.toSorted((a, b) => summarizeSeries(series(b.key)).medianGbps - summarizeSeries(series(a.key)).medianGbps)[0];
      const against = [
        { what: "kernel vxlan", key: "vxlan" as ConfigKey, target: streams === 1 ? 0.8 : undefined },
        ...(best === undefined ? [] : [{ what: `best userspace peer (${best.key})`, key: best.key, target: 3 }]),
        { what: "floor (1 pkt/syscall)", key: "floor" as ConfigKey, target: 10 },
      ];
      for (const { what, key, target } of against) {
        if (!configs.some((config) => config.key === key)) {
          out(`    ${streams === 1 ? "1 stream" : "-P 4    "} vs ${what}: not measured (${unavailable[key] ?? "unavailable"})`);
          continue;
        }
        const r = ratio(series("ours"), series(key));
        const verdict = target === undefined ? "(no target)" : r.ofMedians >= target ? `target ≥ ${target}: met` : `target ≥ ${target}: MISSED`;
        out(`    ${streams === 1 ? "1 stream" : "-P 4    "} vs ${what.padEnd(30)} ${describeRatio(r)}  ${verdict}`);
        comparisons.push({ streams, against: key, what, ratio: r, target: target ?? null, met: target === undefined ? null : r.ofMedians >= target });
      }
    }
  }
  const ceilings = ours === undefined ? undefined : describeCeilings(outcomes.get("ours|1") ?? [], outcomes.get("vxlan|1") ?? []);
  const exitCounters: Record<string, string> = {};
  for (const config of configs) if (config.finish !== undefined) exitCounters[config.key] = await config.finish();
  if (exitCounters.floor !== undefined) out(`\n  floor counters at exit: ${exitCounters.floor}`);

  const path = writeResults("udp", {
    method: `iperf3 -t ${settings.seconds} -J, 1 stream and -P 4, ${settings.reps} reps; every rep runs every configuration at both stream counts, starting configuration rotating; Gbit/s = end.sum_received; ratios of medians and per rep. ${cpuMethod} ${mtuNote}`,
    trialRun: !settings.full,
    reps: settings.reps,
    seconds: settings.seconds,
    installedDebianPackages: installedPackages,
    unavailable,
    configurations: summaries,
    comparisons,
    ceilings,
    exitCounters,
    ...notes,
    headline: comparisons.map((c) => ({ streams: c.streams, against: c.against, ratio: round((c.ratio as { ofMedians: number }).ofMedians, 3) })),
  });
  out(`results: ${path}`);
} catch (error) {
  if (interrupted.aborted) process.stderr.write("interrupted: cleaning up\n");
  else process.stderr.write(`udp bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
